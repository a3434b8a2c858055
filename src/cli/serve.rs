//! `stowage serve`: logging set up, the gateway opened on its data dir and
//! index, start-up recovery, the first token printed once, then the accept
//! loop until SIGINT or SIGTERM.
//!
//! Holds the data dir's lock while it runs (`crate::ops::lock`). Prints the
//! initial token only to stdout, only when created, and never
//! logs it.

use std::sync::Arc;

use super::args::ConfigArgs;
use crate::app::App;
use crate::clock::SystemClock;
use crate::config::Overrides;
use crate::ops::lock::{DataDirLock, LockError};
use crate::tokens;

/// Logs to stderr: text (colored on a terminal), or one JSON object per
/// line with `json`. `RUST_LOG` filters (default `info`).
fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}

pub(super) fn serve(
    args: &ConfigArgs,
    overrides: Overrides,
    json_logs: bool,
) -> Result<(), String> {
    let config = args.load(overrides)?;
    init_logging(json_logs);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    // Held until the gateway stops: no second gateway, and no `index
    // migrate`, on this data dir meanwhile.
    crate::app::create_data_dir(&config.data_dir)
        .map_err(|e| format!("cannot create data dir {}: {e}", config.data_dir.display()))?;
    let _lock = DataDirLock::acquire(&config.data_dir, "stowage serve").map_err(|e| match e {
        LockError::Held { dir, holder } => format!(
            "a Stowage process already uses {} ({holder}): one gateway serves a data dir at a \
             time",
            dir.display()
        ),
        e => e.to_string(),
    })?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let bound = listener
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?;
        let app = App::open(config, Arc::new(SystemClock), bound).map_err(|e| e.to_string())?;
        app.storage
            .recover()
            .await
            .map_err(|e| format!("start-up recovery failed: {e}"))?;
        let initial = tokens::ensure_initial(&app.storage, app.now_unix())
            .await
            .map_err(|e| e.to_string())?;
        if let Some(token) = initial {
            // Not `println!`: with stdout closed (a reader that went away)
            // that panics and would take the gateway down with it.
            use std::io::Write;
            let shown = writeln!(
                std::io::stdout(),
                "Created API token 'initial' with scopes upload, read, admin. It is shown only \
                 this once:\n{token}\nRevoke it with: stowage token revoke initial"
            )
            .and_then(|()| std::io::stdout().flush());
            if shown.is_err() {
                tracing::warn!(
                    "could not print the initial API token (stdout is closed); revoke it with \
                     `stowage token revoke initial` and create one with `stowage token create`"
                );
            }
        }
        tracing::info!(
            data_dir = %app.config.data_dir.display(),
            public_url = %app.public_url.base,
            bucket = %app.config.s3.bucket,
            access_key_id = %app.credentials.access_key_id,
            "gateway ready"
        );
        if crate::failpoint::enabled() {
            tracing::warn!(
                "{} is set: uploads pause inside their commit (a test knob; unset it)",
                crate::failpoint::ENV
            );
        }
        tracing::info!("listening on http://{bound}");
        crate::server::run(listener, Arc::new(app), shutdown_signal())
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!("stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
