"""boto3 against versioning (issue 16), section by section:

  acl          canned ACLs on objects and buckets, read by an unsigned client
  lifecycle    Put/Get/DeleteBucketLifecycleConfiguration, Expiration on PUT
               and HEAD, a rule without an action refused
  checksums    multipart checksums: ChecksumAlgorithm and ChecksumType on
               CreateMultipartUpload, per-part CRC32s, the composite and the
               full-object checksum on completion (and a wrong one refused),
               HEAD and GET with ChecksumMode (a part's by PartNumber),
               ListParts and GetObjectAttributes with part checksums; the
               combinations AWS refuses
  policy       Put/Get/DeleteBucketPolicy and GetBucketPolicyStatus; a public
               policy read by an unsigned client; a Deny for a second key
               (STOWAGE_KEY2_ID / _SECRET) winning over its grant, object by
               object in DeleteObjects; MalformedPolicy; PublicAccessBlock
               refusing a public ACL and a public policy
  object_lock  a bucket created with Object Lock, a default retention,
               COMPLIANCE and GOVERNANCE versions and a legal hold against
               DeleteObject, DeleteObjects and PutObjectRetention
  versioning   Put/GetBucketVersioning; VersionId on PUT, GET, HEAD, copy
               and multipart; delete markers (404 and 405 as AWS answers,
               removed by deleting their version); suspended buckets and the
               null version; ListObjectVersions paginated with markers;
               DeleteObjects with version ids; the loop tools use to empty a
               versioned bucket before deleting it

Usage: versioning.py ENDPOINT [section ...]  (default: all)
"""

import sys

from common import check, client, eq, expect_error, new_bucket, run, step


def all_versions(s3, bucket, page_size=2):
    """(key, version id, is a marker, is latest) of every version, through
    boto3's paginator (KeyMarker / VersionIdMarker)."""
    out = []
    pages = s3.get_paginator("list_object_versions").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": page_size}
    )
    for page in pages:
        # boto3 splits one ordered list into two: merge them back by the
        # order S3 gives (key, then newest first) using the response order.
        items = [(v["Key"], v["VersionId"], False, v["IsLatest"]) for v in page.get("Versions", [])]
        items += [(m["Key"], m["VersionId"], True, m["IsLatest"]) for m in page.get("DeleteMarkers", [])]
        out.extend(items)
    return out


def versioning(s3):
    step("versioning: enable, version ids, reads by version")
    b = new_bucket(s3, "versioned")
    check("Status" not in s3.get_bucket_versioning(Bucket=b), "a new bucket has no versioning status")
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    eq(s3.get_bucket_versioning(Bucket=b).get("Status"), "Enabled", "versioning status")
    ids = [s3.put_object(Bucket=b, Key="doc", Body=f"v{i}".encode())["VersionId"] for i in range(3)]
    check(len(set(ids)) == 3 and "null" not in ids, f"distinct version ids: {ids}")
    got = s3.get_object(Bucket=b, Key="doc")
    eq((got["Body"].read(), got["VersionId"]), (b"v2", ids[2]), "current version")
    eq(s3.get_object(Bucket=b, Key="doc", VersionId=ids[0])["Body"].read(), b"v0", "oldest version")
    eq(s3.head_object(Bucket=b, Key="doc", VersionId=ids[1])["ContentLength"], 2, "HEAD by version")
    expect_error(
        lambda: s3.get_object(Bucket=b, Key="doc", VersionId="0" * 32),
        "NoSuchVersion",
        404,
        "GET of a version that does not exist",
    )

    step("versioning: delete markers")
    deleted = s3.delete_object(Bucket=b, Key="doc")
    check(deleted.get("DeleteMarker") is True, f"DeleteMarker in {deleted}")
    marker = deleted["VersionId"]
    err = expect_error(lambda: s3.get_object(Bucket=b, Key="doc"), "NoSuchKey", 404, "GET behind a marker")
    eq(
        err["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker"),
        "true",
        "x-amz-delete-marker on the 404",
    )
    expect_error(
        lambda: s3.get_object(Bucket=b, Key="doc", VersionId=marker),
        "MethodNotAllowed",
        405,
        "GET of the marker's version",
    )
    eq(s3.list_objects_v2(Bucket=b).get("KeyCount"), 0, "objects listed behind a marker")
    listed = all_versions(s3, b, page_size=1)
    eq(len(listed), 4, f"three versions and a marker: {listed}")
    eq(sorted(listed), sorted(all_versions(s3, b, page_size=100)), "pages of one and of a hundred")
    eq({v[1] for v in listed}, set(ids) | {marker}, "version ids listed")
    eq([v for v in listed if v[3]], [("doc", marker, True, True)], "the marker is the latest")
    removed = s3.delete_object(Bucket=b, Key="doc", VersionId=marker)
    check(removed.get("DeleteMarker") is True, f"removing a marker says so: {removed}")
    eq(s3.get_object(Bucket=b, Key="doc")["Body"].read(), b"v2", "the key is back")

    step("versioning: copy and multipart")
    copied = s3.copy_object(Bucket=b, Key="copy", CopySource={"Bucket": b, "Key": "doc", "VersionId": ids[0]})
    eq(copied["CopySourceVersionId"], ids[0], "CopySourceVersionId")
    eq(s3.get_object(Bucket=b, Key="copy", VersionId=copied["VersionId"])["Body"].read(), b"v0", "copied version")
    mp = s3.create_multipart_upload(Bucket=b, Key="big")
    part = s3.upload_part(Bucket=b, Key="big", UploadId=mp["UploadId"], PartNumber=1, Body=b"p" * (5 << 20))
    done = s3.complete_multipart_upload(
        Bucket=b,
        Key="big",
        UploadId=mp["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    check(done.get("VersionId") not in (None, "null"), f"a multipart version id: {done}")

    step("versioning: suspended buckets write the null version")
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})
    eq(s3.get_bucket_versioning(Bucket=b).get("Status"), "Suspended", "suspended status")
    eq(s3.put_object(Bucket=b, Key="doc", Body=b"n1").get("VersionId"), "null", "suspended PUT")
    eq(s3.put_object(Bucket=b, Key="doc", Body=b"n2").get("VersionId"), "null", "second suspended PUT")
    doc = [v for v in all_versions(s3, b) if v[0] == "doc"]
    eq(len(doc), 4, f"the null version replaced, the others kept: {doc}")
    eq(s3.get_object(Bucket=b, Key="doc", VersionId="null")["Body"].read(), b"n2", "the null version")

    step("versioning: DeleteObjects with version ids, then empty and delete the bucket")
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    result = s3.delete_objects(
        Bucket=b,
        Delete={"Objects": [{"Key": "doc", "VersionId": ids[0]}, {"Key": "copy"}]},
    )
    by_key = {d["Key"]: d for d in result.get("Deleted", [])}
    eq(by_key["doc"].get("VersionId"), ids[0], "a version deleted for good")
    check(by_key["copy"].get("DeleteMarker") is True, f"a marker for the key: {by_key['copy']}")
    expect_error(lambda: s3.delete_bucket(Bucket=b), "BucketNotEmpty", 409, "a bucket with versions")
    # What rclone, restic's cleanup and `aws s3 rb` scripts do: delete
    # every version and marker, page by page.
    while True:
        page = s3.list_object_versions(Bucket=b)
        objects = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if not objects:
            break
        s3.delete_objects(Bucket=b, Delete={"Objects": objects, "Quiet": True})
    s3.delete_bucket(Bucket=b)
    expect_error(lambda: s3.head_bucket(Bucket=b), "404", 404, "the bucket is gone")


def object_lock(s3):
    step("object lock: a bucket created locked, a default retention, every delete refused")
    import datetime

    b = new_bucket(s3, "locked", ObjectLockEnabledForBucket=True)
    eq(s3.get_bucket_versioning(Bucket=b).get("Status"), "Enabled", "versioning under Object Lock")
    s3.put_object_lock_configuration(
        Bucket=b,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
        },
    )
    got = s3.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"]
    eq(got["Rule"]["DefaultRetention"], {"Mode": "GOVERNANCE", "Days": 1}, "default retention")
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
    put = s3.put_object(
        Bucket=b,
        Key="backup.tar",
        Body=b"immutable",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
    )
    vid = put["VersionId"]
    head = s3.head_object(Bucket=b, Key="backup.tar", VersionId=vid)
    eq(head["ObjectLockMode"], "COMPLIANCE", "ObjectLockMode on HEAD")
    eq(int(head["ObjectLockRetainUntilDate"].timestamp()), int(until.timestamp()), "retain-until on HEAD")
    ret = s3.get_object_retention(Bucket=b, Key="backup.tar", VersionId=vid)["Retention"]
    eq(ret["Mode"], "COMPLIANCE", "GetObjectRetention")
    for bypass in (False, True):
        expect_error(
            lambda: s3.delete_object(
                Bucket=b, Key="backup.tar", VersionId=vid, BypassGovernanceRetention=bypass
            ),
            "AccessDenied",
            403,
            f"DeleteObject of a COMPLIANCE version (bypass={bypass})",
        )
    result = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "backup.tar", "VersionId": vid}]})
    eq([e["Code"] for e in result.get("Errors", [])], ["AccessDenied"], "DeleteObjects of it")
    expect_error(
        lambda: s3.put_object_retention(
            Bucket=b,
            Key="backup.tar",
            VersionId=vid,
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until},
            BypassGovernanceRetention=True,
        ),
        "AccessDenied",
        403,
        "COMPLIANCE turned into GOVERNANCE",
    )
    eq(s3.get_object(Bucket=b, Key="backup.tar", VersionId=vid)["Body"].read(), b"immutable", "bytes kept")

    step("object lock: governance by default, a legal hold")
    second = s3.put_object(Bucket=b, Key="daily.tar", Body=b"daily")["VersionId"]
    eq(
        s3.get_object_retention(Bucket=b, Key="daily.tar", VersionId=second)["Retention"]["Mode"],
        "GOVERNANCE",
        "the default retention applied",
    )
    expect_error(
        lambda: s3.delete_object(Bucket=b, Key="daily.tar", VersionId=second),
        "AccessDenied",
        403,
        "GOVERNANCE without a bypass",
    )
    s3.put_object_legal_hold(Bucket=b, Key="daily.tar", VersionId=second, LegalHold={"Status": "ON"})
    eq(s3.get_object_legal_hold(Bucket=b, Key="daily.tar", VersionId=second)["LegalHold"]["Status"], "ON", "hold")
    expect_error(
        lambda: s3.delete_object(Bucket=b, Key="daily.tar", VersionId=second, BypassGovernanceRetention=True),
        "AccessDenied",
        403,
        "a legal hold, bypassing governance",
    )
    s3.put_object_legal_hold(Bucket=b, Key="daily.tar", VersionId=second, LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=b, Key="daily.tar", VersionId=second, BypassGovernanceRetention=True)
    expect_error(
        lambda: s3.head_object(Bucket=b, Key="daily.tar", VersionId=second), "404", 404, "removed by a bypass"
    )


def lifecycle(s3):
    step("lifecycle: configuration round trip, Expiration on reads, AWS's refusals")
    b = new_bucket(s3, "rules")
    rules = [
        {
            "ID": "logs",
            "Filter": {"Prefix": "logs/"},
            "Status": "Enabled",
            "Expiration": {"Days": 30},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 7, "NewerNoncurrentVersions": 3},
        },
        {
            "ID": "uploads",
            "Filter": {"And": {"Prefix": "tmp/", "ObjectSizeGreaterThan": 10}},
            "Status": "Disabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2},
        },
    ]
    s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": rules})
    got = s3.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]
    eq([r["ID"] for r in got], ["logs", "uploads"], "rule ids")
    eq(got[0]["Expiration"], {"Days": 30}, "Expiration")
    eq(got[0]["NoncurrentVersionExpiration"], {"NoncurrentDays": 7, "NewerNoncurrentVersions": 3}, "noncurrent")
    eq(got[1]["Filter"]["And"]["ObjectSizeGreaterThan"], 10, "size filter")
    put = s3.put_object(Bucket=b, Key="logs/today.log", Body=b"x")
    check('rule-id="logs"' in put.get("Expiration", ""), f"Expiration on PUT: {put}")
    head = s3.head_object(Bucket=b, Key="logs/today.log")
    check('rule-id="logs"' in head.get("Expiration", ""), f"Expiration on HEAD: {head}")
    expect_error(
        lambda: s3.put_bucket_lifecycle_configuration(
            Bucket=b,
            LifecycleConfiguration={"Rules": [{"ID": "x", "Filter": {"Prefix": ""}, "Status": "Enabled"}]},
        ),
        "InvalidRequest",
        400,
        "a rule without an action",
    )
    eq(len(s3.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]), 2, "rules after a refusal")
    s3.delete_bucket_lifecycle(Bucket=b)
    expect_error(
        lambda: s3.get_bucket_lifecycle_configuration(Bucket=b),
        "NoSuchLifecycleConfiguration",
        404,
        "after DeleteBucketLifecycle",
    )


def acl(s3):
    step("canned ACLs: object and bucket, as an anonymous boto3 client sees them")
    from botocore import UNSIGNED
    from botocore.config import Config

    anon = client(config=Config(signature_version=UNSIGNED))
    b = new_bucket(s3, "acl")
    s3.put_object(Bucket=b, Key="open.txt", Body=b"open", ACL="public-read")
    s3.put_object(Bucket=b, Key="closed.txt", Body=b"closed")
    eq(anon.get_object(Bucket=b, Key="open.txt")["Body"].read(), b"open", "anonymous GET of a public-read object")
    expect_error(lambda: anon.get_object(Bucket=b, Key="closed.txt"), "AccessDenied", 403, "a private object")
    grants = s3.get_object_acl(Bucket=b, Key="open.txt")["Grants"]
    check(
        any(g["Grantee"].get("URI", "").endswith("/AllUsers") and g["Permission"] == "READ" for g in grants),
        f"AllUsers READ in {grants}",
    )
    expect_error(lambda: anon.list_objects_v2(Bucket=b), "AccessDenied", 403, "listing a private bucket")
    s3.put_bucket_acl(Bucket=b, ACL="public-read")
    keys = [o["Key"] for o in anon.list_objects_v2(Bucket=b).get("Contents", [])]
    eq(keys, ["closed.txt", "open.txt"], "anonymous listing of a public-read bucket")
    s3.put_object_acl(Bucket=b, Key="open.txt", ACL="private")
    expect_error(lambda: anon.get_object(Bucket=b, Key="open.txt"), "AccessDenied", 403, "made private again")
    owner = s3.get_bucket_acl(Bucket=b)["Owner"]
    check(owner.get("ID"), f"an owner: {owner}")


def policy(s3):
    step("bucket policies and PublicAccessBlock, with AWS's codes")
    import json
    import os

    from botocore import UNSIGNED
    from botocore.config import Config

    anon = client(config=Config(signature_version=UNSIGNED))
    b = new_bucket(s3, "policy")
    s3.put_object(Bucket=b, Key="pub/a.txt", Body=b"a")
    s3.put_object(Bucket=b, Key="priv/b.txt", Body=b"b")
    expect_error(lambda: s3.get_bucket_policy(Bucket=b), "NoSuchBucketPolicy", 404, "before any policy")
    public = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Read", "Effect": "Allow", "Principal": "*",
                       "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{b}/pub/*"}],
    }
    s3.put_bucket_policy(Bucket=b, Policy=json.dumps(public))
    eq(json.loads(s3.get_bucket_policy(Bucket=b)["Policy"]), public, "GetBucketPolicy")
    eq(s3.get_bucket_policy_status(Bucket=b)["PolicyStatus"]["IsPublic"], True, "a public policy")
    eq(anon.get_object(Bucket=b, Key="pub/a.txt")["Body"].read(), b"a", "anonymous read the policy allows")
    expect_error(lambda: anon.get_object(Bucket=b, Key="priv/b.txt"), "AccessDenied", 403, "outside the policy")
    bad = dict(public, Statement=[dict(public["Statement"][0], Resource="arn:aws:s3:::elsewhere/*")])
    expect_error(lambda: s3.put_bucket_policy(Bucket=b, Policy=json.dumps(bad)), "MalformedPolicy", 400, "another bucket's resource")
    eq(json.loads(s3.get_bucket_policy(Bucket=b)["Policy"]), public, "unchanged by the refusal")
    s3.delete_bucket_policy(Bucket=b)
    expect_error(lambda: anon.get_object(Bucket=b, Key="pub/a.txt"), "AccessDenied", 403, "policy deleted")

    key2 = os.environ.get("STOWAGE_KEY2_ID")
    if key2:
        other = client(aws_access_key_id=key2, aws_secret_access_key=os.environ["STOWAGE_KEY2_SECRET"])
        shared = new_bucket(s3, "shared")
        for k in ["keep/x", "tmp/y"]:
            s3.put_object(Bucket=shared, Key=k, Body=k.encode())
        expect_error(lambda: other.get_object(Bucket=shared, Key="tmp/y"), "AccessDenied", 403, "no grant, no policy")
        grant = {"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": [key2]}, "Action": ["s3:GetObject", "s3:DeleteObject"],
             "Resource": f"arn:aws:s3:::{shared}/*"},
            {"Effect": "Deny", "Principal": {"AWS": key2}, "Action": "s3:DeleteObject",
             "Resource": f"arn:aws:s3:::{shared}/keep/*"}]}
        s3.put_bucket_policy(Bucket=shared, Policy=json.dumps(grant))
        eq(s3.get_bucket_policy_status(Bucket=shared)["PolicyStatus"]["IsPublic"], False, "a policy for one key")
        eq(other.get_object(Bucket=shared, Key="keep/x")["Body"].read(), b"keep/x", "the policy's Allow")
        expect_error(lambda: other.delete_object(Bucket=shared, Key="keep/x"), "AccessDenied", 403, "the Deny wins")
        out = other.delete_objects(Bucket=shared, Delete={"Objects": [{"Key": "keep/x"}, {"Key": "tmp/y"}]})
        eq([e["Key"] for e in out.get("Errors", [])], ["keep/x"], "DeleteObjects refuses the denied key")
        eq([e["Code"] for e in out.get("Errors", [])], ["AccessDenied"], "its code")
        eq([d["Key"] for d in out.get("Deleted", [])], ["tmp/y"], "and deletes the other")
        eq(s3.get_object(Bucket=shared, Key="keep/x")["Body"].read(), b"keep/x", "the denied key is still there")

    s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": True, "RestrictPublicBuckets": False})
    got = s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"]
    eq(got, {"BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": True,
             "RestrictPublicBuckets": False}, "GetPublicAccessBlock")
    expect_error(lambda: s3.put_object(Bucket=b, Key="new.txt", Body=b"n", ACL="public-read"), "AccessDenied", 403, "BlockPublicAcls")
    expect_error(lambda: s3.head_object(Bucket=b, Key="new.txt"), "404", 404, "nothing stored")
    expect_error(lambda: s3.put_bucket_policy(Bucket=b, Policy=json.dumps(public)), "AccessDenied", 403, "BlockPublicPolicy")
    expect_error(lambda: s3.get_bucket_policy(Bucket=b), "NoSuchBucketPolicy", 404, "no policy stored")
    s3.delete_public_access_block(Bucket=b)
    expect_error(lambda: s3.get_public_access_block(Bucket=b), "NoSuchPublicAccessBlockConfiguration", 404, "deleted")


def checksums(s3):
    step("multipart checksums: composite and full-object, as AWS computes them")
    import base64
    import zlib

    def b64crc(data):
        return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()

    b = new_bucket(s3, "sums")
    p1, p2 = bytes(range(256)) * (5 * 4096), b"tail of the object"
    whole = p1 + p2

    up = s3.create_multipart_upload(Bucket=b, Key="comp", ChecksumAlgorithm="CRC32")
    eq(up.get("ChecksumAlgorithm"), "CRC32", "CreateMultipartUpload's algorithm")
    eq(up.get("ChecksumType"), "COMPOSITE", "and its default type")
    uid = up["UploadId"]
    done = []
    for n, data in [(1, p1), (2, p2)]:
        r = s3.upload_part(Bucket=b, Key="comp", UploadId=uid, PartNumber=n, Body=data, ChecksumAlgorithm="CRC32")
        eq(r.get("ChecksumCRC32"), b64crc(data), f"part {n}'s CRC32")
        done.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    listed = s3.list_parts(Bucket=b, Key="comp", UploadId=uid)
    eq(listed.get("ChecksumAlgorithm"), "CRC32", "ListParts' algorithm")
    eq([p.get("ChecksumCRC32") for p in listed["Parts"]], [d["ChecksumCRC32"] for d in done], "ListParts' part checksums")
    expect_error(
        lambda: s3.upload_part(Bucket=b, Key="comp", UploadId=uid, PartNumber=3, Body=b"x", ChecksumAlgorithm="SHA256"),
        "InvalidRequest", 400, "a part of another algorithm")
    eq(len(s3.list_parts(Bucket=b, Key="comp", UploadId=uid)["Parts"]), 2, "the refused part was not stored")
    missing = [dict(done[0]), {"PartNumber": 2, "ETag": done[1]["ETag"]}]
    expect_error(
        lambda: s3.complete_multipart_upload(Bucket=b, Key="comp", UploadId=uid, MultipartUpload={"Parts": missing}),
        "InvalidRequest", 400, "a composite completion without a part's checksum")
    wrong = [dict(done[0], ChecksumCRC32=done[1]["ChecksumCRC32"]), done[1]]
    expect_error(
        lambda: s3.complete_multipart_upload(Bucket=b, Key="comp", UploadId=uid, MultipartUpload={"Parts": wrong}),
        "InvalidPart", 400, "a part listed with another checksum")
    out = s3.complete_multipart_upload(Bucket=b, Key="comp", UploadId=uid, MultipartUpload={"Parts": done})
    raw = b"".join(base64.b64decode(d["ChecksumCRC32"]) for d in done)
    composite = f"{b64crc(raw)}-2"
    eq(out.get("ChecksumCRC32"), composite, "the composite checksum")
    eq(out.get("ChecksumType"), "COMPOSITE", "its type")
    head = s3.head_object(Bucket=b, Key="comp", ChecksumMode="ENABLED")
    eq((head.get("ChecksumCRC32"), head.get("ChecksumType")), (composite, "COMPOSITE"), "HEAD with ChecksumMode")
    part = s3.get_object(Bucket=b, Key="comp", PartNumber=1, ChecksumMode="ENABLED")
    eq(part.get("ChecksumCRC32"), done[0]["ChecksumCRC32"], "a part read with ChecksumMode")
    eq(part["Body"].read(), p1, "its bytes, checked by botocore against that checksum")
    attrs = s3.get_object_attributes(Bucket=b, Key="comp", ObjectAttributes=["Checksum", "ObjectParts"])
    eq(attrs["Checksum"].get("ChecksumCRC32"), composite, "GetObjectAttributes' checksum")
    eq(attrs["Checksum"].get("ChecksumType"), "COMPOSITE", "and type")
    eq([p.get("ChecksumCRC32") for p in attrs["ObjectParts"]["Parts"]], [d["ChecksumCRC32"] for d in done], "its parts'")

    up = s3.create_multipart_upload(Bucket=b, Key="full", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    eq(up.get("ChecksumType"), "FULL_OBJECT", "a full-object upload")
    uid = up["UploadId"]
    done = []
    for n, data in [(1, p1), (2, p2)]:
        r = s3.upload_part(Bucket=b, Key="full", UploadId=uid, PartNumber=n, Body=data, ChecksumAlgorithm="CRC32")
        done.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    expect_error(
        lambda: s3.complete_multipart_upload(Bucket=b, Key="full", UploadId=uid, MultipartUpload={"Parts": done},
                                             ChecksumCRC32=b64crc(b"something else"), ChecksumType="FULL_OBJECT"),
        "BadDigest", 400, "a wrong whole-object CRC")
    expect_error(lambda: s3.head_object(Bucket=b, Key="full"), "404", 404, "nothing stored by the refusal")
    out = s3.complete_multipart_upload(Bucket=b, Key="full", UploadId=uid, MultipartUpload={"Parts": done},
                                       ChecksumCRC32=b64crc(whole), ChecksumType="FULL_OBJECT")
    eq((out.get("ChecksumCRC32"), out.get("ChecksumType")), (b64crc(whole), "FULL_OBJECT"), "the whole object's CRC32")
    got = s3.get_object(Bucket=b, Key="full", ChecksumMode="ENABLED")
    eq(got.get("ChecksumCRC32"), b64crc(whole), "GET with ChecksumMode")
    eq(got["Body"].read(), whole, "the bytes, checked by botocore")

    expect_error(
        lambda: s3.create_multipart_upload(Bucket=b, Key="x", ChecksumAlgorithm="SHA256", ChecksumType="FULL_OBJECT"),
        "InvalidRequest", 400, "FULL_OBJECT with SHA256")
    expect_error(
        lambda: s3.create_multipart_upload(Bucket=b, Key="x", ChecksumAlgorithm="CRC64NVME", ChecksumType="COMPOSITE"),
        "InvalidRequest", 400, "COMPOSITE with CRC64NVME")
    eq(s3.list_multipart_uploads(Bucket=b).get("Uploads", []), [], "no upload left open by a refused create")


SECTIONS = {
    "versioning": versioning,
    "checksums": checksums,
    "policy": policy,
    "object_lock": object_lock,
    "lifecycle": lifecycle,
    "acl": acl,
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
