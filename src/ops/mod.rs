//! Maintenance of a data dir from the command line: `stowage verify` (an
//! fsck that rehashes every blob), `stowage backup` (a consistent online
//! copy, the same SQLite data dir whichever backend the index is on) and
//! `stowage index migrate` (a SQLite index copied into PostgreSQL, the
//! gateway stopped), and the data dir's lock (`lock.rs`) that `serve`
//! holds and `migrate` takes. Verify and backup work through the storage
//! service ([`crate::storage::Storage`]; the backup copies the index
//! itself, through the index layer), read the live data dir only, and may
//! run beside a serving gateway.

pub mod backup;
pub mod lock;
pub mod migrate;
pub mod verify;
