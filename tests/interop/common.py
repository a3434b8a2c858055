"""Shared helpers for the interop scripts: the endpoint and keys from the
environment, a boto3 client with the SDK's default configuration, and
assertions that stop the script with a clear message on the first failure.

Environment (set by tests/it/interop.rs):
  STOWAGE_ENDPOINT        http://127.0.0.1:PORT (also accepted as argv[1])
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION=us-east-1
  STOWAGE_TOKEN           an API token (cross-surface script only)
"""

import base64
import hashlib
import os
import sys
import uuid
import zlib
from urllib.parse import urlsplit

import boto3
import botocore
from botocore.exceptions import ClientError

BUCKET = "uploads"  # the configured bucket, present from the first start


class Failed(Exception):
    pass


def endpoint():
    if len(sys.argv) > 1 and sys.argv[1].startswith("http"):
        return sys.argv[1]
    ep = os.environ.get("STOWAGE_ENDPOINT")
    if not ep:
        raise Failed("no endpoint: pass it as argv[1] or STOWAGE_ENDPOINT")
    return ep


def client(**kwargs):
    """An S3 client with boto3's defaults, only the endpoint changed."""
    return boto3.client("s3", endpoint_url=endpoint(), **kwargs)


def check(cond, msg):
    if not cond:
        raise Failed(msg)


def eq(got, want, what):
    if got != want:
        raise Failed(f"{what}: got {got!r}, want {want!r}")


def step(name):
    print(f"-- {name}", flush=True)


def expect_error(fn, code, status=None, what=""):
    """Calls fn, which must raise a ClientError with this S3 code (and
    HTTP status); returns the error response."""
    try:
        got = fn()
    except ClientError as e:
        err = e.response.get("Error", {})
        meta = e.response.get("ResponseMetadata", {})
        if err.get("Code") != code:
            raise Failed(f"{what}: error code {err.get('Code')!r}, want {code!r}: {e.response}")
        if status is not None and meta.get("HTTPStatusCode") != status:
            raise Failed(f"{what}: HTTP {meta.get('HTTPStatusCode')}, want {status}: {e.response}")
        return e.response
    raise Failed(f"{what}: succeeded, want error {code}: {got!r}")


def md5_hex(b):
    return hashlib.md5(b).hexdigest()


def md5_b64(b):
    return base64.b64encode(hashlib.md5(b).digest()).decode()


def crc32_b64(b):
    return base64.b64encode(zlib.crc32(b).to_bytes(4, "big")).decode()


def sha256_b64(b):
    return base64.b64encode(hashlib.sha256(b).digest()).decode()


def multipart_etag(parts):
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def rand_bytes(n):
    return os.urandom(n)


def new_bucket(s3, prefix, **kwargs):
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, **kwargs)
    return name


def all_keys(s3, bucket, prefix=""):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return keys


def http_request(url, method, body=None, headers=None):
    """One request with http.client exactly as given (urllib would add a
    Content-Type). Returns (status, headers dict lower-cased, body bytes)."""
    import http.client

    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    target = u.path + (f"?{u.query}" if u.query else "")
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        hdrs = {"Host": u.netloc}
        hdrs.update(headers or {})
        if body is not None and not any(k.lower() == "content-length" for k in hdrs):
            hdrs["Content-Length"] = str(len(body))
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            try:
                conn.send(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # answered (and closed) before the whole body went out
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def s3_error_code(body):
    text = body.decode("utf-8", "replace")
    start, end = text.find("<Code>"), text.find("</Code>")
    return text[start + 6 : end] if start >= 0 and end > start else None


def expect_http_error(resp, status, code, what):
    st, headers, body = resp
    if st != status or s3_error_code(body) != code:
        raise Failed(f"{what}: HTTP {st} {s3_error_code(body)!r}, want {status} {code}: {body[:500]!r}")
    check("x-amz-request-id" in headers, f"{what}: no x-amz-request-id header")


def run(main):
    """Runs main(), printing versions first; exit 1 with the message on the
    first failed check or unexpected exception."""
    print(f"boto3 {boto3.__version__}, botocore {botocore.__version__}, endpoint {endpoint()}", flush=True)
    try:
        main()
    except Failed as e:
        print(f"FAILED: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    except Exception:
        import traceback

        traceback.print_exc()
        print("FAILED: unexpected exception (above)", file=sys.stderr, flush=True)
        sys.exit(1)
    print("OK", flush=True)
