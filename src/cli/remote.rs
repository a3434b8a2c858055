//! The client commands `upload` and `download`: a runtime, the arguments
//! checked, and the work handed to [`crate::client`], which talks to a
//! gateway only through its public API.

use std::path::PathBuf;

use super::args::RemoteArgs;

/// A runtime for the client commands.
fn client_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

pub(super) fn upload(
    paths: Vec<PathBuf>,
    remote: RemoteArgs,
    opts: crate::client::upload::Options,
) -> Result<(), String> {
    if opts.part_size < crate::storage::multipart::MIN_PART {
        return Err(format!(
            "--part-size must be at least {} bytes (5M): S3's smallest part",
            crate::storage::multipart::MIN_PART
        ));
    }
    let (target, http) = remote.connect()?;
    let rt = client_runtime()?;
    let summary = rt.block_on(crate::client::upload::run(target, http, &paths, opts));
    // Not waiting for a file still being hashed after Ctrl-C.
    rt.shutdown_background();
    let summary = summary.map_err(|e| e.to_string())?;
    if summary.failed > 0 {
        // Each failure was reported on its own line.
        return Err(String::new());
    }
    Ok(())
}

pub(super) fn download(
    id: String,
    output: Option<PathBuf>,
    force: bool,
    remote: RemoteArgs,
) -> Result<(), String> {
    let (target, http) = remote.connect()?;
    let rt = client_runtime()?;
    let done = rt.block_on(crate::client::download::run(
        target, http, &id, output, force,
    ));
    rt.shutdown_background();
    done.map(|_| ()).map_err(|e| e.to_string())
}
