//! Tokens, access keys and what a key may do with a bucket.

use crate::index::AccessKey;
use crate::storage::BucketAccess;
use crate::store::Digest;

crate::storage::tests::on_each_backend!(
    tokens_are_unique_and_revocable,
    a_minted_token_is_found_by_its_hash_and_its_name_is_taken_once,
    access_keys_are_unique_and_only_live_ones_have_a_secret,
    a_key_may_do_what_it_owns_or_was_granted,
);

async fn tokens_are_unique_and_revocable(s: super::Storage, _clock: super::TestClock) {
    let h = Digest([9; 32]);
    assert!(s
        .create_token("ci", &h, &["upload".into()], 0)
        .await
        .unwrap());
    // The name is taken: nothing is stored under the new hash.
    assert!(!s
        .create_token("ci", &Digest([8; 32]), &[], 0)
        .await
        .unwrap());
    assert!(s.find_token(&Digest([8; 32])).await.unwrap().is_none());
    assert_eq!(
        s.find_token(&h).await.unwrap().unwrap().scopes,
        vec!["upload"]
    );
    assert!(s.revoke_token("ci", 1).await.unwrap());
    assert!(s.find_token(&h).await.unwrap().is_none());
    assert!(!s.revoke_token("ci", 2).await.unwrap());
    assert_eq!(s.token_count().await.unwrap(), 1);
    let listed = s.list_tokens().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name.as_str(), listed[0].revoked_at),
        ("ci", Some(1))
    );
}

async fn a_minted_token_is_found_by_its_hash_and_its_name_is_taken_once(
    s: super::Storage,
    _clock: super::TestClock,
) {
    assert!(crate::tokens::ensure_initial(&s, 0)
        .await
        .unwrap()
        .is_some());
    // Only on a data dir that never had a token.
    assert!(crate::tokens::ensure_initial(&s, 0)
        .await
        .unwrap()
        .is_none());
    let t = crate::tokens::create(&s, "ci", &["read".into()], 0)
        .await
        .unwrap();
    let found = s
        .find_token(&crate::tokens::hash(&t))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.name.as_str(), found.scopes),
        ("ci", vec!["read".to_string()])
    );
    assert!(matches!(
        crate::tokens::create(&s, "ci", &["read".into()], 0).await,
        Err(crate::tokens::CreateError::NameTaken(n)) if n == "ci"
    ));
}

fn key(id: &str, name: &str) -> AccessKey {
    AccessKey {
        access_key_id: id.into(),
        secret: format!("secret-of-{id}"),
        name: name.into(),
        created_at: 5,
        revoked_at: None,
    }
}

async fn access_keys_are_unique_and_only_live_ones_have_a_secret(
    s: super::Storage,
    _clock: super::TestClock,
) {
    assert!(s.create_access_key(&key("AKA", "alice")).await.unwrap());
    // The name, or the id, taken.
    assert!(!s.create_access_key(&key("AKB", "alice")).await.unwrap());
    assert!(!s.create_access_key(&key("AKA", "bob")).await.unwrap());
    assert_eq!(
        s.access_key_secret("AKA").await.unwrap().as_deref(),
        Some("secret-of-AKA")
    );
    assert_eq!(s.access_key_secret("AKB").await.unwrap(), None);
    assert!(s.revoke_access_key("alice", 9).await.unwrap());
    assert!(!s.revoke_access_key("alice", 10).await.unwrap());
    assert_eq!(s.access_key_secret("AKA").await.unwrap(), None);
    assert_eq!(
        s.list_access_keys().await.unwrap(),
        vec![AccessKey {
            revoked_at: Some(9),
            ..key("AKA", "alice")
        }]
    );
}

async fn a_key_may_do_what_it_owns_or_was_granted(s: super::Storage, _clock: super::TestClock) {
    for (id, name) in [("AKA", "alice"), ("AKB", "bob"), ("AKC", "carol")] {
        assert!(s.create_access_key(&key(id, name)).await.unwrap());
    }
    s.index
        .write(|tx| Box::pin(async move { tx.insert_bucket("pics", Some("AKA"), 1).await }))
        .await
        .unwrap();
    let all = BucketAccess {
        exists: true,
        owner: true,
        read: true,
        write: true,
    };
    let none = BucketAccess {
        exists: true,
        ..BucketAccess::default()
    };
    assert_eq!(s.bucket_access("AKA", "pics").await.unwrap(), all);
    assert_eq!(s.bucket_access("AKB", "pics").await.unwrap(), none);
    // No such bucket: nothing, not even that it exists.
    assert_eq!(
        s.bucket_access("AKA", "nope").await.unwrap(),
        BucketAccess::default()
    );
    assert!(s.grant_bucket("bob", "pics", false).await.unwrap());
    let read = BucketAccess { read: true, ..none };
    assert_eq!(s.bucket_access("AKB", "pics").await.unwrap(), read);
    // Granted again, with write: replaces the grant.
    assert!(s.grant_bucket("bob", "pics", true).await.unwrap());
    let write = BucketAccess {
        write: true,
        ..read
    };
    assert_eq!(s.bucket_access("AKB", "pics").await.unwrap(), write);
    // Write access is not ownership.
    assert!(!s.bucket_access("AKB", "pics").await.unwrap().owner);
    // No such key, or a revoked one: no grant.
    assert!(!s.grant_bucket("dave", "pics", true).await.unwrap());
    assert!(s.revoke_access_key("carol", 2).await.unwrap());
    assert!(!s.grant_bucket("carol", "pics", true).await.unwrap());
    assert_eq!(s.bucket_access("AKC", "pics").await.unwrap(), none);
}
