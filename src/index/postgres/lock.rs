//! Locks across gateways: PostgreSQL's session advisory locks, on one
//! connection of this gateway's own (not the pool's, whose connections
//! come and go), taken after this process's lock of the same name.
//!
//! A lock another gateway holds is tried again after a short, growing
//! wait (`pg_try_advisory_lock`): contention between gateways is for the
//! same content or the same file at the same moment, which is rare, and
//! a blocking `pg_advisory_lock` would hold up every other lock of this
//! connection meanwhile. Release is sent when the guard drops.
//!
//! If the lock connection breaks, the server releases every lock it held
//! (a crashed gateway cannot leave a lock behind); the next lock connects
//! again. Holders at that moment keep their in-process lock but no longer
//! exclude other gateways until they release — logged, and the reason the
//! steps these locks guard are each also decided inside a transaction.

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::{Client, NoTls};

use super::error::index_error;
use crate::index::lock::{IndexLock, LocalLocks, LockMode, LockName};
use crate::index::IndexError;

/// First wait before trying a lock another gateway holds again.
const RETRY_FIRST: Duration = Duration::from_millis(2);
/// Longest wait between tries.
const RETRY_CAP: Duration = Duration::from_millis(100);

/// The locks of one gateway on one database.
pub(super) struct PgLocks {
    config: tokio_postgres::Config,
    local: LocalLocks,
    /// The lock connection, made on first use and again after it breaks.
    client: tokio::sync::Mutex<Option<Arc<Client>>>,
}

/// Sends the release of an advisory lock when dropped.
struct Remote {
    client: Arc<Client>,
    keys: (i32, i32),
    mode: LockMode,
}

impl Drop for Remote {
    fn drop(&mut self) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            // No runtime left (shutting down): the connection closes with
            // the process, and the server releases the lock then.
            return;
        };
        let (client, keys, mode) = (self.client.clone(), self.keys, self.mode);
        rt.spawn(async move {
            let sql = match mode {
                LockMode::Exclusive => "SELECT pg_advisory_unlock($1, $2)",
                LockMode::Shared => "SELECT pg_advisory_unlock_shared($1, $2)",
            };
            if let Err(e) = client.query_one(sql, &[&keys.0, &keys.1]).await {
                // Closed: the server released it with the session.
                if !e.is_closed() {
                    tracing::warn!(error = %e, "could not release an index lock");
                }
            }
        });
    }
}

impl PgLocks {
    pub(super) fn new(config: tokio_postgres::Config) -> Self {
        PgLocks {
            config,
            local: LocalLocks::default(),
            client: tokio::sync::Mutex::new(None),
        }
    }

    /// The lock connection, connecting if there is none or it broke.
    async fn client(&self) -> Result<Arc<Client>, IndexError> {
        let mut c = self.client.lock().await;
        if let Some(client) = c.as_ref().filter(|c| !c.is_closed()) {
            return Ok(client.clone());
        }
        if c.is_some() {
            tracing::warn!(
                "the index lock connection to PostgreSQL broke; locks held through it were \
                 released by the server; connecting again"
            );
        }
        let (client, conn) = self.config.connect(NoTls).await.map_err(index_error)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let client = Arc::new(client);
        *c = Some(client.clone());
        Ok(client)
    }

    /// One try of the advisory lock.
    async fn try_remote(
        &self,
        name: LockName,
        mode: LockMode,
    ) -> Result<Option<Remote>, IndexError> {
        let client = self.client().await?;
        let keys = name.advisory_keys();
        let sql = match mode {
            LockMode::Exclusive => "SELECT pg_try_advisory_lock($1, $2)",
            LockMode::Shared => "SELECT pg_try_advisory_lock_shared($1, $2)",
        };
        let got: bool = client
            .query_one(sql, &[&keys.0, &keys.1])
            .await
            .map_err(index_error)?
            .try_get(0)
            .map_err(index_error)?;
        Ok(got.then_some(Remote { client, keys, mode }))
    }

    pub(super) async fn lock(
        &self,
        name: LockName,
        mode: LockMode,
    ) -> Result<IndexLock, IndexError> {
        let local = self.local.lock(name, mode).await;
        let mut wait = RETRY_FIRST;
        loop {
            if let Some(remote) = self.try_remote(name, mode).await? {
                return Ok(IndexLock::new(local, Some(Box::new(remote))));
            }
            tokio::time::sleep(wait.mul_f64(0.5 + crate::random::unit_f64() / 2.0)).await;
            wait = (wait * 2).min(RETRY_CAP);
        }
    }

    pub(super) async fn try_lock(
        &self,
        name: LockName,
        mode: LockMode,
    ) -> Result<Option<IndexLock>, IndexError> {
        let Some(local) = self.local.try_lock(name, mode) else {
            return Ok(None);
        };
        Ok(self
            .try_remote(name, mode)
            .await?
            .map(|remote| IndexLock::new(local, Some(Box::new(remote)))))
    }
}
