//! Maintenance of a data dir from the command line: `stowage verify` (an
//! fsck that rehashes every blob) and `stowage backup` (a consistent online
//! copy). Both work through the storage service
//! ([`crate::storage::Storage`]; the backup copies the SQLite index file
//! itself), read the live data dir only, and may run beside a serving
//! gateway.

pub mod backup;
pub mod verify;
