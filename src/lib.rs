//! Stowage: a self-hosted storage gateway. One binary serves a JSON upload
//! API, signs its own AWS SigV4 presigned URLs, and serves the PUTs and GETs
//! those URLs authorise from local disk, verifying signature, expiry,
//! Content-Type, size and SHA-256 before anything is committed.
//!
//! # Layout
//!
//! - [`sigv4`]: pure AWS Signature V4 — canonical request, signing key,
//!   presign, verify. No I/O; the clock is passed in.
//! - [`config`]: `config.toml` + `STOWAGE_*` env + flags, validated.
//! - [`api`]: HTTP routing and handlers, one file per operation family, and
//!   the one error type rendered as JSON or S3 XML. An S3 request is
//!   parsed once (`api/s3/router.rs`: bucket, key, query, operation) and
//!   authorized on that value (`api/s3/auth.rs`) before its handler gets
//!   the same value.
//! - [`server`]: accept loop, request ids, access log, housekeeping timer.
//! - [`app`]: the shared state every request sees.
//! - [`store`]: blob bytes on disk, content-addressed, durable commit order
//!   (blobs above 64 KiB; smaller ones live inline in the index).
//! - [`index`]: the index — files, tokens, buckets, objects, multipart
//!   uploads, small blobs — as rows that transaction bodies read and write:
//!   SQLite (group commit through its own index and sync threads, WAL
//!   checkpoints off the commit path) or PostgreSQL (a connection pool,
//!   serializable transactions run again on conflict); migrations of both;
//!   whole-index copies between them (`index/transfer/`).
//! - [`tokens`]: API bearer tokens (stored only as hashes).
//! - [`metrics`]: Prometheus counters and the `/metrics` text.
//! - [`failpoint`]: a test-only delay inside the commit sequence.
//! - [`ops`]: maintenance commands — `verify` (fsck), `backup` (one format,
//!   a SQLite data dir, from either backend) and `index migrate` (SQLite to
//!   PostgreSQL) — and the data dir's lock that `serve` holds.
//! - [`cli`]: the `stowage` command line.
//! - [`client`]: `stowage upload` / `download`, a client of the public API
//!   (retries, progress, part-wise resume), sharing nothing with the server
//!   but the binary.
//!
//! The upload flow: `POST …/upload/presigned` (api/upload.rs) records the
//! declaration and returns a URL carrying all of it (api/presigned.rs signs
//! it with sigv4); the client PUTs the bytes (api/presigned.rs verifies,
//! api/s3/ingest.rs streams them into store or gathers a small body, the
//! row is marked in the index); `POST …/upload/complete` marks it completed; `GET
//! …/file/{id}` returns metadata and a presigned download URL.

pub mod api;
pub mod app;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod failpoint;
pub mod headers;
pub mod index;
pub mod md5_lane;
pub mod metrics;
pub mod ops;
pub mod random;
pub mod server;
pub mod sigv4;
pub mod storage;
pub mod store;
pub mod throttle;
pub mod tls;
pub mod tokens;

#[cfg(test)]
mod testing;
