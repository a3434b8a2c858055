"""Presigned URLs made by boto3's generate_presigned_url, used with a plain
HTTP client (http.client, which adds no Content-Type of its own):
- the default configuration (legacy SigV2 query auth for S3 in us-east-1),
- Config(signature_version="s3") (SigV2 asked for explicitly),
- Config(signature_version="s3v4") (SigV4 query auth).

Usage: python presigned.py [http://127.0.0.1:PORT] [SECTION ...]
"""

import sys
import time
from urllib.parse import parse_qs, urlsplit

from botocore.config import Config

from common import (
    all_keys,
    check,
    client,
    eq,
    expect_http_error,
    http_request,
    md5_hex,
    new_bucket,
    rand_bytes,
    run,
    step,
)


def query_of(url):
    return parse_qs(urlsplit(url).query)


def tamper(url, param):
    """The URL with the last character of one query parameter changed."""
    u = urlsplit(url)
    parts = []
    for kv in u.query.split("&"):
        name, _, value = kv.partition("=")
        if name == param:
            value = value[:-1] + ("A" if value[-1] != "A" else "B")
        parts.append(f"{name}={value}")
    return u._replace(query="&".join(parts)).geturl()


def exercise(label, presigner, s3, b, sigv4):
    step(f"{label}: presigned PUT / GET / HEAD / DELETE")
    key = f"{label}/photo 1+ü.jpg"
    body = rand_bytes(50_000)
    url = presigner.generate_presigned_url("put_object", Params={"Bucket": b, "Key": key}, ExpiresIn=300)
    q = query_of(url)
    if sigv4:
        eq(q.get("X-Amz-Algorithm"), ["AWS4-HMAC-SHA256"], f"{label}: X-Amz-Algorithm")
    else:
        check("AWSAccessKeyId" in q and "Signature" in q and "Expires" in q, f"{label}: not a SigV2 URL: {url}")

    # A tampered signature is refused, and nothing is stored.
    bad = tamper(url, "X-Amz-Signature" if sigv4 else "Signature")
    expect_http_error(http_request(bad, "PUT", body), 403, "SignatureDoesNotMatch", f"{label}: tampered PUT")
    eq(all_keys(s3, b, f"{label}/"), [], f"{label}: keys after the tampered PUT")

    st, headers, resp = http_request(url, "PUT", body)
    eq(st, 200, f"{label}: presigned PUT status ({resp[:300]!r})")
    eq(headers.get("etag"), f'"{md5_hex(body)}"', f"{label}: presigned PUT ETag")
    eq(s3.get_object(Bucket=b, Key=key)["Body"].read(), body, f"{label}: object put by URL, read by boto3")

    # A URL signed for a Content-Type is good for that type only.
    typed = presigner.generate_presigned_url(
        "put_object", Params={"Bucket": b, "Key": f"{label}/typed.json", "ContentType": "application/json"}
    )
    expect_http_error(
        http_request(typed, "PUT", b"{}", {"Content-Type": "text/plain"}),
        403,
        "SignatureDoesNotMatch",
        f"{label}: PUT with another Content-Type than signed",
    )
    st, _, resp = http_request(typed, "PUT", b'{"a":1}', {"Content-Type": "application/json"})
    eq(st, 200, f"{label}: PUT with the signed Content-Type ({resp[:300]!r})")
    eq(s3.head_object(Bucket=b, Key=f"{label}/typed.json")["ContentType"], "application/json", f"{label}: stored type")

    # User metadata signed into the URL.
    meta = presigner.generate_presigned_url(
        "put_object", Params={"Bucket": b, "Key": f"{label}/meta", "Metadata": {"site": "north"}}
    )
    st, _, resp = http_request(meta, "PUT", b"m", {"x-amz-meta-site": "north"})
    eq(st, 200, f"{label}: PUT with signed metadata ({resp[:300]!r})")
    eq(s3.head_object(Bucket=b, Key=f"{label}/meta")["Metadata"], {"site": "north"}, f"{label}: stored metadata")

    get = presigner.generate_presigned_url("get_object", Params={"Bucket": b, "Key": key}, ExpiresIn=300)
    st, headers, got = http_request(get, "GET")
    eq(st, 200, f"{label}: presigned GET status")
    check(got == body, f"{label}: presigned GET body differs")
    eq(headers.get("etag"), f'"{md5_hex(body)}"', f"{label}: presigned GET ETag")
    st, headers, got = http_request(get, "GET", headers={"Range": "bytes=0-9"})
    eq((st, got), (206, body[:10]), f"{label}: presigned ranged GET")
    expect_http_error(
        http_request(tamper(get, "X-Amz-Signature" if sigv4 else "Signature"), "GET"),
        403,
        "SignatureDoesNotMatch",
        f"{label}: tampered GET",
    )

    step(f"{label}: presigned GET with response-content-* overrides")
    over = presigner.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": b,
            "Key": key,
            "ResponseContentType": "image/jpeg",
            "ResponseContentDisposition": 'attachment; filename="photo 1.jpg"',
            "ResponseCacheControl": "no-cache",
        },
    )
    st, headers, got = http_request(over, "GET")
    eq(st, 200, f"{label}: GET with overrides status")
    eq(headers.get("content-type"), "image/jpeg", f"{label}: response-content-type")
    eq(headers.get("content-disposition"), 'attachment; filename="photo 1.jpg"', f"{label}: response-content-disposition")
    eq(headers.get("cache-control"), "no-cache", f"{label}: response-cache-control")
    check(got == body, f"{label}: GET with overrides body differs")

    head = presigner.generate_presigned_url("head_object", Params={"Bucket": b, "Key": key})
    st, headers, got = http_request(head, "HEAD")
    eq((st, headers.get("content-length")), (200, str(len(body))), f"{label}: presigned HEAD")
    # As in S3, the method is part of the signature.
    st, _, _ = http_request(get, "HEAD")
    eq(st, 403, f"{label}: HEAD with a URL signed for GET")

    delete = presigner.generate_presigned_url("delete_object", Params={"Bucket": b, "Key": key})
    st, _, _ = http_request(delete, "DELETE")
    eq(st, 204, f"{label}: presigned DELETE status")
    eq(http_request(get, "GET")[0], 404, f"{label}: GET after presigned DELETE")

    step(f"{label}: an expired URL is refused and stores nothing")
    short = presigner.generate_presigned_url(
        "put_object", Params={"Bucket": b, "Key": f"{label}/late"}, ExpiresIn=1
    )
    return short


def object_urls(s3, b):
    default = client()
    url = default.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "k"})
    default_is_v4 = "X-Amz-Signature" in query_of(url)
    print(f"boto3's default presigned URL uses {'SigV4' if default_is_v4 else 'SigV2'} query auth")
    v2 = client(config=Config(signature_version="s3"))
    v4 = client(config=Config(signature_version="s3v4"))
    expired = [
        exercise("default", default, s3, b, default_is_v4),
        exercise("sigv2", v2, s3, b, False),
        exercise("sigv4", v4, s3, b, True),
    ]
    time.sleep(2.1)
    for label, url in zip(["default", "sigv2", "sigv4"], expired):
        expect_http_error(http_request(url, "PUT", b"too late"), 403, "AccessDenied", f"{label}: expired URL")
        eq(all_keys(s3, b, f"{label}/late"), [], f"{label}: keys after the expired PUT")


BUCKET_OPS = [
    ("list_objects_v2", "GET"),
    ("list_objects", "GET"),
    ("head_bucket", "HEAD"),
    ("get_bucket_location", "GET"),
]


def bucket_level(label, presigner, b):
    step(f"{label}: presigned bucket-level URLs ({', '.join(op for op, _ in BUCKET_OPS)})")
    for op, method in BUCKET_OPS:
        url = presigner.generate_presigned_url(op, Params={"Bucket": b})
        st, _, xml = http_request(url, method)
        eq(st, 200, f"{label}: presigned {op} ({url}): {xml[:300]!r}")
        if op.startswith("list"):
            check(b"<Key>listed/one</Key>" in xml, f"{label}: presigned {op} lists nothing: {xml[:300]!r}")


def bucket_urls(s3, b):
    s3.put_object(Bucket=b, Key="listed/one", Body=b"1")
    bucket_level("sigv4", client(config=Config(signature_version="s3v4")), b)


def sigv2_bucket_level(s3, b):
    """Bucket-level operations (path "/bucket") with SigV2: botocore's
    signer signs the resource as "/bucket/" (its comment: "the auth_path
    must be terminated with a '/' character to generate a signature that
    the server will accept"), for presigned URLs and for header auth."""
    s3.put_object(Bucket=b, Key="listed/one", Body=b"1")
    bucket_level("default", client(), b)
    bucket_level("sigv2", client(config=Config(signature_version="s3")), b)
    step("SigV2 header auth (Config(signature_version='s3')) for bucket-level calls")
    v2 = client(config=Config(signature_version="s3"))
    keys = [o["Key"] for o in v2.list_objects_v2(Bucket=b, Prefix="listed/")["Contents"]]
    eq(keys, ["listed/one"], "SigV2 header-auth ListObjectsV2")
    v2.head_bucket(Bucket=b)


SECTIONS = {"object_urls": object_urls, "bucket_urls": bucket_urls, "sigv2_bucket_level": sigv2_bucket_level}


def main():
    """Runs the sections named on the command line (default: all but
    sigv2_bucket_level, which fails on a known gateway bug)."""
    wanted = [a for a in sys.argv[1:] if not a.startswith("http")] or ["object_urls", "bucket_urls"]
    for name in wanted:
        check(name in SECTIONS, f"unknown section {name!r}; sections: {list(SECTIONS)}")
    s3 = client()
    b = new_bucket(s3, "presign")
    for name in wanted:
        SECTIONS[name](s3, b)
    for k in all_keys(s3, b):
        s3.delete_object(Bucket=b, Key=k)
    s3.delete_bucket(Bucket=b)


if __name__ == "__main__":
    run(main)
