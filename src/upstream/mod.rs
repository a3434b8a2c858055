//! Stowage's own S3 client: the one way the gateway talks to an S3 store
//! that holds bytes for it (the blob backend over Garage or any
//! S3-compatible store now; replication to a head office and tiering
//! later).
//!
//! Owns: building, signing (with our own [`crate::sigv4`]) and sending
//! requests over hyper with rustls (system roots plus an optional CA
//! file); streaming bodies both ways, never a whole object in memory;
//! proving each body's integrity in transit ([`Integrity`], CRC32C for
//! our own parts); the per-request connect and idle timeouts; reading
//! S3's XML; and sorting failures into the kinds the storage layer acts on
//! ([`UpstreamError`]).
//!
//! Must never: decide anything about the data (conditional writes, ids,
//! refcounts are the index's: a store's compare-and-swap is not trusted),
//! log or return a secret, a signature or a response body, or name the
//! storage layer above it.
//!
//! One concept per file:
//! - [`config`]: [`Config`], checked into a request [`config::Target`].
//! - [`connect`]: the TLS connector (shared with `client/http.rs`).
//! - [`client`]: [`Client`]: signing, sending, timeouts, refusals.
//! - [`object`]: put, get (ranges), head, delete.
//! - [`multipart`]: create, upload a part, complete, abort, list uploads.
//! - [`list`]: ListObjectsV2, paged.
//! - [`upload`]: [`Upload`], the streaming writer, over [`parts`]'
//!   [`parts::PartBuffer`].
//! - [`body`]: [`Body`] (sent) and [`ObjectStream`] (received).
//! - [`model`]: [`Integrity`], [`Part`], [`ObjectEntry`], [`PendingUpload`].
//! - [`xml`]: S3's XML, read and written.
//! - [`error`]: [`UpstreamError`], the kinds of failure.

pub mod body;
pub mod client;
pub mod config;
pub mod connect;
pub mod error;
pub mod list;
pub mod model;
pub mod multipart;
pub mod object;
pub mod parts;
pub mod upload;
pub mod xml;

pub use body::{Body, ObjectStream};
pub use client::Client;
pub use config::{Config, DEFAULT_CONNECT_TIMEOUT, DEFAULT_IDLE_TIMEOUT};
pub use error::UpstreamError;
pub use model::{Integrity, ObjectEntry, Part, PendingUpload};
pub use multipart::MAX_PARTS;
pub use upload::{Upload, DEFAULT_PART_SIZE, MAX_PART_SIZE, MIN_PART_SIZE};
