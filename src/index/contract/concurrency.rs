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
            tx.set_bucket_cors("counter", Some("0")).await?;
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
                    tx.set_bucket_cors("counter", Some(&next)).await?;
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
