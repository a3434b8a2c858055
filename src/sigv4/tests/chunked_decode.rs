//! `ChunkedDecoder` on the S3 chunked-upload example (every feed split size), the signed- and
//! unsigned-trailer bodies in `botocore-vectors.json`, and damaged bodies.
//!
//! Owns: behavioural tests of the `aws-chunked` decoder.
//! Must never: use the wall clock, or build an expected signature with the code under test
//! (bodies carry the published or independently generated signatures).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::{json_pairs, load_json};
use crate::sigv4::chunked::MAX_LINE;
use crate::sigv4::{
    verify_header_auth, ChunkError, ChunkedDecoder, RequestParts, SigningKey, StreamingMode,
    Trailers, VerifyParams,
};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// The S3 example: (seed signature, chunk sizes and signatures, the wire body).
struct S3Example {
    seed: String,
    chunks: Vec<(usize, String)>,
    content_length: usize,
}

fn s3_example() -> S3Example {
    let json = load_json("s3-sigv4-examples.json");
    let case = &json["chunkedUpload"];
    S3Example {
        seed: case["seedSignature"].as_str().unwrap().to_owned(),
        chunks: case["chunks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    usize::try_from(c["size"].as_u64().unwrap()).unwrap(),
                    c["signature"].as_str().unwrap().to_owned(),
                )
            })
            .collect(),
        content_length: case["headers"]["content-length"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
    }
}

/// Frames signed chunks: `hex;chunk-signature=sig\r\n<data>\r\n`, data being `size` × 'a'.
fn frame(chunks: &[(usize, String)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (size, sig) in chunks {
        body.extend_from_slice(format!("{size:x};chunk-signature={sig}\r\n").as_bytes());
        body.extend(std::iter::repeat_n(b'a', *size));
        body.extend_from_slice(b"\r\n");
    }
    body
}

fn s3_mode(seed: &str) -> StreamingMode {
    StreamingMode::Signed {
        seed_signature: seed.to_owned(),
        signing_key: SigningKey::derive(SECRET, "20130524", "us-east-1", "s3"),
        amz_date: "20130524T000000Z".into(),
        scope: "20130524/us-east-1/s3/aws4_request".into(),
    }
}

/// Feeds `body` in pieces of `split` bytes; returns the decoded payload and the outcome.
fn decode(
    mode: StreamingMode,
    trailer: bool,
    body: &[u8],
    split: usize,
) -> (Vec<u8>, Result<Trailers, ChunkError>) {
    let mut dec = ChunkedDecoder::new(mode, trailer);
    let mut out = Vec::new();
    for piece in body.chunks(split) {
        if let Err(e) = dec.feed(piece, &mut |d| out.extend_from_slice(d)) {
            // The decoder stays failed.
            assert_eq!(dec.feed(b"x", &mut |_| {}), Err(e.clone()));
            assert_eq!(dec.finish(), Err(e.clone()));
            return (out, Err(e));
        }
    }
    let res = dec.finish();
    if res.is_ok() {
        assert_eq!(dec.decoded_len(), out.len() as u64);
    }
    (out, res)
}

const SPLITS: &[usize] = &[
    1,
    2,
    3,
    7,
    17,
    64,
    85,
    86,
    87,
    1000,
    4096,
    65_536,
    65_621,
    1 << 20,
];

#[test]
fn s3_example_decodes_at_every_split_size() {
    let ex = s3_example();
    let body = frame(&ex.chunks);
    assert_eq!(
        body.len(),
        ex.content_length,
        "framing matches the published Content-Length"
    );
    let mut splits: Vec<usize> = SPLITS.to_vec();
    splits.push(body.len());
    for split in splits {
        let (out, res) = decode(s3_mode(&ex.seed), false, &body, split);
        assert_eq!(res, Ok(Trailers::default()), "split {split}");
        assert_eq!(out.len(), 66_560, "split {split}");
        assert!(out.iter().all(|&b| b == b'a'));
    }
}

#[test]
fn s3_example_tampering_is_signature_mismatch() {
    let ex = s3_example();
    // A flipped signature digit in each chunk.
    for i in 0..ex.chunks.len() {
        let mut chunks = ex.chunks.clone();
        let sig = &mut chunks[i].1;
        let flipped = if sig.ends_with('0') { '1' } else { '0' };
        sig.replace_range(63.., &flipped.to_string());
        let (_, res) = decode(s3_mode(&ex.seed), false, &frame(&chunks), 4096);
        assert_eq!(res, Err(ChunkError::SignatureDoesNotMatch), "chunk {i}");
    }
    // A wrong seed.
    let (out, res) = decode(s3_mode(&"0".repeat(64)), false, &frame(&ex.chunks), 4096);
    assert_eq!(res, Err(ChunkError::SignatureDoesNotMatch));
    assert_eq!(
        out.len(),
        65_536,
        "data is handed out before its chunk is verified"
    );
    // Reordered chunks.
    let reordered = vec![
        ex.chunks[1].clone(),
        ex.chunks[0].clone(),
        ex.chunks[2].clone(),
    ];
    let (_, res) = decode(s3_mode(&ex.seed), false, &frame(&reordered), 4096);
    assert_eq!(res, Err(ChunkError::SignatureDoesNotMatch));
    // A dropped chunk.
    let dropped = vec![ex.chunks[0].clone(), ex.chunks[2].clone()];
    let (_, res) = decode(s3_mode(&ex.seed), false, &frame(&dropped), 4096);
    assert_eq!(res, Err(ChunkError::SignatureDoesNotMatch));
    // A changed data byte.
    let mut body = frame(&ex.chunks);
    body[200] = b'b';
    let (_, res) = decode(s3_mode(&ex.seed), false, &body, 4096);
    assert_eq!(res, Err(ChunkError::SignatureDoesNotMatch));
    // Uppercase hex signature is not the signature.
    let mut upper = ex.chunks.clone();
    upper[0].1 = upper[0].1.to_ascii_uppercase();
    let (_, res) = decode(s3_mode(&ex.seed), false, &frame(&upper), 4096);
    assert_eq!(res, Err(ChunkError::SignatureDoesNotMatch));
}

#[test]
fn s3_example_truncated_anywhere_is_incomplete() {
    let ex = s3_example();
    let body = frame(&ex.chunks);
    for cut in [
        0,
        1,
        50,
        86,
        87,
        65_000,
        65_623,
        65_624,
        65_625,
        body.len() - 86,
        body.len() - 2,
        body.len() - 1,
    ] {
        let (_, res) = decode(s3_mode(&ex.seed), false, &body[..cut], 4096);
        assert_eq!(res, Err(ChunkError::IncompleteBody), "cut at {cut}");
    }
}

#[test]
fn framing_errors() {
    let ex = s3_example();
    let body = frame(&ex.chunks);
    // Length of the first chunk header line, CRLF included.
    let h0 = body.iter().position(|&b| b == b'\n').unwrap() + 1;
    assert_eq!(h0, 88);
    let invalid = |res: Result<Trailers, ChunkError>, what: &str| {
        let err = res.unwrap_err();
        assert_eq!(
            (err.s3_code(), err.http_status()),
            ("InvalidRequest", 400),
            "{what}: {err:?}"
        );
    };
    // Bad hex sizes.
    for size in [
        "",
        "1g000",
        "+10000",
        " 10000",
        "00000000000000010000",
        "-1",
    ] {
        let b = [
            format!("{size};chunk-signature={}\r\n", ex.chunks[0].1).as_bytes(),
            &body[h0..],
        ]
        .concat();
        invalid(decode(s3_mode(&ex.seed), false, &b, 4096).1, size);
    }
    // Missing or misspelt chunk-signature extension in signed mode.
    invalid(
        decode(s3_mode(&ex.seed), false, b"10000\r\n", 4096).1,
        "no ext",
    );
    invalid(
        decode(s3_mode(&ex.seed), false, b"10000;chunk-sig=ab\r\n", 4096).1,
        "bad ext",
    );
    // Bare LF line ending.
    let lf = [&body[..85], b"\n".as_slice(), &body[h0..]].concat();
    invalid(decode(s3_mode(&ex.seed), false, &lf, 4096).1, "bare LF");
    // A size that does not match the data: more data than declared.
    let longer = [&body[..h0 + 65_536], b"a", &body[h0 + 65_536..]].concat();
    invalid(
        decode(s3_mode(&ex.seed), false, &longer, 4096).1,
        "size mismatch",
    );
    // Bytes after the end.
    let trailing = [&body[..], b"x"].concat();
    invalid(
        decode(s3_mode(&ex.seed), false, &trailing, 4096).1,
        "after end",
    );
    // A trailer where none is expected.
    let with_trailer = [
        &body[..body.len() - 2],
        b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n",
    ]
    .concat();
    invalid(
        decode(s3_mode(&ex.seed), false, &with_trailer, 4096).1,
        "unexpected trailer",
    );
    // Over-long header line, fed byte-wise and at once: refused without buffering it all.
    let long = vec![b'1'; MAX_LINE + 2];
    for split in [1, 4096, long.len()] {
        invalid(
            decode(s3_mode(&ex.seed), false, &long, split).1,
            "long line",
        );
    }
    // A line of exactly MAX_LINE bytes is fine as far as length goes (then fails on content).
    let mut exact = vec![b'0'; MAX_LINE];
    exact.extend_from_slice(b"\r\n");
    let (_, res) = decode(StreamingMode::Unsigned, false, &exact, 7);
    invalid(res, "16+ hex digits");
}

fn botocore() -> serde_json::Value {
    load_json("botocore-vectors.json")
}

#[test]
fn signed_trailer_body_at_every_split_size() {
    let json = botocore();
    let case = &json["signedTrailer"];
    let creds = &json["credentials"];
    let headers = json_pairs(&case["headers"]);
    let req = RequestParts {
        method: "PUT",
        raw_path: case["path"].as_str().unwrap(),
        raw_query: "",
        headers: &headers,
    };
    let secret = creds["secretAccessKey"].as_str().unwrap().to_owned();
    let now = crate::sigv4::string_to_sign::parse_amz_date("20240301T100000Z").unwrap();
    let vp = VerifyParams {
        region: "us-east-1",
        service: "s3",
    };
    let auth = verify_header_auth(&req, |_| Some(secret.clone()), &vp, now).unwrap();
    assert_eq!(auth.signature, case["seedSignature"].as_str().unwrap());
    let (mode, trailer) = auth.streaming_mode().unwrap();
    assert!(trailer);
    let body = STANDARD.decode(case["body_b64"].as_str().unwrap()).unwrap();
    let expected_payload: Vec<u8> = (0..=255u8).cycle().take(76_800).collect();
    let crc = case["crc32"].as_str().unwrap();
    for &split in SPLITS.iter().chain([body.len()].iter()) {
        let (out, res) = decode(mode.clone(), true, &body, split);
        let trailers = res.unwrap_or_else(|e| panic!("split {split}: {e:?}"));
        assert_eq!(out, expected_payload, "split {split}");
        assert_eq!(
            trailers.fields,
            vec![("x-amz-checksum-crc32".to_owned(), crc.to_owned())]
        );
        assert_eq!(trailers.get("x-amz-checksum-crc32"), Some(crc));
        assert_eq!(
            trailers.checksum(),
            Some((crate::sigv4::ChecksumAlgorithm::Crc32, crc))
        );
    }
    let dec = ChunkedDecoder::new(mode.clone(), true);
    let shown = format!("{dec:?} {mode:?}");
    assert!(
        !shown.contains(case["seedSignature"].as_str().unwrap()),
        "{shown}"
    );

    // Tampered trailer value, trailer signature, missing signature, missing trailer.
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let tail_at = body.len() - 200;
    let tail = text(&body[tail_at..]);
    let with_tail = |t: &str| [&body[..tail_at], t.as_bytes()].concat();
    let bad_crc = tail.replace(crc, "AAAAAA==");
    assert_eq!(
        decode(mode.clone(), true, &with_tail(&bad_crc), 4096).1,
        Err(ChunkError::SignatureDoesNotMatch)
    );
    let sig = case["trailerSignature"].as_str().unwrap();
    let bad_sig = tail.replace(sig, &"0".repeat(64));
    assert_eq!(
        decode(mode.clone(), true, &with_tail(&bad_sig), 4096).1,
        Err(ChunkError::SignatureDoesNotMatch)
    );
    let no_sig = tail.replace(&format!("x-amz-trailer-signature:{sig}\r\n"), "");
    let err = decode(mode.clone(), true, &with_tail(&no_sig), 4096)
        .1
        .unwrap_err();
    assert_eq!(err.s3_code(), "MalformedTrailerError");
    let no_trailer = tail.replace(&format!("x-amz-checksum-crc32:{crc}\r\n"), "");
    assert!(decode(mode.clone(), true, &with_tail(&no_trailer), 4096)
        .1
        .is_err());
    // Signature line before the checksum line.
    let swapped = tail.replace(
        &format!("x-amz-checksum-crc32:{crc}\r\nx-amz-trailer-signature:{sig}\r\n"),
        &format!("x-amz-trailer-signature:{sig}\r\nx-amz-checksum-crc32:{crc}\r\n"),
    );
    assert_eq!(
        decode(mode.clone(), true, &with_tail(&swapped), 4096)
            .1
            .unwrap_err()
            .s3_code(),
        "MalformedTrailerError"
    );
    // Missing final empty line: tolerated once the trailer is complete and verified.
    let (_, res) = decode(mode.clone(), true, &body[..body.len() - 2], 4096);
    assert!(res.is_ok());
    // Cut inside the trailer: incomplete.
    let (_, res) = decode(mode.clone(), true, &body[..body.len() - 30], 4096);
    assert_eq!(res, Err(ChunkError::IncompleteBody));
    // Cut right after the final chunk header: incomplete.
    let cut = body.len() - tail.len() + tail.find("x-amz-checksum").unwrap();
    let (_, res) = decode(mode, true, &body[..cut], 4096);
    assert_eq!(res, Err(ChunkError::IncompleteBody));
}

#[test]
fn botocore_unsigned_trailer_body() {
    let json = botocore();
    let case = json["headerAuth"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "put-object-https-chunked-trailer")
        .unwrap();
    let body = STANDARD.decode(case["body_b64"].as_str().unwrap()).unwrap();
    let headers = json_pairs(&case["headers"]);
    let decoded_len: usize = headers
        .iter()
        .find(|(n, _)| n == "x-amz-decoded-content-length")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let expected: Vec<u8> = b"hello world".repeat(10_000);
    assert_eq!(decoded_len, expected.len());
    for &split in SPLITS.iter().chain([body.len()].iter()) {
        let (out, res) = decode(StreamingMode::Unsigned, true, &body, split);
        let trailers = res.unwrap_or_else(|e| panic!("split {split}: {e:?}"));
        assert_eq!(out, expected, "split {split}");
        let crc = trailers.get("x-amz-checksum-crc32").unwrap();
        let mut c = crate::sigv4::ChecksumAlgorithm::Crc32.checksummer();
        c.update(&out);
        assert_eq!(
            crc,
            c.finish(),
            "the trailer checksum is botocore's CRC32 of the payload"
        );
    }
    // Unsigned bodies reject chunk extensions and trailer signatures.
    let err = decode(
        StreamingMode::Unsigned,
        true,
        b"5;chunk-signature=00\r\nhello\r\n0\r\n\r\n",
        3,
    )
    .1
    .unwrap_err();
    assert_eq!(err.s3_code(), "InvalidRequest");
    let sig_line =
        b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\nx-amz-trailer-signature:00\r\n\r\n";
    assert_eq!(
        decode(StreamingMode::Unsigned, true, sig_line, 3)
            .1
            .unwrap_err()
            .s3_code(),
        "MalformedTrailerError"
    );
    // A minimal valid unsigned body; trailer names are lowercased and values trimmed.
    let ok = b"5\r\nhello\r\n0\r\nX-Amz-Checksum-CRC32: NhCmhg== \r\n\r\n";
    let (out, res) = decode(StreamingMode::Unsigned, true, ok, 1);
    assert_eq!(out, b"hello");
    assert_eq!(res.unwrap().get("x-amz-checksum-crc32"), Some("NhCmhg=="));
    // Expected trailer missing entirely.
    let none = b"5\r\nhello\r\n0\r\n\r\n";
    assert_eq!(
        decode(StreamingMode::Unsigned, true, none, 1)
            .1
            .unwrap_err()
            .s3_code(),
        "MalformedTrailerError"
    );
    // Repeated trailer names.
    let dup = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n";
    assert_eq!(
        decode(StreamingMode::Unsigned, true, dup, 5)
            .1
            .unwrap_err()
            .s3_code(),
        "MalformedTrailerError"
    );
}
