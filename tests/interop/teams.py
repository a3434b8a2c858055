"""boto3 against the S3 features for teams (issue 6), section by section:

  conditional   PutObject and CompleteMultipartUpload with IfNoneMatch='*'
                and IfMatch=<etag>: 412 PreconditionFailed, nothing replaced
  attributes    GetObjectAttributes: ETag, Checksum, ObjectParts,
                StorageClass, ObjectSize
  versions      ListObjectVersions on an unversioned bucket: every object
                once, VersionId 'null', IsLatest; paginated
  metadata      user metadata kept; over 2 KB refused
  cors          Put/Get/DeleteBucketCors, preflights from the rules
  post_policy   POST Object forms (SigV4 and SigV2): every condition enforced,
                nothing stored on a failure, 201/204/303 answers

Usage: teams.py ENDPOINT [section ...]  (default: all)
"""

import os
import sys

from common import (
    check,
    client,
    eq,
    expect_error,
    md5_hex,
    multipart_etag,
    new_bucket,
    rand_bytes,
    run,
    sha256_b64,
    step,
)


def conditional(s3):
    step("conditional writes")
    b = new_bucket(s3, "cond")
    first = s3.put_object(Bucket=b, Key="k", Body=b"one", IfNoneMatch="*")
    expect_error(
        lambda: s3.put_object(Bucket=b, Key="k", Body=b"two", IfNoneMatch="*"),
        "PreconditionFailed",
        412,
        "IfNoneMatch='*' on an existing key",
    )
    eq(s3.get_object(Bucket=b, Key="k")["Body"].read(), b"one", "object after a refused write")
    expect_error(
        lambda: s3.put_object(Bucket=b, Key="k", Body=b"two", IfMatch='"' + "0" * 32 + '"'),
        "PreconditionFailed",
        412,
        "IfMatch with another ETag",
    )
    second = s3.put_object(Bucket=b, Key="k", Body=b"two", IfMatch=first["ETag"])
    eq(second["ETag"], f'"{md5_hex(b"two")}"', "ETag after IfMatch")
    eq(s3.get_object(Bucket=b, Key="k")["Body"].read(), b"two", "object after IfMatch")
    expect_error(
        lambda: s3.put_object(Bucket=b, Key="absent", Body=b"x", IfMatch=first["ETag"]),
        "NoSuchKey",
        404,
        "IfMatch on a missing key",
    )

    step("conditional CompleteMultipartUpload")
    part = rand_bytes(5 * 1024 * 1024)
    mp = s3.create_multipart_upload(Bucket=b, Key="k")
    etag = s3.upload_part(Bucket=b, Key="k", UploadId=mp["UploadId"], PartNumber=1, Body=part)["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    expect_error(
        lambda: s3.complete_multipart_upload(
            Bucket=b, Key="k", UploadId=mp["UploadId"], MultipartUpload=parts, IfNoneMatch="*"
        ),
        "PreconditionFailed",
        412,
        "CompleteMultipartUpload IfNoneMatch='*' on an existing key",
    )
    done = s3.complete_multipart_upload(
        Bucket=b, Key="k", UploadId=mp["UploadId"], MultipartUpload=parts, IfMatch=second["ETag"]
    )
    eq(done["ETag"], multipart_etag([part]), "multipart ETag after IfMatch")


def attributes(s3):
    step("GetObjectAttributes")
    b = new_bucket(s3, "attrs")
    body = rand_bytes(1000)
    s3.put_object(Bucket=b, Key="single", Body=body, ChecksumAlgorithm="SHA256")
    got = s3.get_object_attributes(
        Bucket=b,
        Key="single",
        ObjectAttributes=["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"],
    )
    eq(got["ETag"], md5_hex(body), "ETag (unquoted)")
    eq(got["ObjectSize"], 1000, "ObjectSize")
    eq(got["StorageClass"], "STANDARD", "StorageClass")
    eq(got["Checksum"]["ChecksumSHA256"], sha256_b64(body), "Checksum")
    check("ObjectParts" not in got, f"ObjectParts for a single-part object: {got}")
    check("LastModified" in got, f"no LastModified: {got}")

    parts = [rand_bytes(5 * 1024 * 1024), rand_bytes(1024)]
    mp = s3.create_multipart_upload(Bucket=b, Key="multi")
    done = [
        {
            "PartNumber": i + 1,
            "ETag": s3.upload_part(
                Bucket=b, Key="multi", UploadId=mp["UploadId"], PartNumber=i + 1, Body=p
            )["ETag"],
        }
        for i, p in enumerate(parts)
    ]
    s3.complete_multipart_upload(
        Bucket=b, Key="multi", UploadId=mp["UploadId"], MultipartUpload={"Parts": done}
    )
    got = s3.get_object_attributes(Bucket=b, Key="multi", ObjectAttributes=["ObjectParts", "ObjectSize"])
    eq(got["ObjectParts"]["TotalPartsCount"], 2, "TotalPartsCount")
    paged = s3.get_object_attributes(Bucket=b, Key="multi", ObjectAttributes=["ObjectParts"], MaxParts=1)
    op = paged["ObjectParts"]
    eq((op["IsTruncated"], op["NextPartNumberMarker"]), (True, 1), "a page of one part")
    eq([(p["PartNumber"], p["Size"]) for p in op["Parts"]], [(1, len(parts[0]))], "the first part")
    op = s3.get_object_attributes(
        Bucket=b, Key="multi", ObjectAttributes=["ObjectParts"], MaxParts=1, PartNumberMarker=1
    )["ObjectParts"]
    eq([(p["PartNumber"], p["Size"]) for p in op["Parts"]], [(2, len(parts[1]))], "the second part")
    check(not op["IsTruncated"], f"the last page: {op}")
    eq(got["ObjectSize"], sum(len(p) for p in parts), "ObjectSize of the multipart object")
    check("ETag" not in got, f"ETag returned though not asked for: {got}")
    expect_error(
        lambda: s3.get_object_attributes(Bucket=b, Key="nothing", ObjectAttributes=["ETag"]),
        "NoSuchKey",
        404,
        "attributes of a missing key",
    )


def versions(s3):
    step("ListObjectVersions on an unversioned bucket")
    b = new_bucket(s3, "vers")
    keys = sorted(f"dir/{i:03}" for i in range(7)) + ["top"]
    for k in keys:
        s3.put_object(Bucket=b, Key=k, Body=k.encode())
    seen = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=b, PaginationConfig={"PageSize": 3}):
        for v in page.get("Versions", []):
            eq(v["VersionId"], "null", f"VersionId of {v['Key']}")
            check(v["IsLatest"], f"{v['Key']} not latest")
            eq(v["ETag"], f'"{md5_hex(v["Key"].encode())}"', f"ETag of {v['Key']}")
            seen.append(v["Key"])
        check(not page.get("DeleteMarkers"), "delete markers in an unversioned bucket")
    eq(seen, keys, "keys over all pages")
    got = s3.list_object_versions(Bucket=b, Delimiter="/")
    eq([p["Prefix"] for p in got.get("CommonPrefixes", [])], ["dir/"], "CommonPrefixes")
    eq([v["Key"] for v in got.get("Versions", [])], ["top"], "Versions beside the prefix")


def metadata(s3):
    step("user metadata")
    b = new_bucket(s3, "meta")
    s3.put_object(Bucket=b, Key="m", Body=b"x", Metadata={"note": "ok"})
    eq(s3.head_object(Bucket=b, Key="m")["Metadata"], {"note": "ok"}, "metadata")
    expect_error(
        lambda: s3.put_object(Bucket=b, Key="big", Body=b"x", Metadata={"a": "v" * 2100}),
        "MetadataTooLarge",
        400,
        "metadata over 2 KB",
    )
    expect_error(lambda: s3.head_object(Bucket=b, Key="big"), "404", 404, "refused object")


def cors(s3):
    step("bucket CORS configuration")
    b = new_bucket(s3, "cors")
    expect_error(lambda: s3.get_bucket_cors(Bucket=b), "NoSuchCORSConfiguration", 404, "no CORS yet")
    rules = [
        {
            "ID": "web",
            "AllowedOrigins": ["https://*.field.app"],
            "AllowedMethods": ["GET", "PUT"],
            "AllowedHeaders": ["content-type", "x-amz-*"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 300,
        }
    ]
    s3.put_bucket_cors(Bucket=b, CORSConfiguration={"CORSRules": rules})
    got = s3.get_bucket_cors(Bucket=b)["CORSRules"]
    eq(got, rules, "CORS rules read back")
    url = s3.meta.endpoint_url + f"/{b}/some/key"
    import http.client
    from urllib.parse import urlsplit

    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    conn.request(
        "OPTIONS",
        u.path,
        headers={
            "Origin": "https://a.field.app",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "Content-Type, X-Amz-Date",
        },
    )
    r = conn.getresponse()
    r.read()
    eq(r.status, 200, "preflight status")
    eq(r.getheader("Access-Control-Allow-Origin"), "https://a.field.app", "Allow-Origin")
    eq(r.getheader("Access-Control-Max-Age"), "300", "Max-Age")
    conn.request("OPTIONS", u.path, headers={"Origin": "https://a.field.app", "Access-Control-Request-Method": "DELETE"})
    r = conn.getresponse()
    r.read()
    eq(r.status, 403, "preflight of a method no rule allows")
    expect_error(
        lambda: s3.put_bucket_cors(
            Bucket=b,
            CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]},
        ),
        "InvalidRequest",
        400,
        "unsupported method in a rule",
    )
    eq(s3.get_bucket_cors(Bucket=b)["CORSRules"], rules, "rules after a refused put")
    s3.delete_bucket_cors(Bucket=b)
    expect_error(lambda: s3.get_bucket_cors(Bucket=b), "NoSuchCORSConfiguration", 404, "deleted CORS")


def post_form(url, fields, file_bytes, filename="photo.txt", file_type="text/plain"):
    """POSTs a multipart form (fields in order, the file last) as a browser
    would; returns (status, headers, body)."""
    import http.client
    from urllib.parse import urlsplit

    import urllib3

    parts = list(fields.items()) + [("file", (filename, file_bytes, file_type))]
    body, content_type = urllib3.encode_multipart_formdata(parts)
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    conn.request("POST", u.path, body=body, headers={"Content-Type": content_type})
    r = conn.getresponse()
    data = r.read()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data.decode(errors="replace")


def absent(s3, b, key, what):
    expect_error(lambda: s3.head_object(Bucket=b, Key=key), "404", 404, what)


def post_policy(s3):
    step("POST Object with a SigV4 policy (generate_presigned_post)")
    import base64
    import hashlib
    import hmac
    import json
    import os
    import time as _time

    b = new_bucket(s3, "form")
    conditions = [
        ["content-length-range", 1, 1000],
        {"success_action_status": "201"},
        ["starts-with", "$Content-Type", "text/"],
        ["starts-with", "$x-amz-meta-site", ""],
    ]
    post = s3.generate_presigned_post(
        b,
        "uploads/${filename}",
        Fields={"success_action_status": "201", "Content-Type": "text/plain", "x-amz-meta-site": "7"},
        Conditions=conditions,
        ExpiresIn=300,
    )
    status, headers, body = post_form(post["url"], post["fields"], b"hello form", "note.txt")
    eq(status, 201, f"form upload: {body}")
    check("<Key>uploads/note.txt</Key>" in body, f"PostResponse: {body}")
    check(f'"{md5_hex(b"hello form")}"' in headers.get("etag", ""), f"ETag header: {headers}")
    got = s3.get_object(Bucket=b, Key="uploads/note.txt")
    eq(got["Body"].read(), b"hello form", "stored bytes")

    step("POST Object with a tagging field")
    tagging = "<Tagging><TagSet><Tag><Key>site</Key><Value>north</Value></Tag></TagSet></Tagging>"
    tagged_post = s3.generate_presigned_post(
        b, "tagged.txt", Fields={"tagging": tagging}, Conditions=[{"tagging": tagging}], ExpiresIn=300
    )
    status, _, body = post_form(tagged_post["url"], tagged_post["fields"], b"tagged form", "tagged.txt")
    check(status in (200, 204), f"tagged form upload: {status} {body}")
    eq(s3.get_object_tagging(Bucket=b, Key="tagged.txt")["TagSet"], [{"Key": "site", "Value": "north"}], "form tags")
    bad = "<Tagging><TagSet><Tag><Key>aws:no</Key><Value>x</Value></Tag></TagSet></Tagging>"
    bad_post = s3.generate_presigned_post(b, "badtag.txt", Fields={"tagging": bad}, Conditions=[{"tagging": bad}], ExpiresIn=300)
    status, _, body = post_form(bad_post["url"], bad_post["fields"], b"x", "badtag.txt")
    eq(status, 400, f"form with a bad tag: {body}")
    check("<Code>InvalidTag</Code>" in body, f"form with a bad tag: {body}")
    absent(s3, b, "badtag.txt", "form with a bad tag")
    eq(got["ContentType"], "text/plain", "stored Content-Type")
    eq(got["Metadata"], {"site": "7"}, "stored metadata")

    step("each policy condition, broken: refused, nothing stored")
    cases = [
        ("too large", dict(post["fields"]), b"x" * 1001, "EntityTooLarge", 400),
        ("too small", dict(post["fields"]), b"", "EntityTooSmall", 400),
        ("wrong type", {**post["fields"], "Content-Type": "image/png"}, b"data", "AccessDenied", 403),
        ("extra field", {**post["fields"], "x-amz-meta-other": "1"}, b"data", "AccessDenied", 403),
        ("other status", {**post["fields"], "success_action_status": "200"}, b"data", "AccessDenied", 403),
        ("key outside prefix", {**post["fields"], "key": "elsewhere/${filename}"}, b"data", "AccessDenied", 403),
        ("policy edited", {**post["fields"], "policy": base64.b64encode(b'{"expiration":"2099-01-01T00:00:00Z","conditions":[]}').decode()}, b"data", "SignatureDoesNotMatch", 403),
        ("bad checksum", {**post["fields"], "x-amz-checksum-sha256": sha256_b64(b"other")}, b"data", "AccessDenied", 403),
    ]
    for i, (what, fields, data, code, want) in enumerate(cases):
        name = f"case{i}.txt"
        status, _, body = post_form(post["url"], fields, data, name)
        eq(status, want, f"{what}: {body}")
        check(f"<Code>{code}</Code>" in body, f"{what}: want {code}: {body}")
        absent(s3, b, f"uploads/{name}", what)

    step("a declared checksum is verified before anything is stored")
    post = s3.generate_presigned_post(
        b, "sum.txt", Fields={}, Conditions=[["starts-with", "$x-amz-checksum-sha256", ""]]
    )
    status, _, body = post_form(post["url"], {**post["fields"], "x-amz-checksum-sha256": sha256_b64(b"other")}, b"data")
    eq(status, 400, f"wrong checksum: {body}")
    check("<Code>BadDigest</Code>" in body, f"wrong checksum: {body}")
    absent(s3, b, "sum.txt", "wrong checksum")
    status, _, body = post_form(post["url"], {**post["fields"], "x-amz-checksum-sha256": sha256_b64(b"data")}, b"data")
    eq(status, 204, f"right checksum: {body}")
    eq(s3.get_object(Bucket=b, Key="sum.txt")["Body"].read(), b"data", "checksummed upload")

    step("expired policy")
    short = s3.generate_presigned_post(b, "late.txt", ExpiresIn=1)
    _time.sleep(2.1)
    status, _, body = post_form(short["url"], short["fields"], b"late")
    eq(status, 403, f"expired: {body}")
    check("expired" in body, f"expired: {body}")
    absent(s3, b, "late.txt", "expired")

    step("success_action_redirect")
    redirect = "https://app.example/done"
    post = s3.generate_presigned_post(
        b, "r.txt", Fields={"success_action_redirect": redirect}, Conditions=[{"success_action_redirect": redirect}]
    )
    status, headers, body = post_form(post["url"], post["fields"], b"redirected")
    eq(status, 303, f"redirect: {body}")
    loc = headers.get("location", "")
    check(loc.startswith(redirect + "?bucket=" + b) and "key=r.txt" in loc and "etag=" in loc, f"Location: {loc}")
    eq(s3.get_object(Bucket=b, Key="r.txt")["Body"].read(), b"redirected", "redirected upload")

    step("POST Object with a SigV2 policy")
    creds = s3._request_signer._credentials
    policy = base64.b64encode(
        json.dumps(
            {
                "expiration": "2099-01-01T00:00:00.000Z",
                "conditions": [{"bucket": b}, ["eq", "$key", "v2.txt"], ["content-length-range", 0, 100]],
            }
        ).encode()
    ).decode()
    sig = base64.b64encode(hmac.new(creds.secret_key.encode(), policy.encode(), hashlib.sha1).digest()).decode()
    fields = {"key": "v2.txt", "AWSAccessKeyId": creds.access_key, "policy": policy, "signature": sig}
    url = s3.meta.endpoint_url + "/" + b
    status, _, body = post_form(url, fields, b"sigv2 form")
    eq(status, 204, f"SigV2 form: {body}")
    eq(s3.get_object(Bucket=b, Key="v2.txt")["Body"].read(), b"sigv2 form", "SigV2 upload")
    bad = {**fields, "signature": base64.b64encode(os.urandom(20)).decode()}
    status, _, body = post_form(url, {**bad, "key": "v2.txt"}, b"forged")
    eq(status, 403, f"forged SigV2: {body}")
    eq(s3.get_object(Bucket=b, Key="v2.txt")["Body"].read(), b"sigv2 form", "object after a forged form")


def second_key(s3):
    step("a second access key (stowage key create)")
    import boto3

    other = boto3.client(
        "s3",
        endpoint_url=s3.meta.endpoint_url,
        aws_access_key_id=os.environ["STOWAGE_KEY2_ID"],
        aws_secret_access_key=os.environ["STOWAGE_KEY2_SECRET"],
    )
    mine = new_bucket(other, "second")
    other.put_object(Bucket=mine, Key="k", Body=b"second's")
    names = [b["Name"] for b in other.list_buckets()["Buckets"]]
    eq(names, [mine], "buckets the second key sees")
    check(mine in [b["Name"] for b in s3.list_buckets()["Buckets"]], "the configured key sees every bucket")
    expect_error(lambda: other.get_object(Bucket="uploads", Key="anything"), "AccessDenied", 403, "another key's bucket")
    expect_error(lambda: other.list_objects_v2(Bucket="uploads"), "AccessDenied", 403, "listing another key's bucket")
    expect_error(lambda: other.create_bucket(Bucket="uploads"), "BucketAlreadyExists", 409, "a taken bucket name")
    eq(s3.get_object(Bucket=mine, Key="k")["Body"].read(), b"second's", "the configured key reads it")


def public_read(s3):
    step("anonymous reads of a public-read bucket")
    from botocore import UNSIGNED
    from botocore.config import Config

    anon = client(config=Config(signature_version=UNSIGNED))
    s3.put_object(Bucket="uploads", Key="public/map.png", Body=b"for everyone")
    eq(anon.get_object(Bucket="uploads", Key="public/map.png")["Body"].read(), b"for everyone", "anonymous GET")
    keys = [o["Key"] for o in anon.list_objects_v2(Bucket="uploads", Prefix="public/").get("Contents", [])]
    eq(keys, ["public/map.png"], "anonymous listing")
    expect_error(lambda: anon.put_object(Bucket="uploads", Key="public/evil", Body=b"x"), "AccessDenied", 403, "anonymous PUT")
    expect_error(lambda: anon.delete_object(Bucket="uploads", Key="public/map.png"), "AccessDenied", 403, "anonymous DELETE")
    private = new_bucket(s3, "private")
    s3.put_object(Bucket=private, Key="k", Body=b"mine")
    expect_error(lambda: anon.get_object(Bucket=private, Key="k"), "AccessDenied", 403, "anonymous GET elsewhere")


SECTIONS = {
    "public_read": public_read,
    "second_key": second_key,
    "post_policy": post_policy,
    "cors": cors,
    "conditional": conditional,
    "attributes": attributes,
    "versions": versions,
    "metadata": metadata,
}


def main():
    wanted = [a for a in sys.argv[1:] if not a.startswith("http")] or [
        n for n in SECTIONS if n not in ("second_key", "public_read")
    ]
    for name in wanted:
        check(name in SECTIONS, f"unknown section {name!r}; sections: {list(SECTIONS)}")
    s3 = client()
    for name in wanted:
        SECTIONS[name](s3)


if __name__ == "__main__":
    run(main)
