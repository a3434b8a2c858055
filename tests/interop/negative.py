"""Negative interop: requests a real client (or a faithful hand-made one)
gets wrong must fail with the S3 error code AWS returns, and store nothing.

  python negative.py [ENDPOINT] negatives   every rejection, each followed by
                                            HEAD/list checks that nothing is there
  python negative.py [ENDPOINT] controls    the same hand-made requests, unaltered,
                                            succeed (so the rejections are for the
                                            reason tested, not a malformed request)

The hand-made requests are signed with botocore's own SigV4Auth; the
aws-chunked bodies (chunk signatures, trailers) are built here as the AWS
documentation describes them, since botocore sends aws-chunked only over
HTTPS and never with chunk signatures.
"""

import hashlib
import hmac
import os
import sys
import time

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from common import (
    BUCKET,
    all_keys,
    check,
    client,
    crc32_b64,
    endpoint,
    eq,
    expect_error,
    expect_http_error,
    http_request,
    md5_b64,
    rand_bytes,
    run,
    sha256_b64,
    step,
)

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
REGION = "us-east-1"
PREFIX = "neg/"


def url_for(key):
    return f"{endpoint()}/{BUCKET}/{key}"


def signing_key(secret, date):
    k = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (REGION, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def sign_headers(key, headers, content_sha256, secret=None):
    """Headers signed by botocore's SigV4Auth with the given
    x-amz-content-sha256 (a hex digest or a STREAMING-* mode); returns
    (headers, seed signature, timestamp, scope, signing key)."""
    access = os.environ["AWS_ACCESS_KEY_ID"]
    secret = secret or os.environ["AWS_SECRET_ACCESS_KEY"]
    req = AWSRequest(method="PUT", url=url_for(key), headers=dict(headers))
    req.headers["X-Amz-Content-SHA256"] = content_sha256
    SigV4Auth(Credentials(access, secret), "s3", REGION).add_auth(req)
    auth = req.headers["Authorization"]
    seed = auth.rsplit("Signature=", 1)[1]
    stamp = req.headers["X-Amz-Date"]
    scope = f"{stamp[:8]}/{REGION}/s3/aws4_request"
    out = {k: v for k, v in req.headers.items()}
    return out, seed, stamp, scope, signing_key(secret, stamp[:8])


def hmac_hex(k, msg):
    return hmac.new(k, msg.encode(), hashlib.sha256).hexdigest()


def chunk_sizes(n, size):
    return [size] * (n // size) + ([n % size] if n % size else [])


def signed_chunked_request(key, data, chunk=64 * 1024, tamper_sig=None, tamper_data=None, trailer=None,
                           tamper_trailer_sig=False):
    """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD request (or -TRAILER with
    `trailer` = (name, value)). tamper_sig: index of the chunk whose
    signature gets one hex digit flipped (-1: the final empty chunk);
    tamper_data: index of a chunk whose data gets one byte changed after
    signing."""
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else "")
    sizes = chunk_sizes(len(data), chunk)
    chunks, pos = [], 0
    for s in sizes:
        chunks.append(data[pos : pos + s])
        pos += s
    chunks.append(b"")
    # Encoded length: each chunk is hex(size);chunk-signature=<64>\r\n data \r\n;
    # the final one is 0;chunk-signature=<64>\r\n then \r\n (or the trailer).
    def header_len(n):
        return len(f"{n:x};chunk-signature=") + 64 + 2

    length = sum(header_len(len(c)) + len(c) + 2 for c in chunks[:-1]) + header_len(0)
    if trailer:
        trailer_text = f"{trailer[0]}:{trailer[1]}"
        length += len(trailer_text) + 2 + len("x-amz-trailer-signature:") + 64 + 2 + 2
    else:
        length += 2
    headers = {
        "Content-Encoding": "aws-chunked",
        "Content-Length": str(length),
        "x-amz-decoded-content-length": str(len(data)),
        "Content-Type": "application/octet-stream",
    }
    if trailer:
        headers["x-amz-trailer"] = trailer[0]
    headers, prev, stamp, scope, k = sign_headers(key, headers, mode)
    body = bytearray()
    for i, c in enumerate(chunks):
        sts = "\n".join(
            ["AWS4-HMAC-SHA256-PAYLOAD", stamp, scope, prev, EMPTY_SHA256, hashlib.sha256(c).hexdigest()]
        )
        sig = hmac_hex(k, sts)
        prev = sig
        last = i == len(chunks) - 1
        if tamper_sig is not None and (i == tamper_sig or (tamper_sig == -1 and last)):
            sig = sig[:10] + ("0" if sig[10] != "0" else "1") + sig[11:]
        if tamper_data is not None and i == tamper_data:
            c = bytes([c[0] ^ 0x01]) + c[1:]
        body += f"{len(c):x};chunk-signature={sig}\r\n".encode() + c
        if not last:
            body += b"\r\n"
    if not trailer:
        body += b"\r\n"
    else:
        trailer_line = f"{trailer[0]}:{trailer[1]}\n"
        sts = "\n".join(
            ["AWS4-HMAC-SHA256-TRAILER", stamp, scope, prev, hashlib.sha256(trailer_line.encode()).hexdigest()]
        )
        tsig = hmac_hex(k, sts)
        if tamper_trailer_sig:
            tsig = tsig[:5] + ("0" if tsig[5] != "0" else "1") + tsig[6:]
        body += f"{trailer[0]}:{trailer[1]}\r\nx-amz-trailer-signature:{tsig}\r\n\r\n".encode()
    check(len(body) == length, f"internal: encoded length {len(body)} != declared {length}")
    return headers, bytes(body)


def unsigned_trailer_request(key, data, checksum_name, checksum_value, chunk=64 * 1024):
    """A STREAMING-UNSIGNED-PAYLOAD-TRAILER request as botocore sends it over
    HTTPS: aws-chunked without chunk signatures, the checksum in a trailer."""
    body = bytearray()
    pos = 0
    for s in chunk_sizes(len(data), chunk):
        body += f"{s:x}\r\n".encode() + data[pos : pos + s] + b"\r\n"
        pos += s
    body += f"0\r\n{checksum_name}:{checksum_value}\r\n\r\n".encode()
    headers = {
        "Content-Encoding": "aws-chunked",
        "Content-Length": str(len(body)),
        "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": checksum_name,
        "Content-Type": "application/octet-stream",
    }
    headers, *_ = sign_headers(key, headers, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    return headers, bytes(body)


def send(key, headers, body):
    return http_request(url_for(key), "PUT", body, headers)


def assert_absent(s3, key, what):
    expect_error(lambda: s3.head_object(Bucket=BUCKET, Key=key), "404", 404, f"{what}: HEAD afterwards")
    eq(all_keys(s3, BUCKET, key), [], f"{what}: listed afterwards")


def negatives(s3):
    data = rand_bytes(200_000)

    step("wrong secret key (SignatureDoesNotMatch), unknown access key (InvalidAccessKeyId)")
    # A fresh client per rejected call: see the expect_continue section of
    # roundtrip.py for why a connection is not reused after an early error.
    def wrong():
        return client(
            aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"][:-4] + "abcd",
        )

    expect_error(
        lambda: wrong().put_object(Bucket=BUCKET, Key=PREFIX + "wrong-secret", Body=data),
        "SignatureDoesNotMatch",
        403,
        "PutObject with a wrong secret",
    )
    assert_absent(s3, PREFIX + "wrong-secret", "wrong secret")
    expect_error(
        lambda: wrong().list_objects_v2(Bucket=BUCKET), "SignatureDoesNotMatch", 403, "ListObjectsV2 with a wrong secret"
    )
    uid = s3.create_multipart_upload(Bucket=BUCKET, Key=PREFIX + "wrong-secret-mp")["UploadId"]
    expect_error(
        lambda: wrong().upload_part(
            Bucket=BUCKET, Key=PREFIX + "wrong-secret-mp", UploadId=uid, PartNumber=1, Body=data
        ),
        "SignatureDoesNotMatch",
        403,
        "UploadPart with a wrong secret",
    )
    eq(s3.list_parts(Bucket=BUCKET, Key=PREFIX + "wrong-secret-mp", UploadId=uid).get("Parts", []), [], "parts")
    s3.abort_multipart_upload(Bucket=BUCKET, Key=PREFIX + "wrong-secret-mp", UploadId=uid)
    stranger = client(aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"])
    expect_error(
        lambda: stranger.put_object(Bucket=BUCKET, Key=PREFIX + "stranger", Body=data),
        "InvalidAccessKeyId",
        403,
        "PutObject with an unknown access key",
    )
    assert_absent(s3, PREFIX + "stranger", "unknown access key")

    step("expired SDK-presigned URLs (AccessDenied)")
    urls = [
        (label, c.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": PREFIX + f"expired-{label}"},
                                         ExpiresIn=1))
        for label, c in [("default", client()), ("sigv4", client(config=Config(signature_version="s3v4")))]
    ]
    time.sleep(2.1)
    for label, url in urls:
        expect_http_error(http_request(url, "PUT", data), 403, "AccessDenied", f"expired {label} presigned PUT")
        assert_absent(s3, PREFIX + f"expired-{label}", f"expired {label} URL")

    step("tampered chunk signatures in STREAMING-AWS4-HMAC-SHA256-PAYLOAD bodies (SignatureDoesNotMatch)")
    for what, kwargs in [
        ("first chunk's signature", {"tamper_sig": 0}),
        ("second chunk's signature", {"tamper_sig": 1}),
        ("final empty chunk's signature", {"tamper_sig": -1}),
        ("second chunk's data", {"tamper_data": 1}),
    ]:
        key = PREFIX + "chunked-" + what.split()[0]
        headers, body = signed_chunked_request(key, data, **kwargs)
        expect_http_error(send(key, headers, body), 403, "SignatureDoesNotMatch", f"tampered {what}")
        assert_absent(s3, key, f"tampered {what}")

    step("wrong checksums in trailers (BadDigest)")
    key = PREFIX + "unsigned-trailer"
    headers, body = unsigned_trailer_request(key, data, "x-amz-checksum-crc32", crc32_b64(data + b"!"))
    expect_http_error(send(key, headers, body), 400, "BadDigest", "STREAMING-UNSIGNED-PAYLOAD-TRAILER, wrong CRC32")
    assert_absent(s3, key, "wrong unsigned trailer checksum")
    headers, body = unsigned_trailer_request(key, data, "x-amz-checksum-sha256", sha256_b64(data + b"!"))
    expect_http_error(send(key, headers, body), 400, "BadDigest", "STREAMING-UNSIGNED-PAYLOAD-TRAILER, wrong SHA256")
    assert_absent(s3, key, "wrong unsigned trailer SHA256")
    key = PREFIX + "signed-trailer"
    headers, body = signed_chunked_request(key, data, trailer=("x-amz-checksum-crc32", crc32_b64(data + b"!")))
    expect_http_error(send(key, headers, body), 400, "BadDigest", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, wrong CRC32")
    assert_absent(s3, key, "wrong signed trailer checksum")
    headers, body = signed_chunked_request(
        key, data, trailer=("x-amz-checksum-crc32", crc32_b64(data)), tamper_trailer_sig=True
    )
    expect_http_error(send(key, headers, body), 403, "SignatureDoesNotMatch", "tampered trailer signature")
    assert_absent(s3, key, "tampered trailer signature")

    step("wrong Content-MD5 and x-amz-checksum-* headers from boto3 (BadDigest)")
    key = PREFIX + "bad-md5"
    expect_error(
        lambda: client().put_object(Bucket=BUCKET, Key=key, Body=data, ContentMD5=md5_b64(data + b"!")),
        "BadDigest",
        400,
        "PutObject with a wrong Content-MD5",
    )
    assert_absent(s3, key, "wrong Content-MD5")
    key = PREFIX + "bad-crc32"
    expect_error(
        lambda: client().put_object(Bucket=BUCKET, Key=key, Body=data, ChecksumCRC32=crc32_b64(data + b"!")),
        "BadDigest",
        400,
        "PutObject with a wrong x-amz-checksum-crc32",
    )
    assert_absent(s3, key, "wrong x-amz-checksum-crc32")

    step("a body that differs from the signed x-amz-content-sha256 (XAmzContentSHA256Mismatch)")
    key = PREFIX + "sha-mismatch"
    headers, *_ = sign_headers(key, {}, hashlib.sha256(data + b"!").hexdigest())
    expect_http_error(send(key, headers, data), 400, "XAmzContentSHA256Mismatch", "payload hash mismatch")
    assert_absent(s3, key, "payload hash mismatch")

    eq(all_keys(s3, BUCKET, PREFIX), [], "keys under neg/ after every rejection")
    eq(s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []), [], "multipart uploads left")


def controls(s3):
    data = rand_bytes(200_000)
    step("controls: the same hand-made requests, unaltered, are stored")
    key = "ok/chunked"
    headers, body = signed_chunked_request(key, data)
    st, _, resp = send(key, headers, body)
    eq(st, 200, f"untampered STREAMING-AWS4-HMAC-SHA256-PAYLOAD: {resp[:300]!r}")
    check(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == data, "chunk-signed upload: bytes differ")

    key = "ok/unsigned-trailer"
    headers, body = unsigned_trailer_request(key, data, "x-amz-checksum-crc32", crc32_b64(data))
    st, _, resp = send(key, headers, body)
    eq(st, 200, f"STREAMING-UNSIGNED-PAYLOAD-TRAILER with the right CRC32: {resp[:300]!r}")
    got = s3.get_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
    check(got["Body"].read() == data, "unsigned-trailer upload: bytes differ")
    eq(got.get("ChecksumCRC32"), crc32_b64(data), "stored trailer CRC32")

    key = "ok/signed-trailer"
    headers, body = signed_chunked_request(key, data, trailer=("x-amz-checksum-sha256", sha256_b64(data)))
    st, _, resp = send(key, headers, body)
    eq(st, 200, f"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER with the right SHA256: {resp[:300]!r}")
    head = s3.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
    eq(head.get("ChecksumSHA256"), sha256_b64(data), "stored signed-trailer SHA256")

    key = "ok/sha"
    headers, *_ = sign_headers(key, {}, hashlib.sha256(data).hexdigest())
    st, _, resp = send(key, headers, data)
    eq(st, 200, f"hand-signed PUT with the right payload hash: {resp[:300]!r}")

    for key, kwargs in [
        ("ok/md5", {"ContentMD5": md5_b64(data)}),
        ("ok/crc32", {"ChecksumCRC32": crc32_b64(data)}),
    ]:
        client().put_object(Bucket=BUCKET, Key=key, Body=data, **kwargs)
        check(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == data, f"{key}: bytes differ")


SECTIONS = {"negatives": negatives, "controls": controls}


def main():
    wanted = [a for a in sys.argv[1:] if not a.startswith("http")] or list(SECTIONS)
    for name in wanted:
        check(name in SECTIONS, f"unknown section {name!r}; sections: {list(SECTIONS)}")
    s3 = client()
    for name in wanted:
        SECTIONS[name](s3)


if __name__ == "__main__":
    run(main)
