//! Results: each worker's tally, the report (a human line on stderr, one JSON line on stdout),
//! the first few errors, and the server's memory read from `/proc`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::{Scenario, Target};

/// How many error descriptions are kept and printed.
pub const MAX_ERRORS_SHOWN: usize = 5;

#[derive(Default)]
pub struct Tally {
    pub ops: u64,
    pub bytes: u64,
    pub errors: u64,
    /// Latency of each successful operation, microseconds.
    pub lat_us: Vec<u32>,
}

impl Tally {
    pub fn ok(&mut self, started: Instant, bytes: u64) {
        self.ops += 1;
        self.bytes += bytes;
        let us = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
        self.lat_us.push(us);
    }
    pub fn merge(&mut self, other: Tally) {
        self.ops += other.ops;
        self.bytes += other.bytes;
        self.errors += other.errors;
        self.lat_us.extend(other.lat_us);
    }
}

pub struct Report {
    pub scenario: Scenario,
    pub target: Option<Target>,
    pub tally: Tally,
    pub secs: f64,
    pub connections: usize,
    pub size: u64,
    pub peak_rss_kib: Option<u64>,
    pub start_rss_kib: Option<u64>,
    pub note: Option<String>,
    pub errors_shown: Vec<String>,
    /// Scenario-specific fields added to the JSON line.
    pub extra: Map<String, Value>,
}

impl Report {
    pub fn print(mut self) {
        self.tally.lat_us.sort_unstable();
        let pct = |p: usize| -> Option<f64> {
            let v = &self.tally.lat_us;
            if v.is_empty() {
                return None;
            }
            let i = ((v.len() - 1) * p).div_ceil(100);
            Some(v[i.min(v.len() - 1)] as f64 / 1000.0)
        };
        let secs = self.secs.max(1e-9);
        let ops_per_sec = self.tally.ops as f64 / secs;
        let mb_per_sec = self.tally.bytes as f64 / secs / 1e6;
        let (p50, p99) = (pct(50), pct(99));
        for e in &self.errors_shown {
            eprintln!("  error: {e}");
        }
        eprintln!(
            "{} {}: {} ops in {:.2} s = {:.1} ops/s, {:.1} MB/s, p50 {} ms, p99 {} ms, {} errors, \
             {} connections{}{}",
            self.scenario.name(),
            self.target.map_or("local", |t| match t {
                Target::Stowage => "stowage",
                Target::S3 => "s3",
            }),
            self.tally.ops,
            secs,
            ops_per_sec,
            mb_per_sec,
            p50.map_or("-".into(), |v| format!("{v:.3}")),
            p99.map_or("-".into(), |v| format!("{v:.3}")),
            self.tally.errors,
            self.connections,
            self.peak_rss_kib
                .map_or(String::new(), |k| format!(", server peak RSS {k} KiB")),
            self.note
                .as_ref()
                .map_or(String::new(), |n| format!(" ({n})")),
        );
        let mut line = json!({
            "scenario": self.scenario.name(),
            "target": self.target.map_or("local", |t| match t {
                Target::Stowage => "stowage",
                Target::S3 => "s3",
            }),
            "ops": self.tally.ops,
            "bytes": self.tally.bytes,
            "secs": round3(secs),
            "ops_per_sec": round3(ops_per_sec),
            "mb_per_sec": round3(mb_per_sec),
            "p50_ms": p50.map(round3),
            "p99_ms": p99.map(round3),
            "errors": self.tally.errors,
            "peak_rss_kib": self.peak_rss_kib,
            "start_rss_kib": self.start_rss_kib,
            "connections": self.connections,
            "size": self.size,
            "note": self.note,
        });
        if let Value::Object(fields) = &mut line {
            fields.extend(std::mem::take(&mut self.extra));
        }
        println!("{line}");
    }
}

pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// First few error descriptions, shared by all workers.
#[derive(Clone, Default)]
pub struct Errors(Arc<Mutex<Vec<String>>>);

impl Errors {
    pub fn record(&self, what: String) {
        if let Ok(mut v) = self.0.lock() {
            if v.len() < MAX_ERRORS_SHOWN {
                v.push(what);
            }
        }
    }
    pub fn take(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// Server memory

pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Resets the peak-RSS counter (`VmHWM`) of `pid` to its current RSS (Linux ≥ 4.0).
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

// ---------------------------------------------------------------------------------------------
// CPU time during the timed phase

/// CPU seconds spent by watched process groups (`--watch NAME=PID,…`: each pid with its
/// children, e.g. PostgreSQL's postmaster and its backends), by the driver itself, and by the
/// whole machine, between `start` and `finish` — so a table can say which process the cores
/// went to while the numbers were measured, and how much went to other tenants of the box.
/// Reads `/proc` in USER_HZ ticks (100 per second on Linux).
pub struct CpuWatch {
    groups: Vec<(String, Vec<u32>)>,
    start: Vec<u64>,
    driver: u64,
    busy: u64,
    at: Instant,
}

const USER_HZ: f64 = 100.0;

/// `(ppid, own ticks, ticks of its reaped children)` of a `/proc/PID/stat` text.
fn stat_ticks(text: &str) -> Option<(u32, u64, u64)> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    // After the name: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
    Some((n(1)? as u32, n(11)? + n(12)?, n(13)? + n(14)?))
}

/// Ticks of every live process: pid → (ppid, own, reaped children's).
fn all_ticks() -> std::collections::HashMap<u32, (u32, u64, u64)> {
    let mut out = std::collections::HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Some(t) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .as_deref()
            .and_then(stat_ticks)
        {
            out.insert(pid, t);
        }
    }
    out
}

/// Busy ticks of the whole machine (all but idle and iowait) from `/proc/stat`.
fn machine_busy() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| v.get(i)).sum()
}

impl CpuWatch {
    /// `specs`: `NAME=PID[,PID…]`.
    pub fn start(specs: &[String]) -> Result<Self, String> {
        let mut groups = Vec::new();
        for s in specs {
            let (name, pids) = s
                .split_once('=')
                .ok_or_else(|| format!("--watch wants NAME=PID[,PID…], got {s}"))?;
            let pids = pids
                .split(',')
                .filter(|p| !p.is_empty())
                .map(|p| p.parse::<u32>().map_err(|e| format!("--watch {s}: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            groups.push((name.to_owned(), pids));
        }
        let mut w = CpuWatch {
            groups,
            start: Vec::new(),
            driver: 0,
            busy: 0,
            at: Instant::now(),
        };
        w.start = w.sample();
        w.driver = Self::own();
        w.busy = machine_busy();
        w.at = Instant::now();
        Ok(w)
    }

    fn own() -> u64 {
        std::fs::read_to_string("/proc/self/stat")
            .ok()
            .as_deref()
            .and_then(stat_ticks)
            .map_or(0, |(_, own, _)| own)
    }

    /// Each group's ticks: its processes' own and reaped children's, and their live children's.
    fn sample(&self) -> Vec<u64> {
        if self.groups.is_empty() {
            return Vec::new();
        }
        let all = all_ticks();
        self.groups
            .iter()
            .map(|(_, pids)| {
                pids.iter()
                    .map(|p| {
                        let root = all.get(p).map_or(0, |&(_, own, reaped)| own + reaped);
                        let kids: u64 = all
                            .values()
                            .filter(|(ppid, _, _)| ppid == p)
                            .map(|&(_, own, _)| own)
                            .sum();
                        root + kids
                    })
                    .sum()
            })
            .collect()
    }

    /// `cpu_wall_s`, `cpu_<group>_s`, `cpu_driver_s`, `cpu_busy_s` (the machine's) since start.
    pub fn finish(&self, extra: &mut Map<String, Value>) {
        let wall = self.at.elapsed().as_secs_f64();
        let end = self.sample();
        let secs = |t: u64| round3(t as f64 / USER_HZ);
        extra.insert("cpu_wall_s".into(), json!(round3(wall)));
        for (((name, _), a), b) in self.groups.iter().zip(&self.start).zip(&end) {
            extra.insert(format!("cpu_{name}_s"), json!(secs(b.saturating_sub(*a))));
        }
        extra.insert(
            "cpu_driver_s".into(),
            json!(secs(Self::own().saturating_sub(self.driver))),
        );
        extra.insert(
            "cpu_busy_s".into(),
            json!(secs(machine_busy().saturating_sub(self.busy))),
        );
    }
}
