//! Integration tests: the real server over real sockets, with real SQLite
//! files and blobs on disk in a temp dir — or, with
//! `STOWAGE_TEST_INDEX=postgres`, each server's index in a PostgreSQL
//! database of its own (`index_db`), and with `STOWAGE_TEST_TOPOLOGY=cluster`
//! each server three gateways over that database and a Garage cluster,
//! behind one address (`topology`). One binary, one module per area.

mod api;
mod attacks;
mod backup_tools;
mod browser;
mod cli;
mod client;
mod cluster;
mod cors;
mod crash;
mod disk_full;
mod download;
mod garage;
mod harness;
mod hostile;
mod index_db;
mod interop;
mod interop_checksums;
mod interop_policy;
mod keys;
mod limits;
mod maintenance;
mod memory;
mod metrics;
mod migrate;
mod parts;
mod postgres;
mod proxy;
mod put;
mod recovery;
mod s3;
mod s3_acl;
mod s3_conditions;
mod s3_header;
mod s3_lifecycle;
mod s3_list_buckets;
mod s3_object_lock;
mod s3_part_number;
mod s3_policy;
mod s3_tagging;
mod s3_versioning;
mod served;
mod soak;
mod tls;
mod topology;
mod upstream;
mod webpage;
