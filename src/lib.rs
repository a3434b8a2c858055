//! Stowage: a self-hosted storage gateway. One binary serves a JSON upload
//! API, signs its own AWS SigV4 presigned URLs, and serves the PUTs and GETs
//! those URLs authorise from local disk, verifying signature, expiry,
//! Content-Type, size and SHA-256 before anything is committed.
//!
//! # Layout
//!
//! Layers only point down (`tests/layout.rs` holds it: no import loop
//! among the files, and the top-level modules in the order below).
//!
//! - [`cli`] and [`client`]: the `stowage` command line; `stowage upload` /
//!   `download`, a client of the public API sharing nothing with the server
//!   but the binary.
//! - [`server`]: accept loop, connection limits, request ids, access log,
//!   housekeeping timer.
//! - [`api`]: the HTTP surfaces. `api/mod.rs` picks the surface and renders
//!   every refusal once (JSON or S3 XML); `api/inspect/` is the JSON API,
//!   `api/s3/` the S3 API (each request parsed once into an `Endpoint`,
//!   authorized on that value by `api/s3/authz.rs`); signatures
//!   (`api/sigauth.rs`), tokens (`api/auth.rs`), bodies (`api/ingest.rs`)
//!   and the presigned PUT/GET (`api/presigned.rs`) serve both surfaces.
//! - [`app`]: the shared state every request sees.
//! - [`storage`]: the storage service — the commit protocol
//!   (`storage/commit.rs`), every rule of files, objects, buckets,
//!   multipart uploads and keys, recovery and the sweep.
//! - [`index`]: rows behind the [`index::Index`] trait (transaction bodies
//!   over [`index::Tx`], and locks that hold across gateways), on SQLite or
//!   PostgreSQL, one contract suite for both; whole-index copies between
//!   them (`index/transfer/`).
//! - [`store`]: blob bytes, content-addressed, durable commit order (blobs
//!   above 64 KiB; smaller ones live inline in the index).
//! - [`upstream`]: Stowage's own S3 client (signed by [`sigv4`], over
//!   hyper): objects, ranges, multipart uploads, listings and the
//!   streaming [`upstream::Upload`] writer, for bytes kept in an S3 store
//!   (Garage or any S3-compatible one).
//! - [`config`]: `config.toml` + `STOWAGE_*` env + flags, validated.
//! - [`sigv4`]: pure AWS Signature V4 (and V2) — canonical request,
//!   signing key, presign, verify. No I/O; the clock is passed in.
//! - [`ops`]: maintenance — `verify` (fsck), `backup` (one format, a SQLite
//!   data dir, from either backend), `index migrate` (SQLite to PostgreSQL),
//!   and the data dir's lock that `serve` holds.
//! - [`tokens`], [`metrics`], [`throttle`], [`tls`], [`failpoint`] (a test-only delay inside the commit
//!   sequence), and small leaves ([`clock`], [`random`], [`headers`],
//!   [`md5_lane`]).
//!
//! The upload flow: `POST …/upload/presigned` (`api/inspect/upload.rs`)
//! records the declaration through the storage service and returns a URL
//! carrying all of it (`api/presigned.rs` signs it with `sigv4`); the
//! client PUTs the bytes (`api/presigned.rs` verifies the signature and
//! expiry, `api/ingest.rs` streams them, `storage/commit.rs` publishes and
//! records them in one step); `POST …/upload/complete` marks the file
//! completed; `GET …/file/{id}` returns metadata and a presigned download
//! URL.

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
pub mod policy;
pub mod random;
pub mod server;
pub mod sigv4;
pub mod storage;
pub mod store;
pub mod throttle;
pub mod tls;
pub mod tokens;
pub mod upstream;

#[cfg(test)]
mod testing;
