#!/usr/bin/env python3
"""Regenerates botocore-vectors.json: requests exactly as botocore builds them.

Run by hand (needs botocore; not part of the test run):
    python3 tests/data/sigv4/gen_botocore_vectors.py > tests/data/sigv4/botocore-vectors.json

Every request is captured at botocore's `before-send` hook (nothing goes on the network), so
the file holds the headers, body and signature a real SDK sends with its default
configuration. The signed-trailer body (a mode botocore does not send) is framed and signed
here with hashlib/hmac only, independently of the Rust code under test.
"""
import base64, datetime, hashlib, hmac, json, zlib
from urllib.parse import urlsplit

import botocore
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials

AKID, SECRET, REGION = "AKIDSTOWAGE", "s3cr3t/Key+With=Odd&Chars", "us-east-1"


class _Raw:
    def stream(self, **_):
        return iter([b""])


def client(endpoint, **cfg):
    s = botocore.session.get_session()
    c = s.create_client("s3", region_name=REGION, endpoint_url=endpoint,
                        aws_access_key_id=AKID, aws_secret_access_key=SECRET,
                        config=Config(**cfg) if cfg else None)
    captured = []

    def before_send(request, **_):
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode()
        captured.append((request, body or b""))
        return AWSResponse(request.url, 200, {}, _Raw())

    c.meta.events.register("before-send.s3", before_send)
    return c, captured


def record(name, request, body):
    url = urlsplit(request.url)
    headers = [[k.lower(), v.decode() if isinstance(v, bytes) else str(v)]
               for k, v in request.headers.items()]
    headers.append(["host", url.netloc])
    return {"name": name, "method": request.method, "path": url.path, "query": url.query,
            "headers": headers, "body_b64": base64.b64encode(body).decode()}


def header_cases():
    out = []
    http, cap = client("http://127.0.0.1:8080")
    https, caps = client("https://127.0.0.1:8443")
    calls = [
        ("put-object-http", http, cap, lambda c: c.put_object(Bucket="bkt", Key="dir/hello world+.txt", Body=b"hello world")),
        ("get-object-range", http, cap, lambda c: c.get_object(Bucket="bkt", Key="a/b c~%.txt", Range="bytes=0-9")),
        ("list-objects-v2", http, cap, lambda c: c.list_objects_v2(Bucket="bkt", Prefix="dir/ሴ x", Delimiter="/", MaxKeys=2)),
        ("delete-objects", http, cap, lambda c: c.delete_objects(Bucket="bkt", Delete={"Objects": [{"Key": "a"}, {"Key": "b c"}]})),
        ("put-object-https-chunked-trailer", https, caps, lambda c: c.put_object(Bucket="bkt", Key="big.bin", Body=b"hello world" * 10000)),
    ]
    for name, c, captured, call in calls:
        before = len(captured)
        try:
            call(c)
        except Exception:
            pass
        request, body = captured[before]
        out.append(record(name, request, body))
    return out


def date_header_case():
    """S3SigV4Auth on a request that carries a Date header: botocore then signs the Date header
    (RFC 1123) instead of adding X-Amz-Date."""
    from botocore.auth import S3SigV4Auth
    req = AWSRequest(method="GET", url="http://127.0.0.1:8080/bkt/dated.txt?versionId=v%201",
                     headers={"Date": "placeholder"})
    auth = S3SigV4Auth(Credentials(AKID, SECRET), "s3", REGION)
    auth.add_auth(req)
    return record("get-with-date-header", req, b"")


def presigned_v2():
    c, _ = client("http://127.0.0.1:8080")  # botocore's default presigner for S3 is SigV2
    now = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
    cases = [
        ("get-object", "get_object", {"Bucket": "bkt", "Key": "photos/puppy 1+ሴ.jpg"}, "GET"),
        ("get-object-overrides", "get_object", {"Bucket": "bkt", "Key": "k", "VersionId": "v1",
            "ResponseContentDisposition": "attachment; filename=\"a b.txt\"", "ResponseContentType": "text/plain"}, "GET"),
        ("put-object-typed-meta", "put_object", {"Bucket": "bkt", "Key": "up/x.png", "ContentType": "image/png",
            "Metadata": {"Owner": "Jane Doe"}}, "PUT"),
        ("upload-part", "upload_part", {"Bucket": "bkt", "Key": "mp", "UploadId": "abc-123", "PartNumber": 2}, "PUT"),
    ]
    out = []
    for name, op, params, method in cases:
        url = c.generate_presigned_url(op, Params=params, ExpiresIn=3600)
        u = urlsplit(url)
        out.append({"name": name, "method": method, "url": url, "path": u.path, "query": u.query,
                    "generatedAround": now})
    return out


def signed_trailer():
    """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER PUT with a CRC32 trailer."""
    amz_date = "20240301T100000Z"
    day = amz_date[:8]
    payload = bytes(range(256)) * 300  # 76800 bytes: a 64 KiB chunk + 11264 + final
    req = AWSRequest(method="PUT", url="http://127.0.0.1:8080/bkt/trailer.bin", headers={
        "X-Amz-Date": amz_date,
        "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(len(payload)),
        "X-Amz-Trailer": "x-amz-checksum-crc32",
    })
    auth = SigV4Auth(Credentials(AKID, SECRET), "s3", REGION)
    req.context["timestamp"] = amz_date
    req.headers["Host"] = "127.0.0.1:8080"
    sts = auth.string_to_sign(req, auth.canonical_request(req))
    seed = auth.signature(sts, req)
    headers = {k.lower(): v for k, v in req.headers.items()}
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={AKID}/{day}/{REGION}/s3/aws4_request, "
                                f"SignedHeaders={auth.signed_headers(auth.headers_to_sign(req))}, Signature={seed}")

    def h(key, msg):
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()
    key = h(h(h(h(("AWS4" + SECRET).encode(), day), REGION), "s3"), "aws4_request")
    scope = f"{day}/{REGION}/s3/aws4_request"
    empty = hashlib.sha256(b"").hexdigest()
    prev, wire, sigs = seed, bytearray(), []
    for chunk in [payload[:65536], payload[65536:], b""]:
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, empty, hashlib.sha256(chunk).hexdigest()])
        prev = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        sigs.append(prev)
        wire += f"{len(chunk):x};chunk-signature={prev}\r\n".encode() + chunk
        if chunk:
            wire += b"\r\n"
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    canonical = f"x-amz-checksum-crc32:{crc}\n"
    sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, prev, hashlib.sha256(canonical.encode()).hexdigest()])
    trailer_sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    wire += f"x-amz-checksum-crc32:{crc}\r\nx-amz-trailer-signature:{trailer_sig}\r\n\r\n".encode()
    headers["content-length"] = str(len(wire))
    return {"name": "put-signed-trailer", "method": "PUT", "path": "/bkt/trailer.bin", "query": "",
            "headers": sorted([k, v] for k, v in headers.items()),
            "payload": "bytes 0..=255 repeated 300 times", "payloadLength": len(payload),
            "seedSignature": seed, "chunkSignatures": sigs, "crc32": crc, "trailerSignature": trailer_sig,
            "body_b64": base64.b64encode(bytes(wire)).decode()}


print(json.dumps({
    "about": "Requests as botocore " + botocore.__version__ + " builds them with its default configuration "
             "(captured before sending), plus an independently framed signed-trailer aws-chunked body. "
             "Regenerate with gen_botocore_vectors.py beside this file.",
    "credentials": {"accessKeyId": AKID, "secretAccessKey": SECRET, "region": REGION},
    "headerAuth": header_cases() + [date_header_case()],
    "presignedV2": presigned_v2(),
    "signedTrailer": signed_trailer(),
}, indent=1, ensure_ascii=False))
