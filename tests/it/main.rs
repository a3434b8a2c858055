//! Integration tests: the real server over real sockets, with real SQLite
//! files and blobs on disk in a temp dir. One binary, one module per area.

mod api;
mod cli;
mod download;
mod harness;
mod hostile;
mod interop;
mod limits;
mod memory;
mod put;
mod recovery;
mod s3;
mod s3_header;
