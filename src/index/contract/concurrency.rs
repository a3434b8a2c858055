//! Concurrent write bodies decide one way: as if run one after another,
//! whatever the backend does to get there (SQLite runs them one at a time;
//! PostgreSQL runs them side by side and runs a loser of a conflict
//! again).

use std::sync::Arc;

use super::{read, write};
use crate::index::Index;

/// Tasks racing in each check.
const RACERS: usize = 20;

/// Twenty tasks each insert a bucket if it is absent and answer whether
/// they did: exactly one did, and the bucket is that one's.
pub async fn concurrent_inserts_decide_one_way(index: Arc<dyn Index>) {
    let mut tasks = Vec::new();
    for n in 0..RACERS {
        let index = index.clone();
        tasks.push(tokio::spawn(async move {
            write(&index, format!("AK{n}"), |tx, owner| {
                Box::pin(async move {
                    if tx.get_bucket("contested").await?.is_some() {
                        return Ok(None);
                    }
                    tx.insert_bucket("contested", Some(&owner), 1).await?;
                    Ok(Some(owner))
                })
            })
            .await
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        if let Some(owner) = t.await.expect("a racer").expect("an answer") {
            winners.push(owner);
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let owner = read(&index, (), |tx, ()| {
        Box::pin(async move { tx.get_bucket("contested").await })
    })
    .await
    .unwrap()
    .and_then(|b| b.owner);
    assert_eq!(owner.as_ref(), winners.first());
}

/// Tasks each read a counter and write it back one higher (a read, then a
/// write of what it read: where bodies run side by side, all but one of a
/// conflict must run again): none of the increments is lost.
pub async fn conflicting_updates_each_count_once(index: Arc<dyn Index>) {
    write(&index, (), |tx, ()| {
        Box::pin(async move {
            tx.insert_bucket("counter", None, 1).await?;
            tx.set_bucket_text("counter", crate::index::BucketText::Cors, Some("0"))
                .await?;
            Ok(())
        })
    })
    .await
    .unwrap();
    let racers = RACERS / 2;
    let mut tasks = Vec::new();
    for _ in 0..racers {
        let index = index.clone();
        tasks.push(tokio::spawn(async move {
            write(&index, (), |tx, ()| {
                Box::pin(async move {
                    let now: u64 = tx
                        .get_bucket("counter")
                        .await?
                        .and_then(|b| b.cors)
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(0);
                    let next = (now + 1).to_string();
                    tx.set_bucket_text("counter", crate::index::BucketText::Cors, Some(&next))
                        .await?;
                    Ok(now)
                })
            })
            .await
        }));
    }
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.expect("a racer").expect("an answer"));
    }
    seen.sort();
    // Each saw a different value: one after the other.
    assert_eq!(seen, (0..racers as u64).collect::<Vec<_>>());
    let last = read(&index, (), |tx, ()| {
        Box::pin(async move { tx.get_bucket("counter").await })
    })
    .await
    .unwrap()
    .and_then(|b| b.cors);
    assert_eq!(last, Some(racers.to_string()));
}

/// The object `n` of the racers writes at `cond/k`: its own blob and ETag.
fn racer_object(n: usize) -> crate::index::ObjectRecord {
    crate::index::ObjectRecord {
        version_id: crate::index::NULL_VERSION.into(),
        bucket: "cond".into(),
        key: "k".into(),
        sha256: crate::store::Digest([n as u8; 32]),
        size: 1,
        etag: format!("e{n}"),
        content_type: "text/plain".into(),
        meta: crate::index::ObjectMeta::default(),
        last_modified: n as i64,
    }
}

/// Records racer `n`'s object if the key's object has the ETag `want`
/// (`None`: if there is none) — the read and the write of a conditional
/// write, in one body; whether it did.
async fn put_if(
    tx: &mut dyn crate::index::Tx,
    n: usize,
    want: Option<&str>,
) -> crate::index::TxResult<bool> {
    let now = tx.get_object("cond", "k").await?;
    if now.as_ref().map(|o| o.etag.as_str()) != want {
        return Ok(false);
    }
    let obj = racer_object(n);
    let blob = crate::index::BlobInfo {
        sha256: obj.sha256,
        size: 1,
        md5: None,
    };
    tx.record_blob(&blob, None, 1, false).await?;
    tx.put_object(&obj).await?;
    Ok(true)
}

/// Runs `RACERS` conditional writes of one key at once (racer `n` writes
/// `racer_object(n)` if the key's ETag is `want`); the winners, and the
/// object the key ends with.
async fn race_for_the_key(
    index: &Arc<dyn Index>,
    want: Option<&'static str>,
) -> (Vec<usize>, Option<crate::index::ObjectRecord>) {
    let mut tasks = Vec::new();
    for n in 1..=RACERS {
        let index = index.clone();
        tasks.push(tokio::spawn(async move {
            let won = write(&index, (n, want), |tx, (n, want)| {
                Box::pin(async move { put_if(tx, n, want).await })
            })
            .await;
            (n, won)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (n, won) = t.await.expect("a racer");
        if won.expect("an answer") {
            winners.push(n);
        }
    }
    let last = read(index, (), |tx, ()| {
        Box::pin(async move { tx.get_object("cond", "k").await })
    })
    .await
    .unwrap();
    (winners, last)
}

/// Twenty bodies each create the same key only if it is absent: exactly
/// one does, and the key holds its object.
pub async fn racing_creates_of_one_key_let_exactly_one_win(index: Arc<dyn Index>) {
    write(&index, (), |tx, ()| {
        Box::pin(async move { tx.insert_bucket("cond", None, 1).await.map(drop) })
    })
    .await
    .unwrap();
    let (winners, last) = race_for_the_key(&index, None).await;
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(last, Some(racer_object(winners[0])));
}

/// Twenty bodies each replace the key's object only if its ETag is still
/// the first one's: exactly one does, and the key holds its object.
pub async fn racing_replacements_of_one_etag_let_exactly_one_win(index: Arc<dyn Index>) {
    write(&index, (), |tx, ()| {
        Box::pin(async move {
            tx.insert_bucket("cond", None, 1).await?;
            put_if(tx, 0, None).await.map(drop)
        })
    })
    .await
    .unwrap();
    let (winners, last) = race_for_the_key(&index, Some("e0")).await;
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(last, Some(racer_object(winners[0])));
}
