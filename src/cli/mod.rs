//! The `stowage` command line: `serve`, `token`, `key`, `verify`, `backup`,
//! `index migrate`, and the client commands `upload` and `download` (in
//! `client`). This file parses and dispatches; each family of commands is a
//! file of its own: `serve.rs`, `maintenance.rs` (verify, backup, index
//! migrate), `access.rs` (tokens and
//! keys), `remote.rs` (upload, download); `args.rs` and `open.rs` are what
//! they share.
//!
//! Prints tokens only to stdout, only when created, and never logs them.

mod access;
mod args;
mod maintenance;
mod open;
mod remote;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Overrides;
use access::{KeyCommand, TokenCommand};
use args::{parse_size_arg, ConfigArgs, RemoteArgs};

#[derive(Parser)]
#[command(
    name = "stowage",
    version,
    about = "Self-hosted storage gateway with SigV4 presigned uploads"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Move the index between backends.
    Index {
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Run the gateway.
    Serve {
        #[command(flatten)]
        config: ConfigArgs,
        /// Address to listen on, e.g. 0.0.0.0:8080 (overrides `listen`).
        #[arg(long)]
        listen: Option<String>,
        /// Data directory (overrides `data_dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Log lines as text (default) or as one JSON object each, for log
        /// shippers.
        #[arg(long, env = "STOWAGE_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
        log_format: String,
    },
    /// Manage API bearer tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage extra S3 access keys and what they may do.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Check every stored blob against the index (rehash, compare both
    /// ways); exits 1 if anything is missing, corrupt, orphaned or dangling.
    /// Read-only; safe beside a running gateway.
    Verify {
        #[command(flatten)]
        config: ConfigArgs,
        /// Data directory (overrides `data_dir`), e.g. a backup to check.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Upload files and folders (recursively) to a gateway through its API:
    /// files it already has are skipped, large files go in parts and resume
    /// where they stopped when the command is run again.
    Upload {
        /// Files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        remote: RemoteArgs,
        /// Files sent at once.
        #[arg(long, short = 'j', default_value_t = 4)]
        jobs: usize,
        /// Files larger than this are sent in parts, and resume after an
        /// interruption (K, M, G suffixes).
        #[arg(long, default_value = "64M", value_parser = parse_size_arg)]
        parts_above: u64,
        /// Size of each part (at least 5M).
        #[arg(long, default_value = "16M", value_parser = parse_size_arg)]
        part_size: u64,
    },
    /// Download a stored file by id; it gets its name only once its SHA-256
    /// matches the one the server recorded.
    Download {
        /// The file's id.
        id: String,
        /// Where to write it (a file, or a folder to put it in) [default:
        /// its own name, in the current folder].
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Copy the data dir to DEST (a new directory), consistently, while the
    /// gateway keeps serving; DEST is a data dir of its own, with a SQLite
    /// index whichever backend the source's index is on.
    Backup {
        /// The new directory to create.
        dest: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
        /// Data directory to copy (overrides `data_dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum IndexCommand {
    /// Copy the data dir's SQLite index into an empty PostgreSQL database
    /// (the gateway stopped); then set `[index]` to it and run `verify`.
    Migrate {
        /// The database: postgresql://user@host:port/database. A password
        /// here is visible to other users in `ps`: prefer the environment.
        #[arg(
            long,
            value_name = "URL",
            env = "STOWAGE_MIGRATE_TO",
            hide_env_values = true
        )]
        to: String,
        #[command(flatten)]
        config: ConfigArgs,
        /// Data directory whose index is copied (overrides `data_dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

/// Entry point used by `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            config,
            listen,
            data_dir,
            log_format,
        } => serve::serve(
            &config,
            Overrides { listen, data_dir },
            log_format == "json",
        ),
        Command::Token { command } => access::token(command),
        Command::Key { command } => access::key(command),
        Command::Index {
            command:
                IndexCommand::Migrate {
                    to,
                    config,
                    data_dir,
                },
        } => maintenance::migrate(&config, data_dir, &to),
        Command::Verify { config, data_dir } => maintenance::verify(&config, data_dir),
        Command::Backup {
            dest,
            config,
            data_dir,
        } => maintenance::backup(&config, data_dir, &dest),
        Command::Upload {
            paths,
            remote,
            jobs,
            parts_above,
            part_size,
        } => remote::upload(
            paths,
            remote,
            crate::client::upload::Options {
                jobs,
                parts_above,
                part_size,
            },
        ),
        Command::Download {
            id,
            output,
            force,
            remote,
        } => remote::download(id, output, force, remote),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) if msg.is_empty() => ExitCode::FAILURE,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}
