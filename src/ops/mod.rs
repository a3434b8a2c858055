//! Maintenance of a data dir from the command line: `stowage verify` (an
//! fsck that rehashes every blob) and `stowage backup` (a consistent online
//! copy). Both work through the [`crate::index::Index`] and
//! [`crate::store::BlobStore`] interfaces, read the live data dir only, and
//! may run beside a serving gateway.

pub mod backup;
pub mod verify;
