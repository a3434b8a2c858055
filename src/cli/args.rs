//! Arguments several commands share: where the configuration is
//! (`--config`), and which gateway a client command talks to.
//!
//! Parsing only: no command runs here.

use std::path::PathBuf;

use clap::Args;

use crate::config::{Config, Overrides};

#[derive(Args)]
pub(super) struct ConfigArgs {
    /// Config file [default: ./config.toml]
    #[arg(long)]
    config: Option<PathBuf>,
}

impl ConfigArgs {
    pub(super) fn load(&self, overrides: Overrides) -> Result<Config, String> {
        let explicit = self.config.is_some();
        let path = self
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from("config.toml"));
        Config::load(&path, explicit, |k| std::env::var(k).ok(), &overrides)
            .map_err(|e| e.to_string())
    }

    /// The `--config` flag as given (with a leading space), or nothing,
    /// for a command line the user is told to run next.
    pub(super) fn flag(&self) -> String {
        self.config
            .as_ref()
            .map(|c| format!(" --config {}", c.display()))
            .unwrap_or_default()
    }
}

/// Which gateway a client command talks to, and how patiently.
#[derive(Args)]
pub(super) struct RemoteArgs {
    /// The gateway's URL [default: `server` in ~/.config/stowage/client.toml,
    /// else http://127.0.0.1:8080].
    #[arg(long, env = "STOWAGE_SERVER")]
    server: Option<String>,
    /// An API token. Prefer STOWAGE_TOKEN or `token` in the config file: a
    /// flag is visible to other users in `ps`.
    #[arg(long, env = "STOWAGE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// More trusted CA certificates (PEM), for a gateway whose HTTPS
    /// certificate is private or self-signed.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Tries after a failed one (connection errors, 5xx, 429), with
    /// growing waits.
    #[arg(long, default_value_t = 8)]
    retries: u32,
    /// A transfer that moves no byte for this many seconds is broken off
    /// and tried again.
    #[arg(long, default_value_t = 60)]
    stall_secs: u64,
    /// Most bytes per second to send, all files together, e.g. 500K (a
    /// shared field link).
    #[arg(long, value_parser = parse_size_arg)]
    limit_rate: Option<u64>,
}

impl RemoteArgs {
    pub(super) fn connect(
        self,
    ) -> Result<(crate::client::Target, crate::client::http::Http), String> {
        if self.limit_rate.is_some_and(|r| r < MIN_RATE) {
            // Slower, and pieces of the many bodies in flight would wait
            // longer than the stall watchdog allows.
            return Err(format!(
                "--limit-rate must be at least {MIN_RATE} bytes per second (4K)"
            ));
        }
        let target =
            crate::client::Target::resolve(self.server, self.token, &|k| std::env::var(k).ok())
                .map_err(|e| e.to_string())?;
        let mut http = crate::client::http::Http::new(&target.server, self.ca_cert.as_deref())
            .map_err(|e| e.to_string())?;
        http.retry.retries = self.retries;
        http.stall = std::time::Duration::from_secs(self.stall_secs.max(1));
        http.pacer = self
            .limit_rate
            .filter(|r| *r > 0)
            .map(|r| std::sync::Arc::new(crate::client::http::Pacer::new(r)));
        Ok((target, http))
    }
}

/// The slowest `--limit-rate`.
const MIN_RATE: u64 = 4096;

pub(super) fn parse_size_arg(s: &str) -> Result<u64, String> {
    crate::client::parse_size(s)
}
