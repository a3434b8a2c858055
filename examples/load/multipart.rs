//! `--scenario multipart-put`: objects uploaded in parts, the way a client sends a large file
//! — S3's CreateMultipartUpload, UploadPart, CompleteMultipartUpload (`--target s3`, any S3
//! endpoint, Stowage's S3 API included), or Stowage's part-wise upload API (`POST
//! …/file/upload/parts`, a PUT per part URL, `POST …/file/upload/complete`). Measured per
//! object from the first request to the answer of the completion, which is also timed alone
//! (`complete_ms`): that is where a server that copies the parts into one blob spends its
//! time. One object after the other; an object's parts go over `--connections` connections.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use http::Method;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::body::ReqBody;
use crate::conn::{request_for_url, Conn};
use crate::report::{CpuWatch, Report, Tally};
use crate::target::Ctx;
use crate::{read_peaks, reset_peaks, Args, Target, MIB};

/// Objects of this scenario are numbered apart from any other scenario's in a run.
const FIRST_IDX: u64 = 1 << 42;
/// S3's smallest part (all but the last).
const MIN_PART: u64 = 5 * MIB;

/// One part: its number, where it starts, its length, and where it goes.
struct Part {
    number: u64,
    offset: u64,
    len: u64,
    url: String,
}

pub async fn run(args: &Args, ctx: Arc<Ctx>) -> Result<Report, String> {
    let size = args.size();
    let part_size = args.part_size;
    if part_size < MIN_PART || part_size % MIB != 0 {
        return Err(format!(
            "--part-size must be a whole number of MiB, at least 5 MiB; got {part_size}"
        ));
    }
    let count = args.count.unwrap_or(1).max(1);
    let n = args.connections;

    // Stowage declares each file's SHA-256 up front: computed before the timed phase.
    let mut digests = Vec::new();
    if ctx.target == Target::Stowage {
        eprintln!("hashing {count} object(s) of {size} bytes…");
        for i in 0..count {
            let gen = ctx.gen.clone();
            let sha = tokio::task::spawn_blocking(move || gen.sha256(FIRST_IDX + i, size))
                .await
                .map_err(|e| format!("hashing task failed: {e}"))?;
            digests.push(sha);
        }
    }

    let start_rss = reset_peaks(&args.server_pid);
    let cpu = CpuWatch::start(&args.watch)?;
    let mut tally = Tally::default();
    let mut completes_ms = Vec::new();
    let mut parts_count = 0;
    let started = Instant::now();
    for i in 0..count {
        let idx = FIRST_IDX + i;
        let op = Instant::now();
        let result = match ctx.target {
            Target::S3 => s3_object(&ctx, n, idx, size, part_size).await,
            Target::Stowage => {
                stowage_object(&ctx, n, idx, size, part_size, digests[i as usize]).await
            }
        };
        match result {
            Ok((parts, complete_ms)) => {
                tally.ok(op, size);
                completes_ms.push(complete_ms);
                parts_count = parts;
            }
            Err(e) => {
                tally.errors += 1;
                ctx.errors.record(e);
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let mut extra = Map::new();
    cpu.finish(&mut extra);
    extra.insert("part_size".into(), json!(part_size));
    extra.insert("parts".into(), json!(parts_count));
    if !completes_ms.is_empty() {
        let mean = completes_ms.iter().sum::<f64>() / completes_ms.len() as f64;
        extra.insert("complete_ms".into(), json!(crate::report::round3(mean)));
    }
    Ok(Report {
        scenario: args.scenario,
        target: Some(args.target),
        tally,
        secs,
        connections: n,
        size,
        peak_rss_kib: read_peaks(&args.server_pid),
        start_rss_kib: start_rss,
        note: Some(format!(
            "{parts_count} parts of {part_size} bytes over {n} connection(s); complete_ms is the \
             completion's own time"
        )),
        errors_shown: ctx.errors.take(),
        extra,
    })
}

/// The parts of an object of `size` bytes, with the URL `url(number)` gives each.
fn plan_parts(
    size: u64,
    part_size: u64,
    mut url: impl FnMut(u64) -> Result<String, String>,
) -> Result<Vec<Part>, String> {
    let count = size.div_ceil(part_size).max(1);
    (1..=count)
        .map(|number| {
            let offset = (number - 1) * part_size;
            Ok(Part {
                number,
                offset,
                len: part_size.min(size - offset),
                url: url(number)?,
            })
        })
        .collect()
}

/// PUTs every part of object `idx` over `n` connections (connection `j` to endpoint `j mod
/// k`); the ETag of each, in part order.
async fn send_parts(
    ctx: &Arc<Ctx>,
    n: usize,
    idx: u64,
    parts: Vec<Part>,
) -> Result<Vec<String>, String> {
    let parts = Arc::new(parts);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for j in 0..n.min(parts.len()).max(1) {
        let (ctx, parts, next) = (ctx.clone(), parts.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = ctx.conn(j);
            let mut etags = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(p) = parts.get(i) else {
                    return Ok::<_, String>(etags);
                };
                let body = ReqBody::Gen(ctx.gen.range(idx, p.offset, p.len));
                let req = request_for_url(Method::PUT, &p.url, &[], body)?;
                let ans = conn.call(req, false).await?;
                if !ans.status.is_success() {
                    return Err(ans.describe(&format!("part {}", p.number)));
                }
                etags.push((i, ans.etag.unwrap_or_default()));
            }
        }));
    }
    let mut all = Vec::with_capacity(parts.len());
    for t in tasks {
        all.extend(t.await.map_err(|e| format!("a part task failed: {e}"))??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, etag)| etag).collect())
}

/// S3: create, parts, complete. `(parts, complete_ms)`.
async fn s3_object(
    ctx: &Arc<Ctx>,
    n: usize,
    idx: u64,
    size: u64,
    part_size: u64,
) -> Result<(usize, f64), String> {
    let key = format!("obj-{:016x}-{idx}", ctx.gen.nonce);
    let mut conn = ctx.conn(0);
    let url = ctx.s3_url_query("POST", &key, &[("uploads", "")])?;
    let ans = conn
        .call(
            request_for_url(Method::POST, &url, &[], ReqBody::empty())?,
            true,
        )
        .await?;
    if !ans.status.is_success() {
        return Err(ans.describe("CreateMultipartUpload"));
    }
    let text = String::from_utf8_lossy(&ans.kept);
    let upload_id = xml_value(&text, "UploadId")
        .ok_or_else(|| format!("CreateMultipartUpload answered without an UploadId: {text}"))?;
    let parts = plan_parts(size, part_size, |number| {
        ctx.s3_url_query(
            "PUT",
            &key,
            &[
                ("partNumber", &number.to_string()),
                ("uploadId", &upload_id),
            ],
        )
    })?;
    let count = parts.len();
    let etags = send_parts(ctx, n, idx, parts).await?;
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (i, etag) in etags.iter().enumerate() {
        xml.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{etag}</ETag></Part>",
            i + 1
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    let url = ctx.s3_url_query("POST", &key, &[("uploadId", &upload_id)])?;
    let complete = Instant::now();
    let body = ReqBody::Full(Some(Bytes::from(xml)));
    let ans = conn
        .call(request_for_url(Method::POST, &url, &[], body)?, true)
        .await?;
    let ms = complete.elapsed().as_secs_f64() * 1000.0;
    // S3 may answer 200 and put the error in the body (the completion of a large upload
    // outlasts the first byte of its answer).
    let text = String::from_utf8_lossy(&ans.kept);
    if !ans.status.is_success() || text.contains("<Error>") {
        return Err(ans.describe("CompleteMultipartUpload"));
    }
    Ok((count, ms))
}

/// Stowage's upload API: declare the file in parts, PUT them, complete. `(parts,
/// complete_ms)`.
async fn stowage_object(
    ctx: &Arc<Ctx>,
    n: usize,
    idx: u64,
    size: u64,
    part_size: u64,
    sha: [u8; 32],
) -> Result<(usize, f64), String> {
    let id = Uuid::new_v4();
    let mut conn: Conn = ctx.conn(0);
    let body = json!({
        "id": id.to_string(),
        "contentType": ctx.content_type,
        "hash": base64::engine::general_purpose::STANDARD.encode(sha),
        "fileName": format!("bench-{id}.bin"),
        "size": size,
        "partSize": part_size,
    });
    let ans = ctx
        .api_post("/file/upload/parts", body.to_string(), &mut conn)
        .await?;
    if ans.status.as_u16() != 201 {
        return Err(ans.describe("POST …/file/upload/parts"));
    }
    let v: Value = serde_json::from_slice(&ans.kept)
        .map_err(|e| format!("the part list is not JSON (or longer than kept): {e}"))?;
    let listed = v["data"]["parts"]
        .as_array()
        .ok_or_else(|| "the answer has no data.parts".to_owned())?;
    let parts: Vec<Part> = listed
        .iter()
        .map(|p| {
            Some(Part {
                number: p["partNumber"].as_u64()?,
                offset: p["offset"].as_u64()?,
                len: p["size"].as_u64()?,
                url: p["url"].as_str()?.to_owned(),
            })
        })
        .collect::<Option<_>>()
        .ok_or_else(|| "a listed part lacks partNumber, offset, size or url".to_owned())?;
    if parts.iter().any(|p| p.offset % MIB != 0) {
        return Err("the server planned a part that does not start at a whole MiB".into());
    }
    let count = parts.len();
    send_parts(ctx, n, idx, parts).await?;
    let complete = Instant::now();
    ctx.stowage_complete(&mut conn, id).await?;
    Ok((count, complete.elapsed().as_secs_f64() * 1000.0))
}

/// The text of the first `<name>…</name>` in `xml`.
fn xml_value(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].to_owned())
}
