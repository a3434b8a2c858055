//! Tests of configuration, one file per file of `config/` they exercise.
//!
//! Owns checking that every setting resolves to its default, its file value
//! or its environment value, and that every mistake names its key and never
//! a secret. Must never read the process environment: lookups are closures.

mod blob_store;
mod credentials;
mod defaults;
mod file;
mod index;
mod limits;
mod public_url;
mod resolve;
