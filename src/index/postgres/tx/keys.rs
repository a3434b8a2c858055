//! API tokens (by hash) and S3 access keys.

use async_trait::async_trait;
use tokio_postgres::Row;

use super::{all, get, text, unstorable, PgTx};
use crate::index::tx::{KeyRows, TxResult};
use crate::index::{AccessKey, IndexError, TokenRecord};
use crate::store::Digest;

fn token_from_row(r: &Row) -> TxResult<TokenRecord> {
    let scopes: &str = get(r, 1, "tokens.scopes")?;
    Ok(TokenRecord {
        name: get(r, 0, "tokens.name")?,
        scopes: scopes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        created_at: get(r, 2, "tokens.created_at")?,
        revoked_at: get(r, 3, "tokens.revoked_at")?,
    })
}

#[async_trait]
impl KeyRows for PgTx<'_> {
    async fn insert_token(
        &mut self,
        name: &str,
        token_hash: &Digest,
        scopes: &[String],
        now: i64,
    ) -> TxResult<bool> {
        let scopes = scopes.join(",");
        Ok(self
            .exec(
                "INSERT INTO tokens (name, token_hash, scopes, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[
                    &text("token name", name)?,
                    &token_hash.hex(),
                    &text("token scopes", &scopes)?,
                    &now,
                ],
            )
            .await?
            > 0)
    }

    async fn find_token(&mut self, token_hash: &Digest) -> TxResult<Option<TokenRecord>> {
        self.opt(
            "SELECT name, scopes, created_at, revoked_at FROM tokens \
             WHERE token_hash = $1 AND revoked_at IS NULL",
            &[&token_hash.hex()],
        )
        .await?
        .as_ref()
        .map(token_from_row)
        .transpose()
    }

    async fn list_tokens(&mut self) -> TxResult<Vec<TokenRecord>> {
        all(
            self.query(
                "SELECT name, scopes, created_at, revoked_at FROM tokens \
                 ORDER BY created_at, name",
                &[],
            )
            .await?,
            token_from_row,
        )
    }

    async fn revoke_token(&mut self, name: &str, now: i64) -> TxResult<bool> {
        if unstorable(&[name]) {
            // No row can hold it: there is none to find.
            return Ok(false);
        }
        Ok(self
            .exec(
                "UPDATE tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
                &[&text("token name", name)?, &now],
            )
            .await?
            > 0)
    }

    async fn token_count(&mut self) -> TxResult<u64> {
        let r = self.query("SELECT count(*) FROM tokens", &[]).await?;
        let r = r.first().ok_or(IndexError::Corrupt("tokens"))?;
        Ok(get::<i64>(r, 0, "tokens")?.max(0) as u64)
    }

    async fn insert_access_key(&mut self, key: &AccessKey) -> TxResult<bool> {
        Ok(self
            .exec(
                "INSERT INTO access_keys (access_key_id, secret, name, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[
                    &text("access key id", &key.access_key_id)?,
                    &text("secret", &key.secret)?,
                    &text("access key name", &key.name)?,
                    &key.created_at,
                ],
            )
            .await?
            > 0)
    }

    async fn list_access_keys(&mut self) -> TxResult<Vec<AccessKey>> {
        all(
            self.query(
                "SELECT access_key_id, secret, name, created_at, revoked_at FROM access_keys \
                 ORDER BY name",
                &[],
            )
            .await?,
            |r| {
                Ok(AccessKey {
                    access_key_id: get(r, 0, "access_keys.access_key_id")?,
                    secret: get(r, 1, "access_keys.secret")?,
                    name: get(r, 2, "access_keys.name")?,
                    created_at: get(r, 3, "access_keys.created_at")?,
                    revoked_at: get(r, 4, "access_keys.revoked_at")?,
                })
            },
        )
    }

    async fn revoke_access_key(&mut self, name: &str, now: i64) -> TxResult<bool> {
        if unstorable(&[name]) {
            // No row can hold it: there is none to find.
            return Ok(false);
        }
        Ok(self
            .exec(
                "UPDATE access_keys SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
                &[&text("access key name", name)?, &now],
            )
            .await?
            > 0)
    }

    async fn access_key_secret(&mut self, access_key_id: &str) -> TxResult<Option<String>> {
        if unstorable(&[access_key_id]) {
            // No row can hold it: there is none to find.
            return Ok(None);
        }
        self.opt(
            "SELECT secret FROM access_keys WHERE access_key_id = $1 AND revoked_at IS NULL",
            &[&text("access key id", access_key_id)?],
        )
        .await?
        .map(|r| get(&r, 0, "access_keys.secret"))
        .transpose()
    }

    async fn access_key_named(&mut self, name: &str) -> TxResult<Option<String>> {
        if unstorable(&[name]) {
            // No row can hold it: there is none to find.
            return Ok(None);
        }
        self.opt(
            "SELECT access_key_id FROM access_keys WHERE name = $1 AND revoked_at IS NULL",
            &[&text("access key name", name)?],
        )
        .await?
        .map(|r| get(&r, 0, "access_keys.access_key_id"))
        .transpose()
    }
}
