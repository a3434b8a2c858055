//! Step 5: decoding an `aws-chunked` body (the `STREAMING-*` payload modes), sans I/O.
//!
//! Owns: the framing `hex-size[;chunk-signature=<64 hex>]\r\n<data>\r\n` … final 0-size chunk,
//! then either `\r\n` or trailing header lines and `\r\n`; verifying every chunk signature in
//! sequence from the seed (the header signature) and the `x-amz-trailer-signature`; returning
//! the trailing headers; mapping failures to S3 error codes.
//! Must never: buffer more than one header/trailer line ([`MAX_LINE`] bytes) or hold a chunk's
//! data (it is hashed incrementally and handed straight to the caller), do I/O, panic on any
//! input, compare signatures with `==`, or echo client bytes or signatures in an error.
//!
//! Data is handed out as it arrives, before its chunk's signature can be checked (the
//! signature covers the whole chunk). The caller must treat the output as provisional and
//! commit it only once [`ChunkedDecoder::finish`] has returned `Ok`.
//!
//! Error mapping (S3 does not document every case; these are the closest S3 codes):
//! - a chunk or trailer signature that does not verify: 403 `SignatureDoesNotMatch`;
//! - the body ends early (no final 0-size chunk, or an unterminated trailer): 400
//!   `IncompleteBody`;
//! - framing that is not `aws-chunked` (bad hex size, missing `chunk-signature`, no CRLF after
//!   the data, an over-long line, bytes after the end): 400 `InvalidRequest`;
//! - a malformed or missing trailing header section: 400 `MalformedTrailerError`.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::checksum::ChecksumAlgorithm;
use super::key::SigningKey;
use super::string_to_sign::{chunk_string_to_sign, trailer_string_to_sign, EMPTY_SHA256};

/// Longest chunk-header or trailer line accepted, without its CRLF.
pub const MAX_LINE: usize = 4096;

/// Most trailing headers accepted (S3 sends one checksum; a few more are tolerated).
pub const MAX_TRAILERS: usize = 16;

/// Name of the trailing header that carries the trailer signature.
pub const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";

const CHUNK_SIGNATURE_EXT: &str = "chunk-signature=";

/// Whether chunks carry signatures. `Debug` redacts the seed signature and the key.
#[derive(Clone)]
pub enum StreamingMode {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`: every chunk (and the trailer) signed,
    /// chained from the request's own signature.
    Signed {
        /// The verified `Authorization` signature (lowercase hex).
        seed_signature: String,
        /// The key that verified it.
        signing_key: SigningKey,
        /// The request time, `yyyymmddThhmmssZ`.
        amz_date: String,
        /// The credential scope, `yyyymmdd/region/service/aws4_request`.
        scope: String,
    },
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: plain `hex-size\r\n` chunk headers.
    Unsigned,
}

impl std::fmt::Debug for StreamingMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamingMode::Signed {
                amz_date, scope, ..
            } => f
                .debug_struct("Signed")
                .field("seed_signature", &"***")
                .field("signing_key", &"***")
                .field("amz_date", amz_date)
                .field("scope", scope)
                .finish(),
            StreamingMode::Unsigned => f.write_str("Unsigned"),
        }
    }
}

/// Trailing headers received after the final chunk (the trailer signature excluded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trailers {
    /// Lowercase names with trimmed values, in the order received, e.g.
    /// `("x-amz-checksum-crc32", "DUoRhQ==")`.
    pub fields: Vec<(String, String)>,
}

impl Trailers {
    /// The value of trailing header `name` (lowercase).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first `x-amz-checksum-<algorithm>` trailer with a known algorithm, and its value.
    pub fn checksum(&self) -> Option<(ChecksumAlgorithm, &str)> {
        self.fields
            .iter()
            .find_map(|(n, v)| ChecksumAlgorithm::from_header_name(n).map(|alg| (alg, v.as_str())))
    }
}

/// Why an `aws-chunked` body was refused. Messages are fixed texts: no client bytes, no
/// signatures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// A chunk signature or the trailer signature does not verify (including chunks that were
    /// reordered, dropped or altered).
    #[error(
        "The request signature we calculated does not match the signature you provided. \
         Check your key and signing method."
    )]
    SignatureDoesNotMatch,
    /// The body ended before the final chunk and its terminator.
    #[error("The request body terminated unexpectedly")]
    IncompleteBody,
    /// The framing is not valid `aws-chunked`.
    #[error("Invalid aws-chunked encoding: {0}")]
    InvalidChunkEncoding(&'static str),
    /// The trailing header section is malformed or missing.
    #[error("The request contained trailing data that was not well-formed: {0}")]
    MalformedTrailer(&'static str),
}

impl ChunkError {
    /// The S3 error code.
    pub fn s3_code(&self) -> &'static str {
        match self {
            ChunkError::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            ChunkError::IncompleteBody => "IncompleteBody",
            ChunkError::InvalidChunkEncoding(_) => "InvalidRequest",
            ChunkError::MalformedTrailer(_) => "MalformedTrailerError",
        }
    }

    /// The HTTP status.
    pub fn http_status(&self) -> u16 {
        match self {
            ChunkError::SignatureDoesNotMatch => 403,
            _ => 400,
        }
    }
}

/// Signature chain state for signed modes.
struct Chain {
    key: SigningKey,
    amz_date: String,
    scope: String,
    /// Signature of the previous chunk (the seed before the first chunk).
    previous: String,
}

impl Chain {
    /// Checks one chunk's signature given the hex SHA-256 of its data, and advances the chain.
    fn verify_chunk(&mut self, data_sha256_hex: &str, given: &str) -> Result<(), ChunkError> {
        let sts =
            chunk_string_to_sign(&self.amz_date, &self.scope, &self.previous, data_sha256_hex);
        let expected = self.key.sign(&sts);
        if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            return Err(ChunkError::SignatureDoesNotMatch);
        }
        self.previous = expected;
        Ok(())
    }
}

enum State {
    /// Reading a chunk header line.
    Header,
    /// Inside a chunk's data.
    Data {
        remaining: u64,
        hasher: Option<Sha256>,
        signature: String,
    },
    /// Expecting the CRLF after a chunk's data; `seen` bytes of it already matched.
    DataEnd { seen: u8 },
    /// After the final chunk: trailer lines until an empty line.
    Trailer,
    /// The body is complete; only end of input may follow.
    Done,
}

/// Incremental `aws-chunked` decoder: feed bytes as they arrive, get payload bytes back.
pub struct ChunkedDecoder {
    chain: Option<Chain>,
    expect_trailer: bool,
    state: State,
    line: Vec<u8>,
    decoded_len: u64,
    trailers: Vec<(String, String)>,
    trailer_signature: Option<String>,
    failed: Option<ChunkError>,
}

impl std::fmt::Debug for ChunkedDecoder {
    /// Progress only: never the signing key or the chained signature.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkedDecoder")
            .field("signed", &self.chain.is_some())
            .field("expect_trailer", &self.expect_trailer)
            .field("decoded_len", &self.decoded_len)
            .field("done", &matches!(self.state, State::Done))
            .field("failed", &self.failed)
            .finish()
    }
}

impl ChunkedDecoder {
    /// A decoder for one body. `expect_trailer` is true for the `*-TRAILER` payload modes.
    pub fn new(mode: StreamingMode, expect_trailer: bool) -> Self {
        let chain = match mode {
            StreamingMode::Signed {
                seed_signature,
                signing_key,
                amz_date,
                scope,
            } => Some(Chain {
                key: signing_key,
                amz_date,
                scope,
                previous: seed_signature,
            }),
            StreamingMode::Unsigned => None,
        };
        ChunkedDecoder {
            chain,
            expect_trailer,
            state: State::Header,
            line: Vec::new(),
            decoded_len: 0,
            trailers: Vec::new(),
            trailer_signature: None,
            failed: None,
        }
    }

    /// Payload bytes handed out so far (compare with `x-amz-decoded-content-length`).
    pub fn decoded_len(&self) -> u64 {
        self.decoded_len
    }

    /// Feeds the next bytes of the body; decoded payload slices go to `out` in order. After an
    /// error the decoder stays failed and returns that error again.
    pub fn feed(&mut self, input: &[u8], out: &mut impl FnMut(&[u8])) -> Result<(), ChunkError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.feed_inner(input, out);
        if let Err(err) = &result {
            self.failed = Some(err.clone());
        }
        result
    }

    /// Ends the body: `Ok` with the trailing headers only if the final chunk (and the trailer,
    /// when expected) arrived complete and verified.
    ///
    /// A trailer section whose closing empty line is missing is accepted when everything
    /// before it is complete and verified, since the trailer itself is whole.
    pub fn finish(&mut self) -> Result<Trailers, ChunkError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = match self.state {
            State::Done => Ok(()),
            State::Trailer if self.line.is_empty() && !self.trailers.is_empty() => {
                self.end_of_trailer()
            }
            _ => Err(ChunkError::IncompleteBody),
        };
        match result {
            Ok(()) => {
                self.state = State::Done;
                Ok(Trailers {
                    fields: self.trailers.clone(),
                })
            }
            Err(err) => {
                self.failed = Some(err.clone());
                Err(err)
            }
        }
    }

    fn feed_inner(&mut self, input: &[u8], out: &mut impl FnMut(&[u8])) -> Result<(), ChunkError> {
        let mut rest = input;
        while !rest.is_empty() {
            match &mut self.state {
                State::Header | State::Trailer => {
                    let Some(line_end) = rest.iter().position(|&b| b == b'\n') else {
                        self.push_line(rest)?;
                        return Ok(());
                    };
                    self.push_line(&rest[..line_end])?;
                    rest = &rest[line_end + 1..];
                    let mut line = std::mem::take(&mut self.line);
                    if line.pop() != Some(b'\r') {
                        return Err(self.line_error("lines must end with CRLF"));
                    }
                    if matches!(self.state, State::Header) {
                        self.chunk_header(&line)?;
                    } else {
                        self.trailer_line(&line)?;
                    }
                    // Reuse the allocation for the next line.
                    line.clear();
                    self.line = line;
                }
                State::Data {
                    remaining,
                    hasher,
                    signature,
                } => {
                    let take =
                        usize::try_from(*remaining).map_or(rest.len(), |r| r.min(rest.len()));
                    let (data, after) = rest.split_at(take);
                    if let Some(h) = hasher {
                        h.update(data);
                    }
                    out(data);
                    self.decoded_len += take as u64;
                    *remaining -= take as u64;
                    rest = after;
                    if *remaining == 0 {
                        let signature = std::mem::take(signature);
                        let digest = hasher.take().map(|h| hex::encode(h.finalize()));
                        if let (Some(chain), Some(digest)) = (self.chain.as_mut(), digest) {
                            chain.verify_chunk(&digest, &signature)?;
                        }
                        self.state = State::DataEnd { seen: 0 };
                    }
                }
                State::DataEnd { seen } => {
                    let expected = if *seen == 0 { b'\r' } else { b'\n' };
                    if rest[0] != expected {
                        return Err(ChunkError::InvalidChunkEncoding(
                            "chunk data must be followed by CRLF (size does not match the data)",
                        ));
                    }
                    rest = &rest[1..];
                    if *seen == 0 {
                        *seen = 1;
                    } else {
                        self.state = State::Header;
                    }
                }
                State::Done => {
                    return Err(ChunkError::InvalidChunkEncoding(
                        "data after the end of the aws-chunked body",
                    ));
                }
            }
        }
        Ok(())
    }

    fn line_error(&self, msg: &'static str) -> ChunkError {
        if matches!(self.state, State::Trailer) {
            ChunkError::MalformedTrailer(msg)
        } else {
            ChunkError::InvalidChunkEncoding(msg)
        }
    }

    fn push_line(&mut self, bytes: &[u8]) -> Result<(), ChunkError> {
        // +1 for the CR that is still part of `line` until the LF arrives.
        if self.line.len() + bytes.len() > MAX_LINE + 1 {
            return Err(self.line_error("line longer than 4096 bytes"));
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    /// `hex-size` (unsigned) or `hex-size;chunk-signature=<64 hex>` (signed).
    fn chunk_header(&mut self, line: &[u8]) -> Result<(), ChunkError> {
        let line = std::str::from_utf8(line)
            .map_err(|_| ChunkError::InvalidChunkEncoding("chunk header is not ASCII"))?;
        let (size, signature) = match (self.chain.is_some(), line.split_once(';')) {
            (true, Some((size, ext))) => {
                let sig = ext.strip_prefix(CHUNK_SIGNATURE_EXT).ok_or(
                    ChunkError::InvalidChunkEncoding("chunk header must carry chunk-signature="),
                )?;
                (size, sig.to_owned())
            }
            (true, None) => {
                return Err(ChunkError::InvalidChunkEncoding(
                    "chunk header must carry chunk-signature=",
                ))
            }
            (false, None) => (line, String::new()),
            (false, Some(_)) => {
                return Err(ChunkError::InvalidChunkEncoding(
                    "unsigned chunk header must be the hex size alone",
                ))
            }
        };
        let size = parse_hex_size(size)?;
        if size == 0 {
            if let Some(chain) = self.chain.as_mut() {
                chain.verify_chunk(EMPTY_SHA256, &signature)?;
            }
            self.state = State::Trailer;
        } else {
            self.state = State::Data {
                remaining: size,
                hasher: self.chain.is_some().then(Sha256::new),
                signature,
            };
        }
        Ok(())
    }

    /// One line after the final chunk: a trailing header, or the empty line that ends the body.
    fn trailer_line(&mut self, line: &[u8]) -> Result<(), ChunkError> {
        if line.is_empty() {
            return self.end_of_trailer();
        }
        if !self.expect_trailer {
            return Err(ChunkError::InvalidChunkEncoding(
                "the final chunk must be followed by CRLF",
            ));
        }
        if self.trailer_signature.is_some() {
            return Err(ChunkError::MalformedTrailer(
                "x-amz-trailer-signature must be the last trailing header",
            ));
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| ChunkError::MalformedTrailer("trailing header is not UTF-8"))?;
        let (name, value) = line
            .split_once(':')
            .ok_or(ChunkError::MalformedTrailer("trailing header without ':'"))?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(ChunkError::MalformedTrailer("invalid trailing header name"));
        }
        if name == TRAILER_SIGNATURE {
            if self.chain.is_none() {
                return Err(ChunkError::MalformedTrailer(
                    "unexpected x-amz-trailer-signature in an unsigned body",
                ));
            }
            self.trailer_signature = Some(value.to_owned());
            return Ok(());
        }
        if self.trailers.iter().any(|(n, _)| *n == name) {
            return Err(ChunkError::MalformedTrailer("repeated trailing header"));
        }
        if self.trailers.len() >= MAX_TRAILERS {
            return Err(ChunkError::MalformedTrailer("too many trailing headers"));
        }
        self.trailers.push((name, value.to_owned()));
        Ok(())
    }

    /// The trailer section is over: check it is complete and its signature verifies.
    fn end_of_trailer(&mut self) -> Result<(), ChunkError> {
        if self.expect_trailer {
            if self.trailers.is_empty() {
                return Err(ChunkError::MalformedTrailer(
                    "the trailing headers are missing",
                ));
            }
            if let Some(chain) = &self.chain {
                let given =
                    self.trailer_signature
                        .as_deref()
                        .ok_or(ChunkError::MalformedTrailer(
                            "x-amz-trailer-signature is missing",
                        ))?;
                let mut sorted: Vec<&(String, String)> = self.trailers.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                let canonical: String = sorted.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
                let sts = trailer_string_to_sign(
                    &chain.amz_date,
                    &chain.scope,
                    &chain.previous,
                    &canonical,
                );
                let expected = chain.key.sign(&sts);
                if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
                    return Err(ChunkError::SignatureDoesNotMatch);
                }
            }
        }
        self.state = State::Done;
        Ok(())
    }
}

/// 1 to 16 hex digits (either case), nothing else.
fn parse_hex_size(s: &str) -> Result<u64, ChunkError> {
    if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ChunkError::InvalidChunkEncoding(
            "chunk size must be 1 to 16 hex digits",
        ));
    }
    u64::from_str_radix(s, 16)
        .map_err(|_| ChunkError::InvalidChunkEncoding("chunk size must be 1 to 16 hex digits"))
}

#[cfg(test)]
mod tests {
    //! Property tests (bounded fuzzing) of the decoder: valid bodies decode
    //! to their payload however the input is split; anything decodes the
    //! same split as whole, within the line and trailer bounds, without a
    //! panic. Signatures are made with `SigningKey` and the string-to-sign
    //! functions, which `sigv4/tests` checks against AWS's vectors.

    use proptest::prelude::*;

    use super::*;

    const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
    const AMZ_DATE: &str = "20130524T000000Z";
    const SCOPE: &str = "20130524/us-east-1/s3/aws4_request";

    fn key() -> SigningKey {
        SigningKey::derive("secret", "20130524", "us-east-1", "s3")
    }

    fn signed() -> StreamingMode {
        StreamingMode::Signed {
            seed_signature: SEED.into(),
            signing_key: key(),
            amz_date: AMZ_DATE.into(),
            scope: SCOPE.into(),
        }
    }

    /// How a valid body is written.
    #[derive(Debug, Clone)]
    struct Body {
        chunks: Vec<Vec<u8>>,
        trailers: Vec<(String, String)>,
        signed: bool,
        /// Size digits: 0 lowercase, 1 uppercase, 2 zero-padded.
        hex_style: u8,
        /// Leave out the empty line closing a trailer section.
        unterminated_trailer: bool,
    }

    impl Body {
        fn mode(&self) -> (StreamingMode, bool) {
            let mode = if self.signed {
                signed()
            } else {
                StreamingMode::Unsigned
            };
            (mode, !self.trailers.is_empty())
        }

        fn payload(&self) -> Vec<u8> {
            self.chunks.concat()
        }

        fn encode(&self) -> Vec<u8> {
            let key = key();
            let mut previous = SEED.to_owned();
            let mut out = Vec::new();
            let empty: &[u8] = b"";
            for data in self.chunks.iter().map(Vec::as_slice).chain([empty]) {
                let size = match self.hex_style {
                    0 => format!("{:x}", data.len()),
                    1 => format!("{:X}", data.len()),
                    _ => format!("{:016x}", data.len()),
                };
                out.extend_from_slice(size.as_bytes());
                if self.signed {
                    let digest = hex::encode(Sha256::digest(data));
                    previous = key.sign(&chunk_string_to_sign(AMZ_DATE, SCOPE, &previous, &digest));
                    out.extend_from_slice(format!(";{CHUNK_SIGNATURE_EXT}{previous}").as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(data);
                if !data.is_empty() {
                    out.extend_from_slice(b"\r\n");
                }
            }
            for (name, value) in &self.trailers {
                out.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
            }
            if self.signed && !self.trailers.is_empty() {
                let mut sorted = self.trailers.clone();
                sorted.sort();
                let canonical: String = sorted.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
                let sig = key.sign(&trailer_string_to_sign(
                    AMZ_DATE, SCOPE, &previous, &canonical,
                ));
                out.extend_from_slice(format!("{TRAILER_SIGNATURE}:{sig}\r\n").as_bytes());
            }
            if self.trailers.is_empty() || !self.unterminated_trailer {
                out.extend_from_slice(b"\r\n");
            }
            out
        }
    }

    fn body() -> impl Strategy<Value = Body> {
        (
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..300), 0..6),
            proptest::collection::btree_map(
                "x-amz-checksum-[a-z0-9]{1,8}|[a-z][a-z0-9-]{0,12}",
                "[!-~]([ -~]{0,20}[!-~])?",
                0..4,
            ),
            any::<bool>(),
            0u8..3,
            any::<bool>(),
        )
            .prop_filter("an unsigned body has a trailer", |(_, t, signed, _, _)| {
                *signed || !t.is_empty()
            })
            .prop_map(
                |(chunks, trailers, signed, hex_style, unterminated_trailer)| Body {
                    chunks,
                    trailers: trailers
                        .into_iter()
                        .filter(|(n, _)| n != TRAILER_SIGNATURE)
                        .collect(),
                    signed,
                    hex_style,
                    unterminated_trailer,
                },
            )
    }

    /// Sorted cut points into a body of any length (taken modulo it).
    fn cuts() -> impl Strategy<Value = Vec<usize>> {
        proptest::collection::vec(any::<usize>(), 0..12)
    }

    /// Feeds `input` cut at `cuts`, checking the decoder's bounds after
    /// every piece; returns the bytes handed out and the final outcome.
    fn run(
        mode: StreamingMode,
        trailer: bool,
        input: &[u8],
        cuts: &[usize],
    ) -> (Vec<u8>, Result<Trailers, ChunkError>) {
        let mut at: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        at.push(0);
        at.push(input.len());
        at.sort_unstable();
        let mut dec = ChunkedDecoder::new(mode, trailer);
        let mut out = Vec::new();
        for w in at.windows(2) {
            let fed = dec.feed(&input[w[0]..w[1]], &mut |d| out.extend_from_slice(d));
            assert!(dec.line.len() <= MAX_LINE + 1, "line of {}", dec.line.len());
            assert!(dec.trailers.len() <= MAX_TRAILERS);
            assert_eq!(dec.decoded_len(), out.len() as u64);
            if fed.is_err() {
                break;
            }
        }
        let end = dec.finish();
        (out, end)
    }

    /// Structure-aware garbage: pieces of real framing in random order.
    fn garbage() -> impl Strategy<Value = Vec<u8>> {
        let token = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40),
            "[0-9a-fA-F]{1,17}".prop_map(String::into_bytes),
            Just(b"\r\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"0\r\n\r\n".to_vec()),
            Just(format!(";{CHUNK_SIGNATURE_EXT}").into_bytes()),
            "[0-9a-f]{64}".prop_map(String::into_bytes),
            Just(b"x-amz-checksum-crc32:AAAAAA==\r\n".to_vec()),
            Just(format!("{TRAILER_SIGNATURE}:").into_bytes()),
        ];
        proptest::collection::vec(token, 0..24).prop_map(|t| t.concat())
    }

    proptest! {
        #![proptest_config(crate::testing::config(4000))]

        /// A valid body decodes to its payload and trailers, whole or split
        /// anywhere.
        #[test]
        fn prop_valid_bodies_decode_split_anywhere(b in body(), cuts in cuts()) {
            let wire = b.encode();
            let (mode, trailer) = b.mode();
            let whole = run(mode.clone(), trailer, &wire, &[]);
            prop_assert_eq!(&whole.0, &b.payload());
            let got = whole.1.clone().map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert_eq!(got.fields, b.trailers.clone());
            prop_assert_eq!(run(mode, trailer, &wire, &cuts), whole);
        }

        /// One byte of a valid body changed: an error, or (for a change the
        /// framing allows, such as the case of a hex digit) the same payload
        /// (a signed body) — never a panic.
        #[test]
        fn prop_altered_bodies(b in body(), at in any::<usize>(), byte in any::<u8>(), cuts in cuts()) {
            let mut wire = b.encode();
            let i = at % wire.len();
            let changed = wire[i] != byte;
            wire[i] = byte;
            let (mode, trailer) = b.mode();
            let whole = run(mode.clone(), trailer, &wire, &[]);
            if b.signed && changed && whole.1.is_ok() {
                prop_assert_eq!(&whole.0, &b.payload());
            }
            prop_assert_eq!(run(mode, trailer, &wire, &cuts), whole);
        }

        /// Garbage: the same outcome split or whole, within the bounds; and
        /// what an unsigned decoder accepts is a complete body.
        #[test]
        fn prop_garbage_is_split_invariant(
            input in prop_oneof![proptest::collection::vec(any::<u8>(), 0..2000), garbage()],
            signed_mode in any::<bool>(),
            trailer in any::<bool>(),
            cuts in cuts(),
        ) {
            let mode = || if signed_mode { signed() } else { StreamingMode::Unsigned };
            let whole = run(mode(), trailer, &input, &[]);
            prop_assert_eq!(run(mode(), trailer, &input, &cuts), whole.clone());
            if let (Ok(_), true) = (&whole.1, signed_mode) {
                prop_assert!(false, "garbage verified as signed: {:?}", input);
            }
        }
    }

    #[test]
    fn an_endless_line_or_a_huge_size_costs_no_memory() {
        let mut dec = ChunkedDecoder::new(StreamingMode::Unsigned, true);
        let r = dec.feed(&vec![b'f'; 1 << 20], &mut |_| {});
        assert_eq!(
            r,
            Err(ChunkError::InvalidChunkEncoding(
                "line longer than 4096 bytes"
            ))
        );
        assert!(dec.line.len() <= MAX_LINE + 1);

        let mut dec = ChunkedDecoder::new(StreamingMode::Unsigned, true);
        let mut n = 0;
        dec.feed(b"ffffffffffffffff\r\n", &mut |_| {}).unwrap();
        dec.feed(&[7; 4096], &mut |d| n += d.len()).unwrap();
        assert_eq!(n, 4096);
        assert_eq!(dec.finish(), Err(ChunkError::IncompleteBody));
        let mut dec = ChunkedDecoder::new(StreamingMode::Unsigned, true);
        assert!(dec.feed(b"10000000000000000\r\n", &mut |_| {}).is_err());
    }
}
