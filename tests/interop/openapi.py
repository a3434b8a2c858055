"""The JSON API's answers, checked against the OpenAPI 3.1 description the
gateway serves at /api/openapi.json: every operation, its success answers
and its refusals, each body validated against the schema the document gives
for that operation and status (jsonschema, draft 2020-12, as OpenAPI 3.1
uses).

Usage: openapi.py ENDPOINT  (STOWAGE_TOKEN in the environment)
"""

import base64
import hashlib
import json
import os
import urllib.request
import uuid
from urllib.error import HTTPError

from jsonschema import Draft202012Validator

from common import check, endpoint, eq, run, step

TOKEN = os.environ.get("STOWAGE_TOKEN", "")


def call(method, path, body=None, token=TOKEN, headers=None):
    req = urllib.request.Request(endpoint() + path, method=method, data=body)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.headers, r.read()
    except HTTPError as e:
        return e.code, e.headers, e.read()


def main():
    step("GET /api/openapi.json (no token)")
    status, headers, raw = call("GET", "/api/openapi.json", token=None)
    eq(status, 200, "openapi status")
    spec = json.loads(raw)
    eq(spec["openapi"], "3.1.0", "OpenAPI version")

    def schema_for(path, method, status):
        op = spec["paths"][path][method]
        resp = op["responses"].get(str(status))
        check(resp is not None, f"{method.upper()} {path}: status {status} is not in the document")
        if "$ref" in resp:
            resp = spec["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
        media = resp.get("content", {}).get("application/json", {})
        return media.get("schema")

    checked = []

    def conforms(path, method, status, body):
        schema = schema_for(path, method, status)
        if schema is None:
            return
        # Validated against the whole document, so its $refs resolve.
        root = dict(spec)
        root.update(schema)
        errors = list(Draft202012Validator(root).iter_errors(json.loads(body)))
        check(not errors, f"{method.upper()} {path} {status}: {[e.message for e in errors]}: {body[:300]!r}")
        checked.append(f"{method.upper()} {path} {status}")

    presign = "/api/inspect/v1/file/upload/presigned"
    complete = "/api/inspect/v1/file/upload/complete"
    data = os.urandom(5000)
    decl = {
        "id": str(uuid.uuid4()),
        "fileName": "photo.png",
        "contentType": "image/png",
        "size": len(data),
        "hash": base64.b64encode(hashlib.sha256(data).digest()).decode(),
    }
    step("presign, PUT, complete, get: every answer against its schema")
    st, _, body = call("POST", presign, json.dumps(decl).encode(), headers={"Content-Type": "application/json"})
    eq(st, 201, f"presign: {body!r}")
    conforms(presign, "post", 201, body)
    url = json.loads(body)["data"]["presignedURL"]
    req = urllib.request.Request(url, method="PUT", data=data, headers={"Content-Type": "image/png"})
    with urllib.request.urlopen(req) as r:
        eq(r.status, 200, "PUT")
    st, _, body = call("GET", f"/api/inspect/v1/file/{decl['id']}")
    conforms("/api/inspect/v1/file/{id}", "get", st, body)
    st, _, body = call("POST", complete, json.dumps({"id": decl["id"]}).encode())
    eq(st, 200, f"complete: {body!r}")
    conforms(complete, "post", 200, body)
    st, _, body = call("GET", f"/api/inspect/v1/file/{decl['id']}")
    eq(st, 200, "get")
    conforms("/api/inspect/v1/file/{id}", "get", 200, body)
    check("downloadURL" in json.loads(body)["data"], "no downloadURL after complete")

    st, _, body = call("GET", "/api/inspect/v1/files?limit=2")
    eq(st, 200, f"list: {body!r}")
    conforms("/api/inspect/v1/files", "get", 200, body)
    st, _, body = call("GET", "/api/inspect/v1/files?limit=0")
    conforms("/api/inspect/v1/files", "get", 400, body)

    step("the same bytes under a new id: 200, already stored")
    again = dict(decl, id=str(uuid.uuid4()))
    st, _, body = call("POST", presign, json.dumps(again).encode())
    eq(st, 200, f"dedupe: {body!r}")
    conforms(presign, "post", 200, body)

    step("part-wise upload: parts, PUT each part, complete, each answer against its schema")
    parts = "/api/inspect/v1/file/upload/parts"
    big = os.urandom(5 * 1024 * 1024 + 1000)
    pdecl = {
        "id": str(uuid.uuid4()),
        "fileName": "survey.bin",
        "contentType": "application/octet-stream",
        "size": len(big),
        "hash": base64.b64encode(hashlib.sha256(big).digest()).decode(),
        "partSize": 5 * 1024 * 1024,
    }
    st, _, body = call("POST", parts, json.dumps(pdecl).encode())
    eq(st, 201, f"parts: {body!r}")
    conforms(parts, "post", 201, body)
    plan = json.loads(body)["data"]["parts"]
    eq(len(plan), 2, "two parts")
    for p in plan:
        chunk = big[p["offset"] : p["offset"] + p["size"]]
        md5 = base64.b64encode(hashlib.md5(chunk).digest()).decode()
        req = urllib.request.Request(p["url"], method="PUT", data=chunk, headers={"Content-MD5": md5})
        with urllib.request.urlopen(req) as r:
            eq(r.status, 200, f"PUT part {p['partNumber']}")
    st, _, body = call("POST", parts, json.dumps(pdecl).encode())
    conforms(parts, "post", 201, body)
    held = [p["hash"] for p in json.loads(body)["data"]["parts"]]
    want = [base64.b64encode(hashlib.sha256(big[p["offset"] : p["offset"] + p["size"]]).digest()).decode() for p in plan]
    eq(held, want, "the hashes of the parts held")
    st, _, body = call("POST", complete, json.dumps({"id": pdecl["id"]}).encode())
    eq(st, 200, f"complete parts: {body!r}")
    conforms(complete, "post", 200, body)
    st, _, body = call("POST", parts, json.dumps(pdecl).encode())
    eq(st, 200, f"parts once stored: {body!r}")
    conforms(parts, "post", 200, body)
    st, _, body = call("POST", parts, json.dumps(dict(pdecl, partSize=1024)).encode())
    eq(st, 400, f"part size too small: {body!r}")
    conforms(parts, "post", 400, body)

    step("refusals, each in the documented error shape")
    cases = [
        (presign, "post", b"not json", TOKEN, 400),
        (presign, "post", json.dumps(decl).encode(), "stw_wrong", 401),
        (presign, "post", json.dumps(dict(decl, size=1)).encode(), TOKEN, 409),
        (presign, "post", b"{" + b" " * 70000 + b"}", TOKEN, 413),
        (complete, "post", json.dumps({"id": str(uuid.uuid4())}).encode(), TOKEN, 404),
    ]
    for path, method, body_in, token, want in cases:
        st, _, body = call(method.upper(), path, body_in, token=token)
        eq(st, want, f"{path}: {body!r}")
        conforms(path, method, st, body)
    pending = dict(decl, id=str(uuid.uuid4()), hash=base64.b64encode(hashlib.sha256(b"other").digest()).decode())
    call("POST", presign, json.dumps(pending).encode())
    st, _, body = call("POST", complete, json.dumps({"id": pending["id"]}).encode())
    eq(st, 409, f"complete before upload: {body!r}")
    conforms(complete, "post", 409, body)
    st, _, body = call("GET", "/api/inspect/v1/file/not-a-uuid")
    conforms("/api/inspect/v1/file/{id}", "get", st, body)
    st, _, body = call("GET", f"/api/inspect/v1/file/{uuid.uuid4()}")
    eq(st, 404, "unknown id")
    conforms("/api/inspect/v1/file/{id}", "get", 404, body)
    print(f"validated {len(checked)} answers: {', '.join(checked)}", flush=True)


if __name__ == "__main__":
    run(main)
