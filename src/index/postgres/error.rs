//! What a PostgreSQL or pool error means to the index's callers: a
//! conflict to run again, the server away ([`IndexError::Unavailable`], a
//! 503), a full disk, a value no row can hold, or a fault. No
//! tokio-postgres error crosses the `Index` trait; they all become
//! [`IndexError`] here.

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use crate::index::IndexError;

/// A serialization failure or a deadlock: the transaction lost to a
/// concurrent one and may simply be run again.
pub(super) fn is_conflict(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// What a tokio-postgres error means to the caller of the index.
pub(in crate::index) fn index_error(e: tokio_postgres::Error) -> IndexError {
    let Some(db) = e.as_db_error() else {
        // No answer from the server: it is down, unreachable, slow to
        // answer a connection (tokio-postgres' timeout error carries no
        // source: known by its text), or the connection broke.
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        if e.is_closed() || io || e.to_string().starts_with("timeout") {
            return IndexError::Unavailable(format!("PostgreSQL: {e}"));
        }
        return IndexError::Backend(format!("PostgreSQL: {e}"));
    };
    let code = db.code();
    let class = &code.code()[..2];
    if *code == SqlState::DISK_FULL {
        IndexError::DiskFull
    } else if class == "08" // connection exception
        || class == "53" // insufficient resources (too many connections, memory)
        || class == "57" // operator intervention (shutdown, cannot connect now)
        || class == "40"
    // a conflict that kept coming back
    {
        IndexError::Unavailable(format!("PostgreSQL: {}: {}", code.code(), db.message()))
    } else if *code == SqlState::CHARACTER_NOT_IN_REPERTOIRE
        || *code == SqlState::UNTRANSLATABLE_CHARACTER
    {
        // Checked before each statement (see `tx::text`); this is the
        // server saying the same of a value that got past.
        IndexError::NotStorable("value")
    } else {
        IndexError::Backend(format!("PostgreSQL: {}: {}", code.code(), db.message()))
    }
}

pub(super) fn pool_error(e: PoolError) -> IndexError {
    match e {
        PoolError::Backend(e) => index_error(e),
        PoolError::Timeout(_) => IndexError::Unavailable(
            "no connection to PostgreSQL could be had in time (the server is unreachable, or \
             every connection is busy)"
                .into(),
        ),
        PoolError::Closed => IndexError::Unavailable("the connection pool is closed".into()),
        e => IndexError::Backend(format!("the connection pool: {e}")),
    }
}
