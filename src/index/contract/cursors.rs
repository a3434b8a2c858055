//! Listings that go on: files (newest first, by the opaque [`Cursor`] a
//! page ends with), blobs in the store (the same), and objects (in S3's
//! order, after the last key seen). Between pages other transactions
//! insert and delete rows — the row a cursor came from among them — and
//! still no row present throughout is skipped or listed twice. Keys sort
//! by their UTF-8 bytes on every backend: case, accents, scripts and
//! characters outside the BMP included.
//!
//! The checks only ever hand back a cursor a page gave them: what is
//! inside one is the backend's business.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{declared, read, write};
use crate::index::{BlobInfo, Cursor, Declared, Index, ObjectMeta, ObjectRecord, Status};
use crate::store::Digest;

async fn insert_file(index: &Arc<dyn Index>) -> Declared {
    let d = declared(1);
    write(index, d.clone(), |tx, d| {
        Box::pin(async move { tx.insert_file(&d, Status::Pending, 1, 2, None).await })
    })
    .await
    .unwrap();
    d
}

async fn withdraw(index: &Arc<dyn Index>, id: uuid::Uuid) {
    let gone = write(index, id, |tx, id| {
        Box::pin(async move { tx.delete_pending_file(&id).await })
    })
    .await
    .unwrap();
    assert!(gone, "{id} was there to delete");
}

/// Pages through 30 files, 4 at a time. After each page two files are
/// made (newer than any cursor: never on a later page) and up to three
/// deleted: the one the page's cursor came from (every other page), one
/// already listed, and the oldest not yet listed. Every file there from
/// start to end is listed once, in the order made.
pub async fn files_page_without_skips_or_repeats_while_rows_come_and_go(index: Arc<dyn Index>) {
    let mut first = Vec::new();
    for _ in 0..30 {
        first.push(insert_file(&index).await.id);
    }
    let mut made_later = BTreeSet::new();
    let mut deleted = BTreeSet::new();
    let mut seen = Vec::new();
    let mut from: Option<Cursor> = None;
    for page_no in 0.. {
        let (page, next) = read(&index, from, |tx, from| {
            Box::pin(async move { tx.list_files(from, 4).await })
        })
        .await
        .unwrap();
        assert!(page.len() <= 4);
        let ids: Vec<_> = page.iter().map(|f| f.id).collect();
        seen.extend(ids.iter().copied());
        let Some(next) = next else { break };
        from = Some(next);
        for _ in 0..2 {
            made_later.insert(insert_file(&index).await.id);
        }
        let mut doomed = Vec::new();
        if page_no % 2 == 0 {
            doomed.extend(ids.last().copied());
        }
        doomed.extend(ids.first().copied());
        let unseen = first
            .iter()
            .find(|id| !seen.contains(id) && !deleted.contains(*id));
        doomed.extend(unseen.copied());
        for id in doomed {
            if deleted.insert(id) {
                withdraw(&index, id).await;
            }
        }
    }
    let once: BTreeSet<_> = seen.iter().copied().collect();
    assert_eq!(once.len(), seen.len(), "a file was listed twice: {seen:?}");
    assert!(
        seen.iter().all(|id| !made_later.contains(id)),
        "a file made after the listing began was on a later page"
    );
    let throughout: Vec<_> = first
        .iter()
        .rev()
        .filter(|id| !deleted.contains(*id))
        .copied()
        .collect();
    let listed: Vec<_> = seen
        .iter()
        .filter(|id| throughout.contains(id))
        .copied()
        .collect();
    assert_eq!(listed, throughout, "skipped, or out of order");
    assert!(
        deleted.len() >= 10,
        "the check deleted too little to mean much"
    );
}

fn stored_blob(n: u16) -> BlobInfo {
    let mut sha = [0u8; 32];
    sha[..2].copy_from_slice(&n.to_be_bytes());
    BlobInfo {
        sha256: Digest(sha),
        size: 100,
        md5: None,
    }
}

/// The blobs in the store, newest first, 3 at a time, while blobs are
/// recorded and deleted between pages (the cursor's own among them): each
/// blob there throughout is listed once, newest first.
pub async fn stored_blobs_page_without_skips_or_repeats_while_rows_come_and_go(
    index: Arc<dyn Index>,
) {
    let record = |n: u16| {
        let index = index.clone();
        async move {
            write(&index, n, |tx, n| {
                Box::pin(async move { tx.record_blob(&stored_blob(n), None, 1, false).await })
            })
            .await
            .unwrap();
        }
    };
    let delete = |d: Digest| {
        let index = index.clone();
        async move {
            write(&index, d, |tx, d| {
                Box::pin(async move { tx.delete_blob(&d, 0).await })
            })
            .await
            .unwrap();
        }
    };
    for n in 0..20 {
        record(n).await;
    }
    let (mut seen, mut deleted, mut later) = (Vec::new(), BTreeSet::new(), 100);
    let mut from = None;
    loop {
        let page = read(&index, from, |tx, from| {
            Box::pin(async move { tx.newest_blobs(from, 3).await })
        })
        .await
        .unwrap();
        let Some((cursor, _, last)) = page.last().copied() else {
            break;
        };
        from = Some(cursor);
        seen.extend(page.iter().map(|(_, _, e)| e.info.sha256));
        record(later).await;
        later += 1;
        // The cursor's own blob, and the oldest not yet listed.
        let oldest = (0..20)
            .map(stored_blob)
            .map(|b| b.sha256)
            .find(|d| !seen.contains(d) && !deleted.contains(&d.0));
        for d in [Some(last.info.sha256), oldest].into_iter().flatten() {
            if deleted.insert(d.0) {
                delete(d).await;
            }
        }
    }
    let once: BTreeSet<_> = seen.iter().map(|d| d.0).collect();
    assert_eq!(once.len(), seen.len(), "a blob was listed twice");
    let throughout: Vec<_> = (0..20)
        .rev()
        .map(|n| stored_blob(n).sha256)
        .filter(|d| !deleted.contains(&d.0))
        .collect();
    let listed: Vec<_> = seen
        .iter()
        .filter(|d| throughout.contains(d))
        .copied()
        .collect();
    assert_eq!(listed, throughout, "skipped, or out of order");
    assert!(
        seen.iter()
            .all(|d| u16::from_be_bytes([d.0[0], d.0[1]]) < 100),
        "a blob recorded after the listing began was on a later page"
    );
}

fn object(key: &str) -> ObjectRecord {
    ObjectRecord {
        version_id: crate::index::NULL_VERSION.into(),
        bucket: "cur".into(),
        key: key.into(),
        sha256: Digest([1; 32]),
        size: 1,
        etag: "e".into(),
        content_type: "text/plain".into(),
        meta: ObjectMeta::default(),
        last_modified: 1,
    }
}

async fn put_key(index: &Arc<dyn Index>, key: String) {
    write(index, key, |tx, key| {
        Box::pin(async move { tx.put_object(&object(&key)).await.map(drop) })
    })
    .await
    .unwrap();
}

async fn delete_key(index: &Arc<dyn Index>, key: String) {
    let gone = write(index, key, |tx, key| {
        Box::pin(async move { tx.delete_object("cur", &key).await })
    })
    .await
    .unwrap();
    assert!(gone.is_some());
}

async fn objects_bucket(index: &Arc<dyn Index>) {
    write(index, (), |tx, ()| {
        Box::pin(async move {
            tx.insert_bucket("cur", None, 1).await?;
            let b = BlobInfo {
                sha256: Digest([1; 32]),
                size: 1,
                md5: None,
            };
            tx.record_blob(&b, None, 1, false).await
        })
    })
    .await
    .unwrap();
}

/// Keys whose byte order differs from the order of case-blind, accent-
/// blind or UTF-16 comparison.
const SPELLINGS: [&str; 12] = [
    "x", "X", "é", "É", "e\u{301}", "ß", "SS", "ö", "日本", "😀", "\u{FFFD}", "~",
];

/// Pages through 36 keys, 4 at a time, after the last key seen. Between
/// pages a key is made ahead of the marker and one behind it, and up to
/// three deleted: the marker's own key (every other page), one already
/// listed and the last not yet listed. Every key there throughout is
/// listed once, keys made ahead of the marker are listed, keys made behind
/// it are not, all in byte order.
pub async fn objects_page_without_skips_or_repeats_while_keys_come_and_go(index: Arc<dyn Index>) {
    objects_bucket(&index).await;
    let first: Vec<String> = (0..36)
        .map(|i| format!("{}/{i:02}", SPELLINGS[i % SPELLINGS.len()]))
        .collect();
    for k in &first {
        put_key(&index, k.clone()).await;
    }
    let (mut ahead, mut behind) = (BTreeSet::new(), BTreeSet::new());
    let mut deleted = BTreeSet::new();
    let mut seen: Vec<String> = Vec::new();
    let mut marker = String::new();
    for page_no in 0.. {
        let page = read(&index, marker.clone(), |tx, after| {
            Box::pin(async move { tx.list_objects("cur", "", &after, 4).await })
        })
        .await
        .unwrap();
        let Some(last) = page.last().map(|o| o.key.clone()) else {
            break;
        };
        let keys: Vec<String> = page.into_iter().map(|o| o.key).collect();
        seen.extend(keys.iter().cloned());
        marker = last.clone();
        // "!" sorts before every key here; the marker followed by more
        // sorts right after it.
        // (Only after a full page: after the last, one made ahead would
        // make a page of its own, and so on.)
        if keys.len() == 4 {
            let (a, b) = (format!("{last}+{page_no}"), format!("!{page_no}"));
            put_key(&index, a.clone()).await;
            put_key(&index, b.clone()).await;
            ahead.insert(a);
            behind.insert(b);
        }
        let mut doomed = vec![keys[0].clone()];
        if page_no % 2 == 0 {
            doomed.push(last);
        }
        let mut sorted = first.clone();
        sorted.sort();
        if let Some(k) = sorted
            .iter()
            .rev()
            .find(|k| !seen.contains(k) && !deleted.contains(*k))
        {
            doomed.push(k.clone());
        }
        for k in doomed {
            if deleted.insert(k.clone()) {
                delete_key(&index, k).await;
            }
        }
    }
    assert!(
        seen.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()),
        "not in byte order, or a key listed twice: {seen:?}"
    );
    let throughout = first.iter().filter(|k| !deleted.contains(*k));
    for k in throughout.chain(ahead.iter().filter(|k| !deleted.contains(*k))) {
        assert!(seen.contains(k), "{k:?} was skipped: {seen:?}");
    }
    assert!(seen.iter().all(|k| !behind.contains(k)));
    assert!(
        deleted.len() >= 10,
        "the check deleted too little to mean much"
    );
}

/// Keys of every kind list in the order of their UTF-8 bytes — whole,
/// page by page, and under a prefix, which matches bytes too (no case or
/// accent folding) — and a key is looked up by its exact bytes.
pub async fn keys_sort_by_their_bytes_whatever_their_case_or_script(index: Arc<dyn Index>) {
    objects_bucket(&index).await;
    let keys: Vec<String> = [
        "a", "A", "b", "B", "ab", "aB", "Ab", "a b", "a-b", "a.b", "a/b", "e", "E", "é", "É",
        "e\u{301}", "ss", "SS", "ß", "Straße", "STRASSE", "i", "I", "İ", "ı", "\u{7F}", " ", "~",
        "\u{FFFD}", "😀", "日本", "本", "Ω", "ω",
    ]
    .map(String::from)
    .to_vec();
    for k in &keys {
        put_key(&index, k.clone()).await;
    }
    let mut want = keys.clone();
    want.sort();
    let list = |prefix: &'static str, after: &'static str, limit: usize| {
        let index = index.clone();
        async move {
            read(&index, (prefix, after, limit), |tx, (p, a, l)| {
                Box::pin(async move { tx.list_objects("cur", p, a, l).await })
            })
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(list("", "", 1000).await, want);
    // Page by page, after each last key.
    let mut paged = Vec::new();
    let mut after = String::new();
    loop {
        let page = read(&index, after.clone(), |tx, a| {
            Box::pin(async move { tx.list_objects("cur", "", &a, 3).await })
        })
        .await
        .unwrap();
        let Some(last) = page.last() else { break };
        after = last.key.clone();
        paged.extend(page.into_iter().map(|o| o.key));
    }
    assert_eq!(paged, want);
    let under = |p: &str| -> Vec<String> {
        want.iter()
            .filter(|k| k.as_bytes().starts_with(p.as_bytes()))
            .cloned()
            .collect()
    };
    for p in ["a", "A", "e", "é", "É", "S", "s", "ß", "日", "😀", "ω"] {
        let p: &'static str = p;
        assert_eq!(list(p, "", 1000).await, under(p), "prefix {p:?}");
    }
    // After a key of another script or case: by bytes.
    for a in ["Z", "a", "é", "\u{FFFD}", "😀"] {
        let a: &'static str = a;
        let rest: Vec<String> = want
            .iter()
            .filter(|k| k.as_bytes() > a.as_bytes())
            .cloned()
            .collect();
        assert_eq!(list("", a, 1000).await, rest, "after {a:?}");
    }
    // Exact lookups: "a" is not "A", "é" is not "e\u{301}".
    let found = read(&index, (), |tx, ()| {
        Box::pin(async move {
            let mut found = Vec::new();
            for k in ["A", "e\u{301}", "ß", "İ", "missing", "a "] {
                found.push(tx.get_object("cur", k).await?.map(|o| o.key));
            }
            Ok(found)
        })
    })
    .await
    .unwrap();
    let found: Vec<Option<&str>> = found.iter().map(|k| k.as_deref()).collect();
    assert_eq!(
        found,
        [
            Some("A"),
            Some("e\u{301}"),
            Some("ß"),
            Some("İ"),
            None,
            None
        ]
    );
}
