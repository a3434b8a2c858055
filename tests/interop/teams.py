"""boto3 against the S3 features for teams (issue 6), section by section:

  conditional   PutObject and CompleteMultipartUpload with IfNoneMatch='*'
                and IfMatch=<etag>: 412 PreconditionFailed, nothing replaced
  attributes    GetObjectAttributes: ETag, Checksum, ObjectParts,
                StorageClass, ObjectSize
  versions      ListObjectVersions on an unversioned bucket: every object
                once, VersionId 'null', IsLatest; paginated
  metadata      user metadata kept; over 2 KB refused
  cors          Put/Get/DeleteBucketCors, preflights from the rules

Usage: teams.py ENDPOINT [section ...]  (default: all)
"""

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


SECTIONS = {
    "cors": cors,
    "conditional": conditional,
    "attributes": attributes,
    "versions": versions,
    "metadata": metadata,
}


def main():
    wanted = [a for a in sys.argv[1:] if not a.startswith("http")] or list(SECTIONS)
    for name in wanted:
        check(name in SECTIONS, f"unknown section {name!r}; sections: {list(SECTIONS)}")
    s3 = client()
    for name in wanted:
        SECTIONS[name](s3)


if __name__ == "__main__":
    run(main)
