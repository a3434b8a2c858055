//! PostgreSQL implementation of [`Index`]: transaction bodies run on a pool
//! of connections (deadpool-postgres over tokio-postgres), several
//! gateways may share one database.
//!
//! Every write body runs in a SERIALIZABLE transaction, so concurrent
//! bodies — from this process or another — commit as if one after the
//! other: one answer per id and per key, a blob never released while a row
//! refers to it. A body that conflicts with another (SQLSTATE 40001, or a
//! deadlock, 40P01) is rolled back and run again, a bounded number of times
//! with jittered backoff, then answered [`IndexError::Unavailable`]. Bodies
//! are re-runnable by contract (they only read and write rows). One gateway
//! runs its write bodies one at a time ([`WRITERS`]), so its own never
//! conflict; reads run side by side, each in one REPEATABLE READ READ ONLY
//! transaction: one snapshot. Connections idle a few seconds are closed.
//!
//! Durability: commits wait for PostgreSQL's WAL flush (`synchronous_commit`
//! is left on), so a write is durable when it is answered, and so is
//! everything a read sees; neither `durable` nor `fresh` changes anything
//! here.
//!
//! Where the server is down or unreachable, a body is answered
//! [`IndexError::Unavailable`] (the API answers 503); the pool connects
//! again when the server is back. This module must never let a
//! tokio-postgres type cross the [`Index`] trait: every error becomes an
//! [`IndexError`] in `error.rs`.

pub(super) mod error;
mod lock;
mod tx;

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures_util::future::BoxFuture;
use tokio_postgres::{IsolationLevel, NoTls};

use super::lock::{IndexLock, LockMode, LockName};
use super::{migrations, Body, Index, IndexError, MustBeDurable};
use error::{index_error, is_conflict, pool_error};
use tx::PgTx;

/// Connections one gateway keeps at most. Bodies are short (a few
/// statements), so a request rarely waits for one.
const POOL_SIZE: usize = 16;
/// How long a body waits for a free connection, or for a new one to be
/// made, before the index is answered unavailable.
const POOL_WAIT: Duration = Duration::from_secs(5);
/// Connecting to a server that does not answer gives up after this long
/// (unless the URL sets `connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Write transactions one gateway runs at once: one, as SQLite's single
/// writer. SERIALIZABLE tracks reads by index page, so bodies that only
/// look up and insert different keys still conflict when the keys share a
/// page (a small table has one page): in the soak test (64 clients), four
/// writers at once had 20 of ~4700 requests give up after ten runs (503),
/// two had none but fewer requests served than one. Transactions of other
/// processes (another gateway, a command) are still ordered by PostgreSQL,
/// and a conflict with them is run again.
const WRITERS: usize = 1;
/// A connection unused this long is closed.
const IDLE: Duration = Duration::from_secs(4);
/// Runs of one body before a conflict that keeps coming back is answered
/// unavailable.
const MAX_ATTEMPTS: u32 = 10;
/// Backoff before the second run; doubled for each later one, capped.
const BACKOFF_FIRST: Duration = Duration::from_millis(2);
const BACKOFF_CAP: Duration = Duration::from_millis(250);

pub struct PostgresIndex {
    pool: Pool,
    /// Write bodies of this gateway running at once (see [`WRITERS`]).
    writers: Arc<tokio::sync::Semaphore>,
    /// Bodies run again after a conflict (for tests and the log).
    retries: Arc<AtomicU64>,
    /// Whether the task that closes idle connections runs (it starts with
    /// the first body, in the runtime that runs bodies).
    reaping: std::sync::Once,
    /// The storage service's locks, held across gateways.
    locks: lock::PgLocks,
}

impl PostgresIndex {
    /// Connects to the database at `url` (`postgresql://user@host:port/db`),
    /// brings its schema up to date (refusing a newer one) and makes the
    /// pool. May be called from inside or outside a runtime: the migration
    /// runs on a thread of its own, and the pool connects on demand, in
    /// the runtime of whoever runs a body.
    pub fn open(url: &str) -> Result<Self, IndexError> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            IndexError::Backend(format!("the index URL is not a PostgreSQL URL: {e}"))
        })?;
        Self::open_config(config)
    }

    /// [`Self::open`] with the connection settings parsed.
    fn open_config(mut config: tokio_postgres::Config) -> Result<Self, IndexError> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("stowage");
        }
        // A commit is answered only once it is flushed, whatever the
        // server's default says (an operator may still choose a stronger
        // level, e.g. remote_apply, in the URL's `options`).
        let mut options = config.get_options().unwrap_or_default().to_string();
        if !options.contains("synchronous_commit") {
            options.push_str(" -c synchronous_commit=on");
        }
        // SERIALIZABLE tracks what each transaction read: by index page when
        // a statement reads through an index, by whole table when it scans
        // one. On small tables the planner prefers scans, and then any two
        // writers of a table conflict, each run again and again (measured:
        // most presigns of 64 concurrent clients, all of different ids).
        // Every lookup of a body has an index, so the planner is told to
        // use them.
        if !options.contains("enable_seqscan") {
            options.push_str(" -c enable_seqscan=off -c enable_bitmapscan=off");
        }
        config.options(options.trim());
        let c = config.clone();
        std::thread::Builder::new()
            .name("stowage-migrate".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| IndexError::Backend(format!("cannot start a runtime: {e}")))?;
                rt.block_on(async move {
                    let (mut client, conn) = c.connect(NoTls).await.map_err(index_error)?;
                    let conn = tokio::spawn(conn);
                    let r = migrations::migrate_postgres(&mut client).await;
                    drop(client);
                    let _ = conn.await;
                    r
                })
            })
            .map_err(|e| IndexError::Backend(format!("cannot start a thread: {e}")))?
            .join()
            .map_err(|_| IndexError::Backend("the migration of the index panicked".into()))??;
        let locks = lock::PgLocks::new(config.clone());
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A closed connection is seen as such and replaced; one that
                // fails its first statement fails that body (unavailable),
                // and the pool drops it.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .recycle_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| IndexError::Backend(format!("cannot make the connection pool: {e}")))?;
        Ok(PostgresIndex {
            pool,
            writers: Arc::new(tokio::sync::Semaphore::new(WRITERS)),
            retries: Arc::new(AtomicU64::new(0)),
            reaping: std::sync::Once::new(),
            locks,
        })
    }

    /// Bodies run again after a conflict so far.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Runs `body` to an answer in its own task, so that a caller that
    /// goes away (a client hung up) never stops a transaction half-way.
    fn run(
        &self,
        body: Body,
        kind: Kind,
    ) -> BoxFuture<'_, Result<Box<dyn Any + Send>, IndexError>> {
        self.reaping
            .call_once(|| drop(tokio::spawn(close_idle(self.pool.weak()))));
        let pool = self.pool.clone();
        let retries = self.retries.clone();
        let writers = (kind == Kind::Write).then(|| self.writers.clone());
        Box::pin(async move {
            tokio::spawn(run_body(pool, writers, body, kind, retries))
                .await
                .map_err(|e| IndexError::Backend(format!("a transaction body failed: {e}")))?
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Write,
    Read,
}

/// How one run of a body ended, when not with an answer.
enum Failed {
    /// It conflicted with a concurrent transaction (or its connection was
    /// found closed before anything ran): nothing was kept, run it again.
    Retry(IndexError),
    /// Its own error, or the server's: nothing was kept; answered as is.
    Final(IndexError),
}

async fn run_body(
    pool: Pool,
    writers: Option<Arc<tokio::sync::Semaphore>>,
    mut body: Body,
    kind: Kind,
    retries: Arc<AtomicU64>,
) -> Result<Box<dyn Any + Send>, IndexError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        // Held for one run, not across the backoff.
        let permit = match &writers {
            Some(w) => Some(
                w.clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| IndexError::Unavailable("the index is closing".into()))?,
            ),
            None => None,
        };
        let outcome = run_once(&pool, &mut body, kind).await;
        drop(permit);
        match outcome {
            Ok(answer) => return Ok(answer),
            Err(Failed::Final(e)) => return Err(e),
            Err(Failed::Retry(e)) if attempt >= MAX_ATTEMPTS => {
                tracing::warn!(error = %e, attempts = attempt, "an index transaction kept conflicting");
                return Err(IndexError::Unavailable(format!(
                    "a transaction conflicted with concurrent ones {attempt} times: {e}"
                )));
            }
            Err(Failed::Retry(_)) => {
                retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
    }
}

/// Closes the connections of the pool unused for [`IDLE`], so a gateway
/// that was busy gives its server back what it took (and holds no more
/// descriptors idle than before); ends with the pool.
async fn close_idle(pool: deadpool_postgres::WeakPool) {
    loop {
        tokio::time::sleep(IDLE / 4).await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        pool.retain(|_, m| m.last_used() < IDLE);
    }
}

/// The wait before run `attempt + 1`: exponential, capped, and jittered
/// (half to all of it) so that bodies that conflicted do not meet again.
fn backoff(attempt: u32) -> Duration {
    let full = BACKOFF_FIRST
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_CAP);
    full.mul_f64(0.5 + crate::random::unit_f64() / 2.0)
}

async fn run_once(pool: &Pool, body: &mut Body, kind: Kind) -> Result<Box<dyn Any + Send>, Failed> {
    let mut client = pool.get().await.map_err(|e| Failed::Final(pool_error(e)))?;
    let builder = client.build_transaction();
    let builder = match kind {
        Kind::Write => builder.isolation_level(IsolationLevel::Serializable),
        Kind::Read => builder
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true),
    };
    let tx = match builder.start().await {
        Ok(tx) => tx,
        // Nothing ran: a connection the server closed since it was
        // pooled (a restart) is replaced by the next try.
        Err(e) if e.is_closed() => return Err(Failed::Retry(index_error(e))),
        Err(e) => return Err(classify(e)),
    };
    let mut t = PgTx::new(tx);
    let answer = body(&mut t).await;
    let conflict = t.conflict.take();
    match (answer, conflict) {
        (Ok(answer), None) => match t.into_inner().commit().await {
            Ok(()) => Ok(answer),
            Err(e) => Err(classify(e)),
        },
        // A conflict the body did not pass on is a conflict all the same:
        // the transaction is aborted, whatever the body made of it.
        (_, Some(e)) => {
            let _ = t.into_inner().rollback().await;
            Err(Failed::Retry(e))
        }
        (Err(e), None) => {
            let _ = t.into_inner().rollback().await;
            Err(Failed::Final(e))
        }
    }
}

/// A failed statement or commit: run again if it was a conflict.
fn classify(e: tokio_postgres::Error) -> Failed {
    if is_conflict(&e) {
        Failed::Retry(index_error(e))
    } else {
        Failed::Final(index_error(e))
    }
}

impl Index for PostgresIndex {
    fn lock(&self, name: LockName, mode: LockMode) -> BoxFuture<'_, Result<IndexLock, IndexError>> {
        Box::pin(self.locks.lock(name, mode))
    }

    fn try_lock(
        &self,
        name: LockName,
        mode: LockMode,
    ) -> BoxFuture<'_, Result<Option<IndexLock>, IndexError>> {
        Box::pin(self.locks.try_lock(name, mode))
    }

    fn run_write(
        &self,
        body: Body,
        _durable: MustBeDurable,
    ) -> BoxFuture<'_, Result<Box<dyn Any + Send>, IndexError>> {
        // Every commit is durable when answered (synchronous_commit).
        self.run(body, Kind::Write)
    }

    fn run_read(
        &self,
        body: Body,
        _fresh: bool,
    ) -> BoxFuture<'_, Result<Box<dyn Any + Send>, IndexError>> {
        // A snapshot shows only committed, hence durable, transactions.
        self.run(body, Kind::Read)
    }
}
