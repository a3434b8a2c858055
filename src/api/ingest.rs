//! Receiving an object body: stream it into a staged blob while computing
//! every digest the request must be checked against, never holding it in
//! memory — except a small body (one the storage service keeps inline), which
//! is gathered in memory to be committed inline with its index row.
//!
//! Owns the body loop shared by every write (the upload API's PUT, S3
//! PutObject, UploadPart). It must never commit: the caller compares the
//! digests with what the client declared first, and only then calls
//! [`Payload::publish`] and records the blob.

use crate::md5_lane::Md5Lane;
pub use crate::storage::Payload;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use sha2::{Digest as _, Sha256};

use http::request::Parts;

use crate::api::error::ApiError;
use crate::api::sigauth::Authenticated;
use crate::app::App;
use crate::index::BlobInfo;
use crate::sigv4::{ChecksumAlgorithm, Checksummer, ChunkedDecoder};
use crate::store::{Digest, StagedBlob};

/// Bytes of a body between two looks at the free space.
const SPACE_CHECK_STEP: u64 = 16 << 20;

/// What a write's body must be checked against, read from its headers
/// before any byte of it is.
pub struct BodySpec {
    /// Bytes of the object (decoded, for `aws-chunked` bodies).
    pub length: u64,
    /// The `aws-chunked` decoder, for streaming payloads.
    chunked: Option<ChunkedDecoder>,
    /// `x-amz-checksum-*` values sent as headers.
    header_checksums: Vec<(ChecksumAlgorithm, String)>,
    /// The checksum announced by `x-amz-trailer`, to arrive after the body.
    trailer: Option<ChecksumAlgorithm>,
    /// A checksum computed whether or not the writer declared it (a part
    /// of a multipart upload created with a checksum algorithm).
    computed: Option<ChecksumAlgorithm>,
}

impl BodySpec {
    /// A plain body of `length` bytes with nothing else to check.
    pub fn plain(length: u64) -> Self {
        BodySpec {
            length,
            chunked: None,
            header_checksums: Vec::new(),
            trailer: None,
            computed: None,
        }
    }

    /// Also computes `alg` over the body, declared or not
    /// ([`Received::computed`]).
    pub fn computing(mut self, alg: Option<ChecksumAlgorithm>) -> Self {
        self.computed = alg;
        self
    }

    /// Reads the length, the payload encoding and the checksums a request
    /// declares. Checksums hoisted into a presigned URL's query are not
    /// enforced, as in S3; only headers and trailers are.
    pub fn from_request(auth: &Authenticated, parts: &Parts) -> Result<Self, ApiError> {
        let h = &parts.headers;
        let (chunked, length) = match &auth.streaming {
            Some((mode, trailer)) => {
                let decoded = h
                    .get("x-amz-decoded-content-length")
                    .ok_or(ApiError::MissingContentLength)?
                    .to_str()
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .ok_or_else(|| {
                        ApiError::InvalidArgument(
                            "x-amz-decoded-content-length is not a number".into(),
                        )
                    })?;
                (Some(ChunkedDecoder::new(mode.clone(), *trailer)), decoded)
            }
            None => (None, content_length(parts)?),
        };
        let mut header_checksums = Vec::new();
        for (name, value) in h {
            let Some(alg) = ChecksumAlgorithm::from_header_name(name.as_str()) else {
                continue;
            };
            let value = value.to_str().unwrap_or("").trim().to_string();
            if !alg.is_valid_value(&value) {
                return Err(ApiError::InvalidRequest(format!(
                    "Value for {} header is invalid.",
                    alg.header_name()
                )));
            }
            header_checksums.push((alg, value));
        }
        let trailer = match h.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
            None => None,
            Some(t) => Some(
                ChecksumAlgorithm::from_header_name(t.trim().to_ascii_lowercase().as_str())
                    .filter(|_| auth.streaming.as_ref().is_some_and(|(_, tr)| *tr))
                    .ok_or_else(|| {
                        ApiError::InvalidRequest(format!(
                            "x-amz-trailer '{t}' is not a checksum this gateway verifies, or \
                             the payload mode carries no trailer"
                        ))
                    })?,
            ),
        };
        Ok(BodySpec {
            length,
            chunked,
            header_checksums,
            trailer,
            computed: None,
        })
    }
}

/// The body sink while it arrives.
enum Sink {
    Memory(bytes::BytesMut),
    Staged(Box<dyn StagedBlob>),
}

impl Sink {
    fn into_payload(self) -> Payload {
        match self {
            Sink::Memory(m) => Payload::Inline(m.freeze()),
            Sink::Staged(s) => Payload::Staged(s),
        }
    }
}

/// A fully received body, staged but not yet committed.
pub struct Received {
    pub payload: Payload,
    pub blob: BlobInfo,
    /// Checksums the client declared and the bytes matched: (S3's
    /// algorithm name, base64 value).
    pub checksums: Vec<(String, String)>,
    /// The value of [`BodySpec::computing`]'s algorithm, if asked.
    pub computed: Option<String>,
}

impl Received {
    pub fn sha256(&self) -> Digest {
        self.blob.sha256
    }
}

/// Running digests of the bytes received.
struct Digests {
    sha: Sha256,
    md5: Md5Lane,
    extra: Vec<Checksummer>,
}

impl Digests {
    async fn update(&mut self, data: Bytes) -> Result<(), ApiError> {
        self.sha.update(&data);
        for c in &mut self.extra {
            c.update(&data);
        }
        Ok(self.md5.update(data).await?)
    }
}

/// Streams a request body into a new staged blob, decoding `aws-chunked`
/// framing if the request used it and computing SHA-256, MD5 and every
/// declared checksum on the way; fails (staged bytes removed) on any
/// mismatch.
pub async fn receive(
    app: &App,
    mut body: Incoming,
    mut spec: BodySpec,
) -> Result<Received, ApiError> {
    let _receiving = app.metrics.receiving();
    let length = spec.length;
    app.storage.check_space(length)?;
    let mut sink = if app.storage.keeps_inline(length) {
        Sink::Memory(bytes::BytesMut::with_capacity(length as usize))
    } else {
        Sink::Staged(app.storage.stage().await?)
    };
    let mut algs: Vec<ChecksumAlgorithm> = spec.header_checksums.iter().map(|(a, _)| *a).collect();
    algs.extend(spec.trailer);
    algs.extend(spec.computed);
    algs.sort_by_key(|a| a.name());
    algs.dedup();
    let mut d = Digests {
        sha: Sha256::new(),
        md5: Md5Lane::for_length(length),
        extra: algs.iter().map(|a| a.checksummer()).collect(),
    };
    let mut received: u64 = 0;
    let mut decoded: Vec<u8> = Vec::new();
    loop {
        // A stalled client is cut off by the connection's idle timeout
        // (`server::idle`), which ends the body with an error here; the
        // staged bytes are then removed as this function returns.
        let frame = match body.frame().await {
            None => break,
            Some(Ok(frame)) => frame,
            Some(Err(_)) => {
                return Err(ApiError::IncompleteBody(format!(
                    "the body stopped after {received} of {length} bytes (the connection \
                     broke, or sent nothing for longer than the server's idle timeout); \
                     nothing was stored, retry the upload"
                )))
            }
        };
        let Ok(data) = frame.into_data() else {
            continue; // HTTP trailers: S3's come inside the aws-chunked body
        };
        let bytes: Bytes = match spec.chunked.as_mut() {
            Some(decoder) => {
                decoded.clear();
                decoder.feed(&data, &mut |piece| decoded.extend_from_slice(piece))?;
                Bytes::copy_from_slice(&decoded)
            }
            None => data,
        };
        received += bytes.len() as u64;
        if received > length {
            return Err(ApiError::EntityTooLarge(format!(
                "the body is longer than the {length} bytes declared; nothing was stored"
            )));
        }
        match &mut sink {
            Sink::Memory(m) => m.extend_from_slice(&bytes),
            Sink::Staged(s) => s.write(&bytes).await?,
        }
        // Other uploads share the disk: each large body looks again now
        // and then, and stops before the reserve is gone.
        if received / SPACE_CHECK_STEP != (received - bytes.len() as u64) / SPACE_CHECK_STEP {
            app.storage.check_space(0)?;
        }
        d.update(bytes).await?;
    }
    let trailers = match spec.chunked.as_mut() {
        Some(decoder) => Some(decoder.finish()?),
        None => None,
    };
    if received != length {
        return Err(ApiError::IncompleteBody(format!(
            "the body ended after {received} of {length} bytes; nothing was stored, retry the \
             upload"
        )));
    }
    let mut expected = spec.header_checksums.clone();
    if let Some(alg) = spec.trailer {
        let value = trailers
            .as_ref()
            .and_then(|t| t.get(alg.header_name()))
            .ok_or_else(|| {
                ApiError::InvalidRequest(format!(
                    "x-amz-trailer announced {} but the body carried no such trailer",
                    alg.header_name()
                ))
            })?;
        expected.push((alg, value.to_string()));
    }
    let finished = finish(d.extra);
    let mut verified = check_declared(&finished, expected)?;
    verified.dedup();
    let computed = spec.computed.and_then(|alg| {
        finished
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, v)| v.clone())
    });
    Ok(Received {
        computed,
        payload: sink.into_payload(),
        blob: BlobInfo {
            sha256: Digest(d.sha.finalize().into()),
            size: length,
            md5: Some(d.md5.finish().await?),
        },
        checksums: verified,
    })
}

/// Each computed checksum's value.
fn finish(computed: Vec<Checksummer>) -> Vec<(ChecksumAlgorithm, String)> {
    computed
        .into_iter()
        .map(|c| (c.algorithm(), c.finish()))
        .collect()
}

/// Compares the checksums computed over a body with those its writer
/// declared; returns the verified ones as (S3's algorithm name, value).
fn check_declared(
    computed: &[(ChecksumAlgorithm, String)],
    expected: Vec<(ChecksumAlgorithm, String)>,
) -> Result<Vec<(String, String)>, ApiError> {
    let mut verified = Vec::new();
    for (alg, want) in expected {
        let got = computed
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        if got != want {
            return Err(ApiError::BadDigest(format!(
                "The {} you specified did not match the calculated checksum; nothing was stored.",
                alg.name()
            )));
        }
        verified.push((alg.name().to_string(), got));
    }
    Ok(verified)
}

/// Streams the file of a POST form — its size known only at its end — into
/// a new blob (kept in memory while it could still be an inline blob),
/// computing SHA-256, MD5 and the `declared` checksums; refuses a file
/// outside `range` (bytes, inclusive) with S3's EntityTooLarge or
/// EntityTooSmall. Staged bytes are removed on any failure.
pub async fn receive_stream<S, E>(
    app: &App,
    mut stream: S,
    range: (u64, u64),
    declared: Vec<(ChecksumAlgorithm, String)>,
) -> Result<Received, ApiError>
where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    use futures_util::StreamExt;
    let _receiving = app.metrics.receiving();
    app.storage.check_space(range.0)?;
    let max = range.1.min(app.config.upload.max_size);
    let mut sink = Sink::Memory(bytes::BytesMut::new());
    let mut d = Digests {
        sha: Sha256::new(),
        md5: Md5Lane::for_length(0),
        extra: declared.iter().map(|(a, _)| a.checksummer()).collect(),
    };
    let mut received: u64 = 0;
    while let Some(piece) = stream.next().await {
        let bytes = piece.map_err(|e| {
            ApiError::IncompleteBody(format!(
                "the form's file stopped after {received} bytes ({e}); nothing was stored, \
                 retry the upload"
            ))
        })?;
        received += bytes.len() as u64;
        if received > max {
            return Err(ApiError::EntityTooLarge(format!(
                "Your proposed upload exceeds the maximum allowed size: at most {max} bytes \
                 (the policy's content-length-range, or the gateway's upload.max_size); \
                 nothing was stored."
            )));
        }
        sink = match sink {
            Sink::Memory(mut m) if !app.storage.keeps_inline((m.len() + bytes.len()) as u64) => {
                let mut staged = app.storage.stage().await?;
                staged.write(&m).await?;
                staged.write(&bytes).await?;
                m.clear();
                Sink::Staged(staged)
            }
            Sink::Memory(mut m) => {
                m.extend_from_slice(&bytes);
                Sink::Memory(m)
            }
            Sink::Staged(mut st) => {
                st.write(&bytes).await?;
                Sink::Staged(st)
            }
        };
        if received / SPACE_CHECK_STEP != (received - bytes.len() as u64) / SPACE_CHECK_STEP {
            app.storage.check_space(0)?;
        }
        d.update(bytes).await?;
    }
    if received < range.0 {
        return Err(ApiError::EntityTooSmall(format!(
            "Your proposed upload is smaller than the minimum allowed size: {received} bytes, \
             the policy's content-length-range asks for at least {}; nothing was stored.",
            range.0
        )));
    }
    let checksums = check_declared(&finish(d.extra), declared)?;
    Ok(Received {
        computed: None,
        payload: sink.into_payload(),
        blob: BlobInfo {
            sha256: Digest(d.sha.finalize().into()),
            size: received,
            md5: Some(d.md5.finish().await?),
        },
        checksums,
    })
}

/// Reads a small XML request body (at most `limit` bytes) whole and checks
/// it against its `Content-MD5` / `x-amz-checksum-*` headers; `what` names
/// it in the error.
pub async fn read_xml_body(
    parts: &http::request::Parts,
    body: Incoming,
    limit: usize,
    what: &str,
) -> Result<Bytes, ApiError> {
    let xml = read_limited(body, limit, what).await?;
    verify_buffered(&parts.headers, &xml)?;
    Ok(xml)
}

/// Reads CompleteMultipartUpload's part list (at most `limit` bytes) and
/// checks its `Content-MD5`: its `x-amz-checksum-*` headers describe the
/// object it assembles, not this body.
pub async fn read_part_list(
    parts: &http::request::Parts,
    body: Incoming,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let xml = read_limited(body, limit, "part list").await?;
    let mut md5_only = http::HeaderMap::new();
    if let Some(v) = parts.headers.get("content-md5") {
        md5_only.insert("content-md5", v.clone());
    }
    verify_buffered(&md5_only, &xml)?;
    Ok(xml)
}

async fn read_limited(body: Incoming, limit: usize, what: &str) -> Result<Bytes, ApiError> {
    use http_body_util::{BodyExt, Limited};
    Ok(Limited::new(body, limit)
        .collect()
        .await
        .map_err(|_| {
            ApiError::MalformedXml(format!(
                "the {what} is larger than {limit} bytes or arrived incomplete"
            ))
        })?
        .to_bytes())
}

/// Checks `Content-MD5` and `x-amz-checksum-*` headers against a small
/// body read whole (the XML of DeleteObjects, CompleteMultipartUpload).
pub fn verify_buffered(h: &http::HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    use base64::Engine;
    use md5::Digest as _;
    if let Some(v) = h.get("content-md5") {
        let sum = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body));
        if v.to_str().ok().map(str::trim) != Some(sum.as_str()) {
            return Err(ApiError::BadDigest(
                "The Content-MD5 you specified did not match what we received".into(),
            ));
        }
    }
    for (name, value) in h {
        let Some(alg) = ChecksumAlgorithm::from_header_name(name.as_str()) else {
            continue;
        };
        let mut c = alg.checksummer();
        c.update(body);
        if value.to_str().ok().map(str::trim) != Some(c.finish().as_str()) {
            return Err(ApiError::BadDigest(format!(
                "The {} you specified did not match the calculated checksum",
                alg.name()
            )));
        }
    }
    Ok(())
}

/// The request's Content-Length; S3 requires one on every write.
pub fn content_length(parts: &http::request::Parts) -> Result<u64, ApiError> {
    let Some(v) = parts.headers.get(http::header::CONTENT_LENGTH) else {
        return Err(ApiError::MissingContentLength);
    };
    v.to_str()
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| ApiError::BadRequest("Content-Length is not a number".into()))
}
