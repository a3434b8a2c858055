//! The PostgreSQL backend's tests: the contract every backend keeps
//! (`crate::index::contract`), each check on a database of its own, and
//! what only this backend has — conflicts run again, values it cannot
//! store, its schema versions, a server that goes away and comes back.

/// The contract of every index backend.
mod contract {
    crate::index::contract::contract_tests!(super::super::testing::dyn_index());
}
