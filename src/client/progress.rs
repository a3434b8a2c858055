//! What the person running the client sees: on a terminal, a bar per file
//! in flight and one overall (indicatif, on stderr); otherwise (a pipe, a
//! log, a test) plain lines on stdout, one per event, nothing redrawn.
//!
//! Never shows a token or a URL's query.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The screen of one command run.
pub struct Progress {
    /// `None` when not on a terminal: plain lines instead.
    multi: Option<MultiProgress>,
    overall: ProgressBar,
}

impl Progress {
    /// Bars if stderr is a terminal, plain lines otherwise.
    pub fn new(total_bytes: u64) -> Progress {
        let fancy = std::io::IsTerminal::is_terminal(&std::io::stderr());
        if !fancy {
            return Progress {
                multi: None,
                overall: ProgressBar::hidden(),
            };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
        let overall = multi.add(ProgressBar::new(total_bytes));
        overall.set_style(
            ProgressStyle::with_template(
                "{prefix:>12.bold} [{bar:30}] {binary_bytes}/{binary_total_bytes} \
                 {binary_bytes_per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        overall.set_prefix("total");
        overall.enable_steady_tick(Duration::from_millis(250));
        Progress {
            multi: Some(multi),
            overall,
        }
    }

    /// A line for the record: above the bars, or on stdout.
    pub fn say(&self, line: impl AsRef<str>) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(line.as_ref());
            }
            None => out(line.as_ref()),
        }
    }

    /// A bar for one file of `len` bytes (hidden without a terminal).
    pub fn file(&self, name: &str, len: u64) -> FileBar {
        let Some(m) = &self.multi else {
            return FileBar {
                bar: ProgressBar::hidden(),
            };
        };
        let bar = m.insert_before(&self.overall, ProgressBar::new(len));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>12} [{bar:30}] {binary_bytes}/{binary_total_bytes} \
                 {binary_bytes_per_sec} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(short(name, 12));
        FileBar { bar }
    }

    /// Bytes sent (or, negative, taken back after a failed try).
    pub fn overall(&self) -> ProgressBar {
        self.overall.clone()
    }

    /// Takes the bars off the screen.
    pub fn finish(&self) {
        self.overall.finish_and_clear();
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
    }
}

/// A line on stdout. Not `println!`: with stdout closed (`| head`) that
/// panics; a lost line of output must not stop an upload.
pub fn out(line: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// One file's bar.
pub struct FileBar {
    bar: ProgressBar,
}

impl FileBar {
    /// What the file is going through: "hashing", "sending", …
    pub fn stage(&self, what: &'static str) {
        self.bar.set_message(what);
    }

    pub fn set_position(&self, n: u64) {
        self.bar.set_position(n);
    }

    /// A clone to move into a body stream.
    pub fn handle(&self) -> ProgressBar {
        self.bar.clone()
    }
}

impl Drop for FileBar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// The end of `name`, at most `n` characters (`…` marks a cut).
fn short(name: &str, n: usize) -> String {
    let count = name.chars().count();
    if count <= n {
        return name.to_string();
    }
    let tail: String = name.chars().skip(count - (n - 1)).collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_names_keep_their_end() {
        assert_eq!(super::short("a.jpg", 12), "a.jpg");
        assert_eq!(super::short("IMG_20261126_123456.jpg", 12), "…_123456.jpg");
    }
}
