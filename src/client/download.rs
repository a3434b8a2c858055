//! `stowage download ID [-o PATH]`: one stored file, back to disk, proven.
//!
//! The bytes go to a temporary file beside the destination while their
//! SHA-256 is computed; after a broken link the transfer continues from
//! where it stopped (a `Range` request; a fresh URL if the old one
//! expired) — within the run, and, if the retries ran out or the command
//! was stopped, in the next run of the same command. Only a file whose size and SHA-256 equal what the server
//! recorded gets its name; anything else is deleted and reported.
//!
//! The server's file name becomes a local name only as a single plain
//! component (no directories, no `..`); otherwise the id is used.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::http::{retryable, Http};
use super::progress::Progress;
use super::{human, ClientError, Target};

/// What the server says of the file.
struct Stored {
    name: String,
    size: u64,
    sha256: Vec<u8>,
    url: String,
}

async fn lookup(
    target: &Target,
    http: &Http,
    id: &Uuid,
    say: &(dyn Fn(String) + Send + Sync),
) -> Result<Stored, ClientError> {
    let a = http
        .api(
            Method::GET,
            &target.api(&format!("file/{id}")),
            &target.token,
            None,
            Duration::from_secs(120),
            say,
        )
        .await?;
    if a.status != StatusCode::OK {
        return Err(a.refusal());
    }
    let v = a.json();
    let d = &v["data"];
    let status = d["status"].as_str().unwrap_or("");
    let Some(url) = d["downloadURL"].as_str() else {
        return Err(ClientError::Integrity(format!(
            "file {id} is '{status}', not completed: there is nothing to download yet"
        )));
    };
    let sha256 = d["hash"]
        .as_str()
        .and_then(|h| base64::engine::general_purpose::STANDARD.decode(h).ok())
        .filter(|h| h.len() == 32)
        .ok_or_else(|| ClientError::Integrity("the server gave no valid hash".into()))?;
    let size = d["size"]
        .as_u64()
        .ok_or_else(|| ClientError::Integrity("the server gave no size for the file".into()))?;
    Ok(Stored {
        name: d["fileName"].as_str().unwrap_or("").to_string(),
        size,
        sha256,
        url: url.to_string(),
    })
}

/// A server-given name as one safe local file name, or `None`: its last
/// component, without leading dots (a name like `.profile` must not land
/// as a hidden file in someone's home folder).
pub fn safe_name(name: &str) -> Option<String> {
    let last = name
        .rsplit(['/', '\\'])
        .next()?
        .trim()
        .trim_start_matches('.');
    let ok = !last.is_empty()
        && last != "."
        && last != ".."
        && !last.chars().any(|c| c.is_control() || c == '\0');
    ok.then(|| last.to_string())
}

/// Downloads file `id` to `out` (default: its own name in the current
/// folder; a folder: its own name in it). Refuses to replace a file unless
/// `force`.
pub async fn run(
    target: Target,
    http: Http,
    id: &str,
    out: Option<PathBuf>,
    force: bool,
) -> Result<PathBuf, ClientError> {
    let id = Uuid::try_parse(id.trim()).map_err(|_| {
        ClientError::Config(format!(
            "'{id}' is not a file id; ids look like 0f8fad5b-d9cb-469f-a165-70867728950e"
        ))
    })?;
    let progress = Progress::new(0);
    let say = |line: String| progress.say(format!("retry    {id}: {line}"));
    let mut stored = lookup(&target, &http, &id, &say).await?;
    let own = safe_name(&stored.name).unwrap_or_else(|| id.to_string());
    let dest = match out {
        Some(p) if p.is_dir() => p.join(&own),
        Some(p) => p,
        None => PathBuf::from(&own),
    };
    if dest.exists() && !force {
        return Err(ClientError::Config(format!(
            "{} exists; pass --force to replace it, or -o another path",
            dest.display()
        )));
    }
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let temp = dir.join(format!(".{}.stowage-download", id.simple()));
    let result = fetch(&target, &http, &progress, &id, &mut stored, &temp, &say).await;
    progress.finish();
    if let Err(e) = result {
        // Bytes that only failed to arrive are kept for the next run;
        // bytes proven wrong (or unwritable) are not.
        if matches!(e, ClientError::Unreachable { .. }) {
            super::progress::out(format_args!(
                "the partial download is kept as {}; run the same command again to continue",
                temp.display()
            ));
        } else {
            let _ = std::fs::remove_file(&temp);
        }
        return Err(e);
    }
    tokio::fs::rename(&temp, &dest)
        .await
        .map_err(|e| ClientError::io(&dest, e))?;
    super::progress::out(format_args!(
        "downloaded {} ({}, SHA-256 verified)",
        dest.display(),
        human(stored.size)
    ));
    Ok(dest)
}

/// Fills `temp` with the file, resuming after failures; checks size and
/// hash; syncs it.
async fn fetch(
    target: &Target,
    http: &Http,
    progress: &Progress,
    id: &Uuid,
    stored: &mut Stored,
    temp: &Path,
    say: &(dyn Fn(String) + Send + Sync),
) -> Result<(), ClientError> {
    let (mut file, mut sha, mut written) = resume(temp, stored.size).await?;
    let bar = progress.file(&stored.name, stored.size);
    let overall = bar.handle();
    overall.set_position(written);
    if written > 0 {
        progress.say(format!(
            "resume   {id}: {} already here from an earlier run",
            human(written)
        ));
    }
    let mut failures = 0u32;
    let mut fresh_urls = 0;
    loop {
        if written == stored.size {
            // All here (maybe from an earlier run): nothing left to ask for.
            break;
        }
        let before = written;
        let why = match http.get_stream(&stored.url, written).await {
            Err(why) => why,
            Ok(resp) => {
                let status = resp.status();
                // A 206 must start where this file ends; anything else is
                // taken as the whole file again.
                let resumes_here = resp
                    .headers()
                    .get(http::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with(&format!("bytes {written}-")));
                let status = if status == StatusCode::PARTIAL_CONTENT && !resumes_here {
                    StatusCode::OK
                } else {
                    status
                };
                if status == StatusCode::OK && written > 0 {
                    // The server sent it all again: start over (the file is
                    // opened for appending, so writes follow the new end).
                    file.set_len(0)
                        .await
                        .map_err(|e| ClientError::io(temp, e))?;
                    sha = Sha256::new();
                    written = 0;
                    overall.set_position(0);
                }
                if status == StatusCode::OK || status == StatusCode::PARTIAL_CONTENT {
                    let mut body = resp.into_body();
                    let mut broke = None;
                    loop {
                        match tokio::time::timeout(http.stall, body.frame()).await {
                            Err(_) => {
                                broke = Some(format!("no byte for {} s", http.stall.as_secs()));
                                break;
                            }
                            Ok(None) => break,
                            Ok(Some(Err(e))) => {
                                broke = Some(format!("the transfer broke off: {e}"));
                                break;
                            }
                            Ok(Some(Ok(frame))) => {
                                if let Ok(data) = frame.into_data() {
                                    file.write_all(&data)
                                        .await
                                        .map_err(|e| ClientError::io(temp, e))?;
                                    sha.update(&data);
                                    written += data.len() as u64;
                                    overall.inc(data.len() as u64);
                                }
                            }
                        }
                    }
                    match broke {
                        None => break,
                        Some(why) => why,
                    }
                } else {
                    let body = resp
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let answer = super::http::Answer {
                        status,
                        headers: http::HeaderMap::new(),
                        body,
                    };
                    let refusal = answer.refusal();
                    if status == StatusCode::FORBIDDEN
                        && refusal.to_string().contains("expired")
                        && fresh_urls < 3
                    {
                        fresh_urls += 1;
                        *stored = lookup(target, http, id, say).await?;
                        continue;
                    }
                    if !retryable(status) {
                        return Err(refusal);
                    }
                    refusal.to_string()
                }
            }
        };
        // The retries are for a link that stopped working, not for one
        // that breaks now and then but moves the file along.
        if written > before {
            failures = 0;
        }
        failures += 1;
        if failures > http.retry.retries {
            return Err(ClientError::Unreachable {
                server: target.server.clone(),
                detail: format!("download of {id}: {why} (gave up after {failures} tries)"),
            });
        }
        let wait = http.retry.delay(failures, None, crate::random::unit_f64());
        say(format!(
            "{why}; resuming at {} in {:.1} s (retry {failures} of {})",
            human(written),
            wait.as_secs_f64(),
            http.retry.retries
        ));
        tokio::time::sleep(wait).await;
    }
    let got: [u8; 32] = sha.finalize().into();
    if written != stored.size || got.as_slice() != stored.sha256.as_slice() {
        let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
        return Err(ClientError::Integrity(format!(
            "the download of {id} has {written} bytes with SHA-256 {}, but the server recorded \
             {} bytes with {}; it was deleted. Try again.",
            b64(&got),
            stored.size,
            b64(&stored.sha256)
        )));
    }
    file.sync_all()
        .await
        .map_err(|e| ClientError::io(temp, e))?;
    Ok(())
}

/// The temporary file: what an earlier, interrupted run left (hashed
/// again, to continue from its end) or a new empty one.
async fn resume(temp: &Path, size: u64) -> Result<(tokio::fs::File, Sha256, u64), ClientError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |e| ClientError::io(temp, e);
    // Never through a link: in a shared folder, someone else could have
    // put one where this file goes.
    let nofollow = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    let kept = match tokio::fs::symlink_metadata(temp).await {
        Ok(m) if !m.file_type().is_file() => {
            return Err(ClientError::Config(format!(
                "{} exists and is not a regular file; remove it",
                temp.display()
            )))
        }
        Ok(m) if m.len() > size => {
            tokio::fs::remove_file(temp).await.map_err(io)?;
            None
        }
        Ok(m) => Some(m),
        Err(_) => None,
    };
    if kept.is_some() {
        let path = temp.to_path_buf();
        let (sha, len) = tokio::task::spawn_blocking(move || {
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(nofollow)
                .open(&path)?;
            let mut sha = Sha256::new();
            let len = std::io::copy(&mut f, &mut sha)?;
            Ok::<_, std::io::Error>((sha, len))
        })
        .await
        .map_err(|e| ClientError::Integrity(format!("hashing stopped: {e}")))?
        .map_err(io)?;
        let file = tokio::fs::OpenOptions::new()
            .append(true)
            .custom_flags(nofollow)
            .open(temp)
            .await
            .map_err(io)?;
        return Ok((file, sha, len));
    }
    let file = tokio::fs::OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(temp)
        .await
        .map_err(io)?;
    Ok((file, Sha256::new(), 0))
}

#[cfg(test)]
mod tests {
    use super::safe_name;

    #[test]
    fn only_a_plain_last_component_becomes_a_name() {
        assert_eq!(safe_name("photo.jpg").as_deref(), Some("photo.jpg"));
        assert_eq!(safe_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(safe_name("a\\b\\c.txt").as_deref(), Some("c.txt"));
        assert_eq!(safe_name(".."), None);
        assert_eq!(safe_name(".profile").as_deref(), Some("profile"));
        assert_eq!(safe_name("dir/"), None);
        assert_eq!(safe_name(""), None);
        assert_eq!(safe_name("bad\nname"), None);
    }
}
