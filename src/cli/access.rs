//! `stowage token` and `stowage key`: who may use the gateway. They change
//! only settings rows, through the storage service, so a gateway may be
//! serving the same index meanwhile.
//!
//! A token or secret is printed only to stdout, only when created, and
//! never logged.

use clap::Subcommand;
use time::OffsetDateTime;

use super::args::ConfigArgs;
use super::open::{maintenance_runtime, open_storage};
use crate::storage::Storage;
use crate::tokens;

#[derive(Subcommand)]
pub(super) enum KeyCommand {
    /// Create an S3 access key; its id and secret are printed once. It can
    /// create buckets of its own, and use others only once allowed.
    Create {
        /// A unique name, used to list, allow and revoke it.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List the keys (ids and names; secrets are not shown).
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Revoke a key by name; it stops working at once.
    Revoke {
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Let a key read (or, with --write, also write) a bucket.
    Allow {
        name: String,
        bucket: String,
        /// Also PUT, POST and DELETE objects.
        #[arg(long)]
        write: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Subcommand)]
pub(super) enum TokenCommand {
    /// Create a token; it is printed once, alone on the last line.
    Create {
        /// A unique name, used to list and revoke it.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: upload, read, admin.
        #[arg(long, default_value = "upload,read")]
        scopes: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List tokens (names and scopes; tokens themselves are not stored).
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Revoke a token by name; it stops working at once.
    Revoke {
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// The names of tokens and keys: 1-64 letters, digits, '-', '_' or '.'.
fn check_name(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err("--name must be 1-64 letters, digits, '-', '_' or '.'".into())
    }
}

/// Runs a token or key command's work on the storage service of its data
/// dir.
fn with_storage<R>(
    config: &ConfigArgs,
    work: impl AsyncFnOnce(&Storage) -> Result<R, crate::storage::StorageError>,
) -> Result<R, String> {
    let storage = open_storage(config)?;
    maintenance_runtime()?
        .block_on(work(&storage))
        .map_err(|e| e.to_string())
}

pub(super) fn key(cmd: KeyCommand) -> Result<(), String> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    match cmd {
        KeyCommand::Create { name, config } => {
            check_name(&name)?;
            let fresh = crate::config::generate_credentials();
            let key = crate::index::AccessKey {
                access_key_id: fresh.access_key_id.clone(),
                secret: fresh.secret_access_key.clone(),
                name: name.clone(),
                created_at: now,
                revoked_at: None,
            };
            let created = with_storage(&config, async |s| s.create_access_key(&key).await)?;
            if !created {
                return Err(format!(
                    "a key named '{name}' already exists; pick another --name"
                ));
            }
            println!(
                "Created S3 access key '{name}'. Keep the secret safe; it is not shown again:"
            );
            println!("access_key_id={}", fresh.access_key_id);
            println!("secret_access_key={}", fresh.secret_access_key);
            Ok(())
        }
        KeyCommand::List { config } => {
            let keys = with_storage(&config, async |s| s.list_access_keys().await)?;
            println!("{:<24} {:<22} STATUS", "NAME", "ACCESS KEY ID");
            for k in keys {
                let status = if k.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!("{:<24} {:<22} {status}", k.name, k.access_key_id);
            }
            Ok(())
        }
        KeyCommand::Revoke { name, config } => {
            if with_storage(&config, async |s| s.revoke_access_key(&name, now).await)? {
                println!("Revoked key '{name}'.");
                Ok(())
            } else {
                Err(format!("no active key named '{name}'"))
            }
        }
        KeyCommand::Allow {
            name,
            bucket,
            write,
            config,
        } => {
            crate::config::validate_bucket(&bucket)?;
            if with_storage(&config, async |s| {
                s.grant_bucket(&name, &bucket, write).await
            })? {
                let what = if write { "read and write" } else { "read" };
                println!("Key '{name}' may now {what} bucket '{bucket}'.");
                Ok(())
            } else {
                Err(format!("no active key named '{name}'"))
            }
        }
    }
}

pub(super) fn token(cmd: TokenCommand) -> Result<(), String> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    match cmd {
        TokenCommand::Create {
            name,
            scopes,
            config,
        } => {
            check_name(&name)?;
            let scopes = tokens::parse_scopes(&scopes)?;
            let storage = open_storage(&config)?;
            let token = maintenance_runtime()?
                .block_on(tokens::create(&storage, &name, &scopes, now))
                .map_err(|e| match e {
                    tokens::CreateError::NameTaken(_) => {
                        format!("{e}; pick another --name or revoke it first")
                    }
                    e => e.to_string(),
                })?;
            println!(
                "Created token '{name}' with scopes {}. Keep it safe; it is not shown again:",
                scopes.join(",")
            );
            println!("{token}");
            Ok(())
        }
        TokenCommand::List { config } => {
            let list = with_storage(&config, async |s| s.list_tokens().await)?;
            println!("{:<24} {:<20} {:<22} STATUS", "NAME", "SCOPES", "CREATED");
            for t in list {
                let when = |t: i64| {
                    OffsetDateTime::from_unix_timestamp(t)
                        .ok()
                        .and_then(|d| {
                            d.format(&time::format_description::well_known::Rfc3339)
                                .ok()
                        })
                        .unwrap_or_default()
                };
                let status = match t.revoked_at {
                    Some(r) => format!("revoked {}", when(r)),
                    None => "active".into(),
                };
                println!(
                    "{:<24} {:<20} {:<22} {status}",
                    t.name,
                    t.scopes.join(","),
                    when(t.created_at)
                );
            }
            Ok(())
        }
        TokenCommand::Revoke { name, config } => {
            if with_storage(&config, async |s| s.revoke_token(&name, now).await)? {
                println!("Revoked token '{name}'.");
                Ok(())
            } else {
                Err(format!(
                    "no active token named '{name}' (see `stowage token list`)"
                ))
            }
        }
    }
}
