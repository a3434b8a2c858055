//! `stowage upload PATH…`: files and folders to the gateway, through the
//! same API any app uses.
//!
//! For each file: its SHA-256 and MIME type (by extension), an id derived
//! from the content, size and name (so running the command again finds the
//! files already sent, and a large file's unfinished upload), then either
//! presign → PUT → complete, or — above `parts_above` — the part-wise
//! upload: ask for the parts, send those the server does not hold (the
//! server reports each part it has by SHA-256, compared with this file's;
//! each part sent carries its `Content-MD5`, checked on arrival), complete.
//! A 200 from presign means the server has these bytes: nothing is sent.
//!
//! Never holds a file in memory; never prints a token or a signed URL.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::http::{Answer, FileRange, Http};
use super::progress::{FileBar, Progress};
use super::{human, ClientError, Target};

/// The namespace of the ids the client derives (UUID v5): the same file
/// (content, size, name) always gets the same id.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6a0e_3f4c_9d2b_4b8e_a1c7_5e2f_8d31_0b94);

/// How long a JSON call may take before it counts as lost. Completing a
/// large part-wise upload copies the whole file on the server.
const API_LIMIT: Duration = Duration::from_secs(120);
const COMPLETE_LIMIT: Duration = Duration::from_secs(3600);
/// Fresh starts (new URLs, new part list) before a file is given up.
const ROUNDS: usize = 5;
/// S3's most parts in one upload.
const MAX_PARTS: u64 = 10_000;

/// How to upload.
#[derive(Clone, Debug)]
pub struct Options {
    /// Files in flight at once.
    pub jobs: usize,
    /// Files larger than this go in parts (and resume).
    pub parts_above: u64,
    /// Size of each part but the last (at least 5 MiB).
    pub part_size: u64,
}

/// What happened to each file, counted.
#[derive(Debug, Default)]
pub struct Summary {
    pub uploaded: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Bytes sent in bodies that the server accepted.
    pub bytes_sent: u64,
}

/// One file to send.
#[derive(Debug, Clone)]
struct Item {
    path: PathBuf,
    /// The name the server records (the file's own name).
    name: String,
    size: u64,
}

enum Done {
    Uploaded { id: Uuid },
    Skipped { id: Uuid },
}

struct Ctx {
    target: Target,
    http: Http,
    progress: Progress,
    opts: Options,
    sent: AtomicU64,
}

/// Uploads every file under `paths`; one line per file, then a summary.
pub async fn run(
    target: Target,
    http: Http,
    paths: &[PathBuf],
    opts: Options,
) -> Result<Summary, ClientError> {
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut items = Vec::new();
    let mut unreadable = Vec::new();
    for p in paths {
        collect(p, true, &mut items, &mut unreadable);
    }
    let total: u64 = items.iter().map(|i| i.size).sum();
    let ctx = Arc::new(Ctx {
        target,
        http,
        progress: Progress::new(total),
        opts: opts.clone(),
        sent: AtomicU64::new(0),
    });
    ctx.progress.say(format!(
        "{} file(s), {} to upload to {}",
        items.len(),
        human(total),
        ctx.target.server
    ));
    for (path, e) in unreadable {
        ctx.progress
            .say(format!("FAILED   {}: {e}", path.display()));
        summary.failed += 1;
    }

    // `jobs` workers take the files in order from one queue (a folder of a
    // hundred thousand files is not a hundred thousand tasks) and report
    // each result as it comes.
    let total_files = items.len();
    let queue = Arc::new(std::sync::Mutex::new(std::collections::VecDeque::from(
        items,
    )));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..opts.jobs.clamp(1, total_files.max(1)) {
        let (ctx, queue, tx) = (ctx.clone(), queue.clone(), tx.clone());
        workers.spawn(async move {
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                let Some(item) = next else { break };
                let result = upload_one(&ctx, &item).await;
                if tx.send((item, result)).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut left = total_files;
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    loop {
        let (item, result) = tokio::select! {
            r = rx.recv() => match r {
                Some(r) => r,
                // Every worker ended; a file a worker dropped (it
                // panicked) counts as failed.
                None => {
                    summary.failed += left;
                    break;
                }
            },
            _ = &mut interrupt => {
                // What was sent stays sent: the server keeps finished files
                // and the parts of unfinished large ones.
                workers.abort_all();
                ctx.progress.finish();
                summary.failed += left;
                super::progress::out(format_args!(
                    "interrupted with {left} file(s) unfinished; run the same command again to \
                     resume (finished files are skipped, large files continue from their last \
                     part)"
                ));
                break;
            }
        };
        left -= 1;
        match result {
            Ok(Done::Uploaded { id }) => {
                summary.uploaded += 1;
                ctx.progress.say(format!(
                    "uploaded {}  {}  ({})",
                    item.path.display(),
                    id,
                    human(item.size)
                ));
            }
            Ok(Done::Skipped { id }) => {
                summary.skipped += 1;
                ctx.progress.overall().inc(item.size);
                ctx.progress.say(format!(
                    "skipped  {}  {}  (already on the server)",
                    item.path.display(),
                    id
                ));
            }
            Err(e) => {
                summary.failed += 1;
                ctx.progress
                    .say(format!("FAILED   {}: {e}", item.path.display()));
            }
        }
    }
    ctx.progress.finish();
    summary.bytes_sent = ctx.sent.load(Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    super::progress::out(format_args!(
        "{} uploaded, {} already on the server, {} failed; sent {} in {:.1} s",
        summary.uploaded,
        summary.skipped,
        summary.failed,
        human(summary.bytes_sent),
        secs
    ));
    Ok(summary)
}

/// Files under `path` (itself, or everything in a folder, recursively, in
/// name order); what cannot be read goes to `bad`. Inside a folder, links
/// to folders are not followed (a link to a parent would loop); links to
/// files are. A folder named on the command line is always walked.
fn collect(path: &Path, named: bool, out: &mut Vec<Item>, bad: &mut Vec<(PathBuf, String)>) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return bad.push((path.to_path_buf(), e.to_string())),
    };
    let linked = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if meta.is_dir() && linked && !named {
        return;
    }
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(path) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => return bad.push((path.to_path_buf(), e.to_string())),
        };
        entries.sort();
        for e in entries {
            collect(&e, false, out, bad);
        }
    } else if meta.is_file() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(Item {
            path: path.to_path_buf(),
            name,
            size: meta.len(),
        });
    }
}

/// Hashes of `len` bytes of the file from `offset`: SHA-256, and MD5 if
/// `md5` (a part's `Content-MD5`, which the server checks on arrival: a
/// presigned URL cannot carry an unsigned `x-amz-checksum-*` header).
/// Read on a blocking thread; `bar` (if any) follows.
async fn hash_range(
    path: &Path,
    offset: u64,
    len: u64,
    md5: bool,
    bar: Option<indicatif::ProgressBar>,
) -> Result<([u8; 32], Option<[u8; 16]>), ClientError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Seek};
        let io = |e| ClientError::io(&path, e);
        let mut f = std::fs::File::open(&path).map_err(io)?;
        f.seek(std::io::SeekFrom::Start(offset)).map_err(io)?;
        let mut sha = Sha256::new();
        let mut md = md5.then(md5::Md5::new);
        let mut buf = vec![0u8; 1 << 20];
        let mut left = len;
        while left > 0 {
            let want = (buf.len() as u64).min(left) as usize;
            let n = f.read(&mut buf[..want]).map_err(io)?;
            if n == 0 {
                return Err(ClientError::Integrity(format!(
                    "{} became shorter while it was being read",
                    path.display()
                )));
            }
            sha.update(&buf[..n]);
            if let Some(m) = md.as_mut() {
                m.update(&buf[..n]);
            }
            if let Some(b) = &bar {
                b.inc(n as u64);
            }
            left -= n as u64;
        }
        Ok((sha.finalize().into(), md.map(|m| m.finalize().into())))
    })
    .await
    .map_err(|e| ClientError::Integrity(format!("hashing stopped: {e}")))?
}

fn b64(d: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(d)
}

/// The id of a file: the same content, size and name give the same id.
pub fn file_id(sha256: &[u8; 32], size: u64, name: &str) -> Uuid {
    Uuid::new_v5(
        &ID_NAMESPACE,
        format!("{}/{size}/{name}", hex::encode(sha256)).as_bytes(),
    )
}

/// Whether a refusal says the signed URL's time ran out.
fn expired(a: &Answer) -> bool {
    a.status == StatusCode::FORBIDDEN
        && matches!(a.refusal(), ClientError::Refused { message, .. } if message.contains("expired"))
}

async fn upload_one(ctx: &Ctx, item: &Item) -> Result<Done, ClientError> {
    let bar = ctx.progress.file(&item.name, item.size);
    let in_parts = item.size > ctx.opts.parts_above;
    let part_size = if in_parts {
        ctx.opts.part_size.max(item.size.div_ceil(MAX_PARTS))
    } else {
        0
    };
    bar.stage("hashing");
    let (sha256, _) = hash_range(&item.path, 0, item.size, false, Some(bar.handle())).await?;
    bar.set_position(0);
    let content_type = mime_guess::from_path(&item.path)
        .first_or_octet_stream()
        .essence_str()
        .to_string();
    let id = file_id(&sha256, item.size, &item.name);
    let mut decl = json!({
        "id": id.to_string(),
        "contentType": content_type,
        "hash": b64(&sha256),
        "fileName": item.name,
        "size": item.size,
    });
    if in_parts {
        decl["partSize"] = json!(part_size);
        send_parts(ctx, item, &bar, id, &decl, part_size).await
    } else {
        send_whole(ctx, item, &bar, id, &decl, &content_type, &sha256).await
    }
}

/// A retry notice for the screen.
fn notice<'a>(ctx: &'a Ctx, item: &'a Item) -> impl Fn(String) + Send + Sync + 'a {
    move |why| {
        ctx.progress
            .say(format!("retry    {}: {why}", item.path.display()))
    }
}

async fn api(
    ctx: &Ctx,
    item: &Item,
    rest: &str,
    body: &Value,
    limit: Duration,
) -> Result<Answer, ClientError> {
    ctx.http
        .api(
            Method::POST,
            &ctx.target.api(rest),
            &ctx.target.token,
            Some(body),
            limit,
            &notice(ctx, item),
        )
        .await
}

/// Presign → PUT → complete; a new URL if one expired on the way.
async fn send_whole(
    ctx: &Ctx,
    item: &Item,
    bar: &FileBar,
    id: Uuid,
    decl: &Value,
    content_type: &str,
    sha256: &[u8; 32],
) -> Result<Done, ClientError> {
    for _ in 0..ROUNDS {
        let a = api(ctx, item, "file/upload/presigned", decl, API_LIMIT).await?;
        let url = match a.status {
            StatusCode::CREATED => a.json()["data"]["presignedURL"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| ClientError::Integrity("presign answered without a URL".into()))?,
            StatusCode::OK => {
                complete(ctx, item, id).await?;
                return Ok(Done::Skipped { id });
            }
            _ => return Err(a.refusal()),
        };
        bar.stage("sending");
        let put = put_range(
            ctx,
            item,
            bar,
            &url,
            &[("content-type", content_type.to_string())],
            0,
            item.size,
        )
        .await?;
        if put.status.is_success() {
            check_echo(&put, sha256)?;
            ctx.sent.fetch_add(item.size, Ordering::Relaxed);
            complete(ctx, item, id).await?;
            return Ok(Done::Uploaded { id });
        }
        if expired(&put) {
            ctx.progress.say(format!(
                "retry    {}: its upload URL expired; asking for a new one",
                item.path.display()
            ));
            continue;
        }
        return Err(put.refusal());
    }
    Err(ClientError::Integrity(format!(
        "gave up after {ROUNDS} fresh upload URLs"
    )))
}

/// Parts of one file sent at once: the server verifies and stores each on
/// its own, so a large file uses more than one of its cores.
const PART_JOBS: usize = 4;

/// One part as the server plans it.
struct PartPlan {
    number: u64,
    offset: u64,
    size: u64,
    url: String,
    /// SHA-256 (base64) of what the server holds under this number.
    held: Option<String>,
}

/// How sending one part ended.
enum PartSent {
    Sent,
    /// Its URL's time ran out, or the server no longer has the upload (it
    /// was swept): ask for the parts again.
    AskAgain(&'static str),
}

fn read_plan(v: &Value) -> Result<Vec<PartPlan>, ClientError> {
    let parts = v["data"]["parts"].as_array().cloned().unwrap_or_default();
    parts
        .iter()
        .map(|p| {
            Some(PartPlan {
                number: p["partNumber"].as_u64()?,
                offset: p["offset"].as_u64()?,
                size: p["size"].as_u64()?,
                url: p["url"].as_str()?.to_string(),
                held: p["hash"].as_str().map(str::to_string),
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ClientError::Integrity("the server's part list is malformed".into()))
}

/// The part-wise upload: ask, send what is missing (several parts at
/// once), complete; ask again if URLs expired or the server misses a part.
async fn send_parts(
    ctx: &Ctx,
    item: &Item,
    bar: &FileBar,
    id: Uuid,
    decl: &Value,
    part_size: u64,
) -> Result<Done, ClientError> {
    use futures_util::StreamExt;
    let count = item.size.div_ceil(part_size).max(1) as usize;
    // Rounds in a row that got no part across: a long upload asks again
    // every time its URLs expire, and that is progress, not failure.
    let mut idle_rounds = 0;
    let mut round = 0;
    loop {
        if idle_rounds >= ROUNDS {
            return Err(ClientError::Integrity(format!(
                "gave up after asking for the parts {ROUNDS} times in a row without getting \
                 one across"
            )));
        }
        round += 1;
        idle_rounds += 1;
        let a = api(ctx, item, "file/upload/parts", decl, API_LIMIT).await?;
        match a.status {
            StatusCode::CREATED => {}
            StatusCode::OK => {
                complete(ctx, item, id).await?;
                return Ok(Done::Skipped { id });
            }
            _ => return Err(a.refusal()),
        }
        let plan = read_plan(&a.json())?;
        if plan.len() != count {
            return Err(ClientError::Integrity(format!(
                "the server planned {} parts where this client counted {count}",
                plan.len()
            )));
        }
        // A part the server holds is skipped only if it is this file's
        // part (hashed now, only for the parts held).
        let mut todo = Vec::new();
        let mut held_bytes = 0;
        for p in plan {
            let same = match &p.held {
                Some(theirs) => {
                    let (mine, _) = hash_range(&item.path, p.offset, p.size, false, None).await?;
                    *theirs == b64(&mine)
                }
                None => false,
            };
            if same {
                held_bytes += p.size;
            } else {
                todo.push(p);
            }
        }
        if round == 1 && todo.len() < count {
            ctx.progress.overall().inc(held_bytes);
            ctx.progress.say(format!(
                "resume   {}: {} of {count} parts already on the server",
                item.path.display(),
                count - todo.len()
            ));
        }
        bar.set_position(held_bytes);
        bar.stage("sending");
        // Boxed as `dyn Send`: the futures borrow `todo`, and the task that
        // runs them is spawned.
        type Sending<'a> = std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<PartSent, ClientError>> + Send + 'a>,
        >;
        let sends: Vec<Sending<'_>> = todo
            .iter()
            .map(|p| Box::pin(send_part(ctx, item, bar, p, count)) as Sending<'_>)
            .collect();
        let results: Vec<Result<PartSent, ClientError>> = futures_util::stream::iter(sends)
            .buffer_unordered(PART_JOBS)
            .collect()
            .await;
        let mut ask_again = None;
        for r in results {
            match r? {
                PartSent::Sent => idle_rounds = 0,
                PartSent::AskAgain(why) => ask_again = Some(why),
            }
        }
        if let Some(why) = ask_again {
            ctx.progress.say(format!(
                "retry    {}: {why}; asking for the parts again",
                item.path.display()
            ));
            continue;
        }
        bar.stage("completing");
        let done = api(
            ctx,
            item,
            "file/upload/complete",
            &json!({"id": id.to_string()}),
            COMPLETE_LIMIT,
        )
        .await?;
        match done.status {
            StatusCode::OK => return Ok(Done::Uploaded { id }),
            // A part went missing or the declaration was withdrawn (it
            // waited too long): ask again, send what is missing.
            StatusCode::CONFLICT | StatusCode::NOT_FOUND => {
                ctx.progress.say(format!(
                    "retry    {}: {}",
                    item.path.display(),
                    done.refusal()
                ));
                continue;
            }
            _ => return Err(done.refusal()),
        }
    }
}

/// Sends one part with its `Content-MD5`.
async fn send_part(
    ctx: &Ctx,
    item: &Item,
    bar: &FileBar,
    p: &PartPlan,
    count: usize,
) -> Result<PartSent, ClientError> {
    let (_, md5) = hash_range(&item.path, p.offset, p.size, true, None).await?;
    let md5 = md5.map(|m| b64(&m)).unwrap_or_default();
    let headers = [("content-md5", md5)];
    let put = put_range(ctx, item, bar, &p.url, &headers, p.offset, p.size).await?;
    if put.status.is_success() {
        ctx.sent.fetch_add(p.size, Ordering::Relaxed);
        ctx.progress.say(format!(
            "part     {}: part {}/{count} sent",
            item.path.display(),
            p.number
        ));
        return Ok(PartSent::Sent);
    }
    if expired(&put) {
        return Ok(PartSent::AskAgain("its part URLs expired"));
    }
    if put.status == StatusCode::NOT_FOUND {
        return Ok(PartSent::AskAgain("the server no longer has its upload"));
    }
    Err(put.refusal())
}

/// Sends `size` bytes of the file from `offset` to a presigned URL, with
/// the file's bar and the overall one following.
#[allow(clippy::too_many_arguments)]
async fn put_range(
    ctx: &Ctx,
    item: &Item,
    bar: &FileBar,
    url: &str,
    headers: &[(&'static str, String)],
    offset: u64,
    size: u64,
) -> Result<Answer, ClientError> {
    let (file_bar, overall) = (bar.handle(), ctx.progress.overall());
    let on_bytes: super::http::OnBytes = Arc::new(move |n| {
        file_bar.inc(n);
        overall.inc(n);
    });
    let (file_bar, overall) = (bar.handle(), ctx.progress.overall());
    let on_undo = move |n: u64| {
        file_bar.set_position(file_bar.position().saturating_sub(n));
        overall.set_position(overall.position().saturating_sub(n));
    };
    ctx.http
        .put_file(
            url,
            headers,
            &FileRange {
                path: &item.path,
                offset,
                len: size,
            },
            on_bytes,
            &on_undo,
            &notice(ctx, item),
        )
        .await
}

/// The server echoes the SHA-256 it verified; it must be ours.
fn check_echo(put: &Answer, sha256: &[u8; 32]) -> Result<(), ClientError> {
    match put
        .headers
        .get("x-amz-checksum-sha256")
        .and_then(|v| v.to_str().ok())
    {
        Some(echo) if echo != b64(sha256) => Err(ClientError::Integrity(format!(
            "the server stored SHA-256 {echo}, not this file's {}",
            b64(sha256)
        ))),
        _ => Ok(()),
    }
}

async fn complete(ctx: &Ctx, item: &Item, id: Uuid) -> Result<(), ClientError> {
    let a = api(
        ctx,
        item,
        "file/upload/complete",
        &json!({"id": id.to_string()}),
        API_LIMIT,
    )
    .await?;
    if a.status == StatusCode::OK {
        Ok(())
    } else {
        Err(a.refusal())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_content_size_and_name() {
        let a = file_id(&[1; 32], 10, "a.jpg");
        assert_eq!(a, file_id(&[1; 32], 10, "a.jpg"));
        assert_ne!(a, file_id(&[2; 32], 10, "a.jpg"));
        assert_ne!(a, file_id(&[1; 32], 11, "a.jpg"));
        assert_ne!(a, file_id(&[1; 32], 10, "b.jpg"));
        assert_eq!(a.get_version_num(), 5);
    }

    #[tokio::test]
    async fn ranges_are_hashed_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        let data: Vec<u8> = (0..(3 * 1024 * 1024 + 5))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        let (sha, md5) = hash_range(&path, 0, data.len() as u64, false, None)
            .await
            .unwrap();
        assert_eq!(sha, <[u8; 32]>::from(Sha256::digest(&data)));
        assert_eq!(md5, None);
        let range = &data[1_000_000..2_500_001];
        let (sha, md5) = hash_range(&path, 1_000_000, range.len() as u64, true, None)
            .await
            .unwrap();
        assert_eq!(sha, <[u8; 32]>::from(Sha256::digest(range)));
        assert_eq!(md5, Some(<[u8; 16]>::from(md5::Md5::digest(range))));
        // A file shorter than asked is an error, not a short hash.
        let e = hash_range(&path, 3 * 1024 * 1024, 10, false, None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("shorter"), "{e}");
    }
}
