//! `stowage::upstream`, the S3 client the gateway keeps bytes with, run
//! against a real S3 server over real sockets: here a Stowage gateway
//! (which serves the S3 API, multipart, ranges and listings included).
//!
//! Every scenario is a `pub(crate) fn` of a [`Target`] — an endpoint, a
//! key pair and a bucket — and writes under a prefix of its own, so the
//! same scenarios can run against another store (the Garage cluster
//! harness) by building a `Target` for it.

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use sha2::{Digest as _, Sha256};
use stowage::upstream::{
    Body, Client, Config, Integrity, ObjectStream, Upload, UpstreamError, MIN_PART_SIZE,
};

use crate::harness::TestServer;

/// An S3 endpoint, the keys to sign with, and the bucket to write in.
#[derive(Clone)]
pub(crate) struct Target {
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl Target {
    pub fn config(&self) -> Config {
        Config::new(
            &self.endpoint,
            &self.region,
            &self.bucket,
            &self.access_key_id,
            &self.secret_access_key,
        )
    }

    pub fn client(&self) -> Client {
        Client::new(self.config()).expect("a valid config")
    }

    /// A prefix no other test writes under.
    fn prefix(&self, what: &str) -> String {
        format!("upstream-it/{what}/{}/", uuid::Uuid::new_v4())
    }
}

/// A Stowage gateway and a [`Target`] for its `uploads` bucket.
fn gateway() -> (TestServer, Target) {
    let s = TestServer::start();
    let t = Target {
        endpoint: s.base.clone(),
        region: s.app.config.s3.region.clone(),
        bucket: "uploads".into(),
        access_key_id: s.app.credentials.access_key_id.clone(),
        secret_access_key: s.app.credentials.secret_access_key.clone(),
    };
    (s, t)
}

/// Runs `f` on a runtime of its own (the client needs one; the gateway
/// has another).
fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    stowage::random::fill(&mut b);
    b
}

async fn read_all(mut s: ObjectStream) -> Result<Vec<u8>, UpstreamError> {
    let mut out = Vec::new();
    while let Some(piece) = s.next().await {
        out.extend_from_slice(&piece?);
    }
    Ok(out)
}

async fn keys_under(c: &Client, prefix: &str) -> Vec<String> {
    let pages: Vec<_> = c.list_objects(prefix).try_collect().await.unwrap();
    pages.into_iter().flatten().map(|e| e.key).collect()
}

async fn uploads_under(c: &Client, prefix: &str) -> Vec<(String, String)> {
    let pages: Vec<_> = c
        .list_multipart_uploads(prefix)
        .try_collect()
        .await
        .unwrap();
    pages
        .into_iter()
        .flatten()
        .map(|u| (u.key, u.upload_id))
        .collect()
}

/// Waits, up to 30 s, until no upload is listed under `prefix`; `what` is
/// the failure message. A listing can lag an abort: once in CI, under
/// load, Garage still listed an upload just aborted with a part in flight
/// (the node finishing that part after the client had gone). An upload
/// that stays listed fails here.
async fn await_no_uploads(c: &Client, prefix: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = uploads_under(c, prefix).await;
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {left:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Put, head, get and delete of small objects, under each way of proving
/// the body; a body whose proof does not match is refused and not stored.
pub(crate) fn small_put_get_head_delete(t: &Target) {
    let c = t.client();
    let prefix = t.prefix("small");
    block_on(async {
        let body = random_bytes(1000);
        let md5: [u8; 16] = md5::Md5::digest(&body).into();
        let sha: [u8; 32] = Sha256::digest(&body).into();
        for (i, integrity) in [
            Integrity::crc32c_of(&body),
            Integrity::Md5(md5),
            Integrity::Sha256(sha),
            Integrity::None,
        ]
        .into_iter()
        .enumerate()
        {
            let key = format!("{prefix}blob {i}+%.bin");
            c.put_object(&key, Body::from(body.clone()), 1000, integrity)
                .await
                .unwrap_or_else(|e| panic!("{integrity:?}: {e}"));
            assert_eq!(c.head_object(&key).await.unwrap(), Some(1000));
            let (total, stream) = c.get_object(&key, None).await.unwrap();
            assert_eq!(total, 1000);
            assert_eq!(read_all(stream).await.unwrap(), body);
            c.delete_object(&key).await.unwrap();
            assert_eq!(c.head_object(&key).await.unwrap(), None);
            assert_eq!(
                c.get_object(&key, None).await.err(),
                Some(UpstreamError::NotFound)
            );
            // Deleting what is gone succeeds, as in S3.
            c.delete_object(&key).await.unwrap();
        }

        // A body corrupted on the way: the proof was of other bytes.
        let key = format!("{prefix}corrupted");
        let mut other = body.clone();
        other[500] ^= 1;
        for integrity in [
            Integrity::crc32c_of(&other),
            Integrity::Md5(md5::Md5::digest(&other).into()),
            Integrity::Sha256(Sha256::digest(&other).into()),
        ] {
            let e = c
                .put_object(&key, Body::from(body.clone()), 1000, integrity)
                .await
                .unwrap_err();
            assert!(
                matches!(e, UpstreamError::Status { status: 400, .. }),
                "{integrity:?}: {e:?}"
            );
            assert_eq!(c.head_object(&key).await.unwrap(), None, "{integrity:?}");
        }

        // A streamed body that is not its announced length never lands.
        let pieces = vec![Ok(bytes::Bytes::from(body[..600].to_vec()))];
        let e = c
            .put_object(
                &key,
                Body::from_stream(futures_util::stream::iter(pieces)),
                1000,
                Integrity::None,
            )
            .await
            .unwrap_err();
        assert!(matches!(e, UpstreamError::Body(_)), "{e:?}");
        assert_eq!(c.head_object(&key).await.unwrap(), None);
        // An empty object is an object.
        c.put_object(&key, Body::empty(), 0, Integrity::crc32c_of(b""))
            .await
            .unwrap();
        assert_eq!(c.head_object(&key).await.unwrap(), Some(0));
        c.delete_object(&key).await.unwrap();
    });
}

/// ~20 MiB through [`Upload`] in 5 MiB parts, written in odd-sized
/// pieces: a multipart upload is under way (and nothing visible) before
/// `finish`, the object whole after it, and no upload left behind.
pub(crate) fn multipart_upload_of_20_mib(t: &Target) {
    let c = t.client();
    let prefix = t.prefix("multipart");
    let key = format!("{prefix}big");
    block_on(async {
        let body = random_bytes((20 << 20) + 12_345);
        let mut up = Upload::begin(&c, &key, MIN_PART_SIZE);
        let mut sent_parts = false;
        for piece in body.chunks(777_777) {
            up.write(piece).await.unwrap();
            if !sent_parts && up.written() > (MIN_PART_SIZE as u64) {
                // The first part went out: the upload exists, the object
                // does not.
                sent_parts = true;
                let pending = uploads_under(&c, &prefix).await;
                assert_eq!(pending.len(), 1, "{pending:?}");
                assert_eq!(pending[0].0, key);
                assert_eq!(c.head_object(&key).await.unwrap(), None);
            }
        }
        assert!(sent_parts);
        assert_eq!(up.finish().await.unwrap(), body.len() as u64);
        assert_eq!(c.head_object(&key).await.unwrap(), Some(body.len() as u64));
        let (total, stream) = c.get_object(&key, None).await.unwrap();
        assert_eq!(total, body.len() as u64);
        let got = read_all(stream).await.unwrap();
        assert_eq!(got.len(), body.len());
        assert!(got == body, "the bytes differ");
        assert!(uploads_under(&c, &prefix).await.is_empty());

        // A body of exactly one part is one PUT: no upload is begun.
        let one = random_bytes(MIN_PART_SIZE);
        let key1 = format!("{prefix}one-part");
        let mut up = Upload::begin(&c, &key1, MIN_PART_SIZE);
        up.write(&one).await.unwrap();
        assert!(uploads_under(&c, &prefix).await.is_empty());
        assert_eq!(up.finish().await.unwrap(), one.len() as u64);
        let (_, stream) = c.get_object(&key1, None).await.unwrap();
        assert!(read_all(stream).await.unwrap() == one);
        c.delete_object(&key).await.unwrap();
        c.delete_object(&key1).await.unwrap();
    });
}

/// The client's own multipart calls: a part whose CRC32C does not match
/// is refused, and the upload still completes from the good parts.
pub(crate) fn a_corrupted_part_is_refused(t: &Target) {
    let c = t.client();
    let prefix = t.prefix("corrupt-part");
    let key = format!("{prefix}obj");
    block_on(async {
        let first = random_bytes(MIN_PART_SIZE);
        let second = random_bytes(1000);
        let id = c.create_multipart(&key).await.unwrap();
        let p1 = c
            .upload_part(
                &key,
                &id,
                1,
                Body::from(first.clone()),
                first.len() as u64,
                Integrity::crc32c_of(&first),
            )
            .await
            .unwrap();
        let mut flipped = second.clone();
        flipped[0] ^= 0x80;
        let e = c
            .upload_part(
                &key,
                &id,
                2,
                Body::from(second.clone()),
                1000,
                Integrity::crc32c_of(&flipped),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(e, UpstreamError::Status { status: 400, .. }),
            "{e:?}"
        );
        let p2 = c
            .upload_part(
                &key,
                &id,
                2,
                Body::from(second.clone()),
                1000,
                Integrity::crc32c_of(&second),
            )
            .await
            .unwrap();
        assert_eq!(c.head_object(&key).await.unwrap(), None);
        c.complete_multipart(&key, &id, &[p1, p2]).await.unwrap();
        let (total, stream) = c.get_object(&key, None).await.unwrap();
        assert_eq!(total, (first.len() + 1000) as u64);
        let got = read_all(stream).await.unwrap();
        assert!(got[..first.len()] == first[..] && got[first.len()..] == second[..]);
        c.delete_object(&key).await.unwrap();
    });
}

/// Ranges: the bytes asked for, a range running past the end cut at the
/// end, an empty range, and one starting past the end refused.
pub(crate) fn ranged_get(t: &Target) {
    let c = t.client();
    let key = format!("{}obj", t.prefix("range"));
    block_on(async {
        let body = random_bytes(300_000);
        c.put_object(
            &key,
            Body::from(body.clone()),
            300_000,
            Integrity::crc32c_of(&body),
        )
        .await
        .unwrap();
        for (start, len, want) in [
            (0u64, 1u64, 0..1usize),
            (1000, 5000, 1000..6000),
            (299_990, 10, 299_990..300_000),
            (299_990, 100, 299_990..300_000),
            (0, 300_000, 0..300_000),
            (17, 0, 17..17),
        ] {
            let (total, stream) = c.get_object(&key, Some((start, len))).await.unwrap();
            assert_eq!(total, 300_000, "{start}+{len}");
            assert_eq!(stream.remaining(), want.len() as u64, "{start}+{len}");
            let got = read_all(stream).await.unwrap();
            assert!(got == body[want.clone()], "{start}+{len}");
        }
        let e = c.get_object(&key, Some((300_000, 10))).await.unwrap_err();
        assert!(
            matches!(e, UpstreamError::Status { status: 416, .. }),
            "{e:?}"
        );
        assert_eq!(
            c.get_object(&format!("{key}-absent"), Some((0, 10)))
                .await
                .err(),
            Some(UpstreamError::NotFound)
        );
        c.delete_object(&key).await.unwrap();
    });
}

/// A listing of 8 objects in pages of 3: three pages, every key once in
/// order with its size and time, nothing from outside the prefix.
pub(crate) fn listing_past_one_page(t: &Target) {
    let mut config = t.config();
    config.list_page_size = 3;
    let c = Client::new(config).unwrap();
    let prefix = t.prefix("list");
    block_on(async {
        let started = time::OffsetDateTime::now_utc() - time::Duration::minutes(5);
        let mut want = Vec::new();
        for i in 0..8usize {
            let key = format!("{prefix}k{i:02}");
            let body = vec![b'x'; i * 10];
            c.put_object(&key, Body::from(body), (i * 10) as u64, Integrity::None)
                .await
                .unwrap();
            want.push((key, (i * 10) as u64));
        }
        let outside = format!("{}-not-in-it", prefix.trim_end_matches('/'));
        c.put_object(&outside, Body::empty(), 0, Integrity::None)
            .await
            .unwrap();
        let pages: Vec<_> = c.list_objects(&prefix).try_collect().await.unwrap();
        let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
        assert_eq!(sizes, [3, 3, 2]);
        let got: Vec<(String, u64)> = pages
            .iter()
            .flatten()
            .map(|e| (e.key.clone(), e.size))
            .collect();
        assert_eq!(got, want);
        let later = time::OffsetDateTime::now_utc() + time::Duration::minutes(5);
        for e in pages.iter().flatten() {
            assert!(
                e.last_modified > started && e.last_modified < later,
                "{e:?}"
            );
        }
        for (key, _) in &want {
            c.delete_object(key).await.unwrap();
        }
        c.delete_object(&outside).await.unwrap();
        assert!(keys_under(&c, &prefix).await.is_empty());
    });
}

/// An aborted [`Upload`] (parts sent, one in flight) leaves nothing: no
/// object, no upload.
pub(crate) fn aborted_upload_leaves_nothing(t: &Target) {
    let c = t.client();
    let prefix = t.prefix("abort");
    let key = format!("{prefix}obj");
    block_on(async {
        let mut up = Upload::begin(&c, &key, MIN_PART_SIZE);
        up.write(&random_bytes(12 << 20)).await.unwrap();
        assert_eq!(uploads_under(&c, &prefix).await.len(), 1);
        up.abort().await.unwrap();
        await_no_uploads(&c, &prefix, "the aborted upload is still in progress").await;
        assert_eq!(c.head_object(&key).await.unwrap(), None);
        assert!(keys_under(&c, &prefix).await.is_empty());
    });
}

/// A dropped, unfinished [`Upload`] aborts itself: its upload disappears
/// from the listing (polled, with a deadline), no object appears.
pub(crate) fn dropped_upload_leaves_nothing(t: &Target) {
    let c = t.client();
    let prefix = t.prefix("drop");
    let key = format!("{prefix}obj");
    block_on(async {
        let mut up = Upload::begin(&c, &key, MIN_PART_SIZE);
        up.write(&random_bytes(11 << 20)).await.unwrap();
        assert_eq!(uploads_under(&c, &prefix).await.len(), 1);
        drop(up);
        await_no_uploads(&c, &prefix, "the dropped upload was not aborted").await;
        assert_eq!(c.head_object(&key).await.unwrap(), None);
        assert!(keys_under(&c, &prefix).await.is_empty());
        // A dropped upload that never outgrew one part sent nothing at all.
        let mut small = Upload::begin(&c, format!("{prefix}small"), MIN_PART_SIZE);
        small.write(b"hello").await.unwrap();
        drop(small);
        assert!(uploads_under(&c, &prefix).await.is_empty());
        assert!(keys_under(&c, &prefix).await.is_empty());
    });
}

/// A wrong secret: the store's 403 with `code` (S3's and our gateway's
/// `SignatureDoesNotMatch`; Garage 2.5.0 says `AccessDenied`), and the
/// secret in no error text.
pub(crate) fn wrong_secret_is_refused(t: &Target, code: &str) {
    let mut config = t.config();
    config.secret_access_key = "not-the-secret-0123456789abcdef".into();
    let c = Client::new(config).unwrap();
    let key = format!("{}obj", t.prefix("denied"));
    block_on(async {
        let e = c
            .put_object(&key, Body::from(b"hi".to_vec()), 2, Integrity::None)
            .await
            .unwrap_err();
        assert_eq!(
            e,
            UpstreamError::Status {
                status: 403,
                code: code.into()
            }
        );
        let listed = c.list_objects("").next().await.unwrap().unwrap_err();
        assert_eq!(listed, e);
        for shown in [e.to_string(), format!("{e:?}"), listed.to_string()] {
            assert!(!shown.contains("not-the-secret"), "{shown}");
            assert!(!shown.contains(&t.secret_access_key), "{shown}");
        }
        assert_eq!(t.client().head_object(&key).await.unwrap(), None);
    });
}

#[test]
fn gateway_small_put_get_head_delete() {
    let (_s, t) = gateway();
    small_put_get_head_delete(&t);
}

#[test]
fn gateway_multipart_upload_of_20_mib() {
    let (_s, t) = gateway();
    multipart_upload_of_20_mib(&t);
}

#[test]
fn gateway_a_corrupted_part_is_refused() {
    let (_s, t) = gateway();
    a_corrupted_part_is_refused(&t);
}

#[test]
fn gateway_ranged_get() {
    let (_s, t) = gateway();
    ranged_get(&t);
}

#[test]
fn gateway_listing_past_one_page() {
    let (_s, t) = gateway();
    listing_past_one_page(&t);
}

#[test]
fn gateway_aborted_upload_leaves_nothing() {
    let (_s, t) = gateway();
    aborted_upload_leaves_nothing(&t);
}

#[test]
fn gateway_dropped_upload_leaves_nothing() {
    let (_s, t) = gateway();
    dropped_upload_leaves_nothing(&t);
}

#[test]
fn gateway_wrong_secret_is_refused() {
    let (_s, t) = gateway();
    wrong_secret_is_refused(&t, "SignatureDoesNotMatch");
}

/// HTTPS with a self-signed certificate: refused as untrusted (an
/// `Unreachable` naming the certificate) until its PEM is the config's
/// extra CA, then served.
#[test]
fn https_trusts_the_extra_ca_file() {
    let tls = crate::tls::Tls::new();
    let s = TestServer::start_with(&tls.toml());
    let mut config = Config::new(
        format!("https://{}", s.addr),
        &s.app.config.s3.region,
        "uploads",
        &s.app.credentials.access_key_id,
        &s.app.credentials.secret_access_key,
    );
    block_on(async {
        let e = Client::new(config.clone())
            .unwrap()
            .head_object("k")
            .await
            .unwrap_err();
        match e {
            UpstreamError::Unreachable { detail, .. } => {
                assert!(detail.contains("certificate"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
        config.ca_file = Some(tls.path("cert.pem").into());
        let c = Client::new(config).unwrap();
        let body = random_bytes(200_000);
        c.put_object(
            "tls/obj",
            Body::from(body.clone()),
            200_000,
            Integrity::crc32c_of(&body),
        )
        .await
        .unwrap();
        let (total, stream) = c.get_object("tls/obj", Some((100, 1000))).await.unwrap();
        assert_eq!(total, 200_000);
        assert!(read_all(stream).await.unwrap() == body[100..1100]);
    });
}

/// Nothing listening: `Unreachable`, naming the endpoint.
#[test]
fn an_unreachable_endpoint_is_unreachable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let t = Target {
        endpoint: format!("http://127.0.0.1:{port}"),
        region: "us-east-1".into(),
        bucket: "blobs".into(),
        access_key_id: "GK1".into(),
        secret_access_key: "secret".into(),
    };
    let c = t.client();
    block_on(async {
        let e = c.head_object("k").await.unwrap_err();
        match &e {
            UpstreamError::Unreachable { endpoint, detail } => {
                assert_eq!(endpoint, &t.endpoint);
                assert!(detail.to_lowercase().contains("refused"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        assert!(e.is_transient());
        let put = c
            .put_object("k", Body::from(vec![1; 10]), 10, Integrity::None)
            .await
            .unwrap_err();
        assert!(matches!(put, UpstreamError::Unreachable { .. }), "{put:?}");
        let mut up = Upload::begin(&c, "k", MIN_PART_SIZE);
        up.write(b"x").await.unwrap();
        assert!(matches!(
            up.finish().await,
            Err(UpstreamError::Unreachable { .. })
        ));
    });
}

/// A loopback port nothing listens on.
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Several endpoints, the first one refusing connections (nothing listens
/// there): every call — a PUT of a streamed body, a multipart upload, a
/// GET, a listing — goes to the next, which then takes the calls first.
/// With none to connect to, `Unreachable` names each and why.
#[test]
fn a_call_goes_to_the_next_endpoint_when_one_cannot_be_connected_to() {
    let (_s, t) = gateway();
    let dead = format!("http://127.0.0.1:{}", dead_port());
    let mut config = t.config();
    config.endpoints = vec![dead.clone(), t.endpoint.clone()];
    let c = Client::new(config).unwrap();
    let prefix = t.prefix("failover");
    block_on(async {
        assert_eq!(&*c.current_endpoint(), dead);
        // A stream can be sent once only: it is passed on unsent.
        let body = random_bytes(300_000);
        let pieces: Vec<std::io::Result<bytes::Bytes>> = body
            .chunks(65_000)
            .map(|p| Ok(bytes::Bytes::copy_from_slice(p)))
            .collect();
        let key = format!("{prefix}streamed");
        c.put_object(
            &key,
            Body::from_stream(futures_util::stream::iter(pieces)),
            body.len() as u64,
            Integrity::crc32c_of(&body),
        )
        .await
        .unwrap();
        assert_eq!(&*c.current_endpoint(), t.endpoint);
        let (total, stream) = c.get_object(&key, None).await.unwrap();
        assert_eq!(total, body.len() as u64);
        assert!(read_all(stream).await.unwrap() == body);

        let big = random_bytes(MIN_PART_SIZE + 1000);
        let key = format!("{prefix}parts");
        let mut up = Upload::begin(&c, &key, MIN_PART_SIZE);
        up.write(&big).await.unwrap();
        up.finish().await.unwrap();
        assert_eq!(c.head_object(&key).await.unwrap(), Some(big.len() as u64));
        assert_eq!(keys_under(&c, &prefix).await.len(), 2);
    });

    let other = format!("http://127.0.0.1:{}", dead_port());
    let mut config = t.config();
    config.endpoints = vec![dead.clone(), other.clone()];
    let c = Client::new(config).unwrap();
    block_on(async {
        match c.head_object("k").await.unwrap_err() {
            UpstreamError::Unreachable { endpoint, detail } => {
                assert_eq!(endpoint, format!("{dead}, {other}"));
                assert!(detail.starts_with(&format!("{dead}: ")), "{detail}");
                assert!(detail.contains(&format!("; {other}: ")), "{detail}");
                assert_eq!(detail.matches("refused").count(), 2, "{detail}");
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(&*c.current_endpoint(), dead);
    });
}

/// A server that accepts connections and never answers a byte.
fn silent_endpoint() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            match conn {
                Ok(c) => held.push(c),
                Err(_) => return,
            }
        }
    });
    addr
}

/// A store that accepts the connection and then says nothing: the idle
/// timeout gives up on it (`Unreachable`), waiting with a deadline.
#[test]
fn a_silent_endpoint_times_out() {
    let addr = silent_endpoint();
    let mut config = Config::new(format!("http://{addr}"), "us-east-1", "blobs", "GK1", "s");
    config.idle_timeout = Duration::from_secs(1);
    let c = Client::new(config).unwrap();
    block_on(async {
        let e = tokio::time::timeout(Duration::from_secs(60), c.head_object("k"))
            .await
            .expect("the idle timeout ends the wait")
            .unwrap_err();
        match e {
            UpstreamError::Unreachable { detail, .. } => {
                assert!(detail.contains("nothing moved for 1 s"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
    });
}

/// A write cancelled while it hands a part over (its future dropped, here
/// while the store never answers) has lost that part: the upload is dead,
/// and neither a later write nor `finish` pretends otherwise.
#[test]
fn a_write_cancelled_mid_part_kills_the_upload() {
    let addr = silent_endpoint();
    let c = Client::new(Config::new(
        format!("http://{addr}"),
        "us-east-1",
        "blobs",
        "GK1",
        "s",
    ))
    .unwrap();
    block_on(async {
        let mut up = Upload::begin(&c, "k", MIN_PART_SIZE);
        let body = random_bytes(MIN_PART_SIZE + 1);
        let cancelled = tokio::time::timeout(Duration::from_millis(200), up.write(&body)).await;
        assert!(cancelled.is_err(), "the silent store answered");
        let e = up.write(b"more").await.unwrap_err();
        assert!(
            matches!(&e, UpstreamError::Body(why) if why.contains("cancelled")),
            "{e:?}"
        );
        assert_eq!(up.finish().await.unwrap_err(), e);
    });
}

/// Every scenario above against the test Garage cluster `scripts/test`
/// starts, or another S3 store named the same way
/// (`STOWAGE_TEST_S3_ENDPOINT`, `_REGION`, `_BUCKET`, `_ACCESS_KEY_ID`,
/// `_SECRET_ACCESS_KEY`, and `_BAD_SIGNATURE_CODE`, its code for a wrong
/// secret: Garage's `AccessDenied` if unset). `STOWAGE_TEST_GARAGE=off`
/// leaves it out.
#[test]
fn the_test_cluster_runs_every_scenario() {
    if std::env::var("STOWAGE_TEST_GARAGE").is_ok_and(|v| v == "off") {
        eprintln!("STOWAGE_TEST_GARAGE=off: the scenarios did not run against Garage");
        return;
    }
    let var = |name: &str| {
        std::env::var(format!("STOWAGE_TEST_S3_{name}")).unwrap_or_else(|_| {
            panic!(
                "STOWAGE_TEST_S3_{name} is not set: run the tests with scripts/test, which \
                 starts a Garage cluster (STOWAGE_TEST_GARAGE=off leaves this test out)"
            )
        })
    };
    let t = Target {
        endpoint: var("ENDPOINT"),
        region: var("REGION"),
        bucket: var("BUCKET"),
        access_key_id: var("ACCESS_KEY_ID"),
        secret_access_key: var("SECRET_ACCESS_KEY"),
    };
    small_put_get_head_delete(&t);
    multipart_upload_of_20_mib(&t);
    a_corrupted_part_is_refused(&t);
    ranged_get(&t);
    listing_past_one_page(&t);
    aborted_upload_leaves_nothing(&t);
    dropped_upload_leaves_nothing(&t);
    let code = std::env::var("STOWAGE_TEST_S3_BAD_SIGNATURE_CODE")
        .unwrap_or_else(|_| "AccessDenied".into());
    wrong_secret_is_refused(&t, &code);
}
