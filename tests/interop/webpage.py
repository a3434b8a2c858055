"""The built-in upload page in a real browser: headless Chromium (Debian's
package; Playwright drives it and downloads no browser of its own) opens
the gateway's `/`, and a person's steps are played: a wrong token, then the
right one, files picked, progress watched, the recent list paged, the same
bytes sent again, a file dropped, the tab reloaded, and the page opened
under a name that is not a secure context. Every file the page uploaded is then fetched through the
JSON API (and through the page's own download link) and compared with what
was sent. A screenshot of the page is saved.

Usage: webpage.py ENDPOINT
Environment: STOWAGE_TOKEN (a token with upload and read), STOWAGE_SCREENSHOT
(where to save the PNG), STOWAGE_CHROMIUM (default: chromium on PATH).
"""

import base64
import hashlib
import json
import os
import shutil
import urllib.request
import uuid
from urllib.error import HTTPError
from urllib.parse import urlsplit

from playwright.sync_api import expect, sync_playwright

from common import check, endpoint, eq, run, step

TOKEN = os.environ.get("STOWAGE_TOKEN", "")
API = "/api/inspect/v1"
# Files per page of the page's recent list (PAGE in src/api/web/app.js).
PAGE = 10
# Longest an upload through the page may take.
UPLOAD_MS = 60_000
# The browser's upload speed while the two files go (bytes/s): 8 MiB in ~2 s.
UPLINK = 4 * 1024 * 1024
BIG = 8 * 1024 * 1024


def call(method, path, body=None, token=TOKEN):
    req = urllib.request.Request(endpoint() + path, method=method, data=body)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read()
    except HTTPError as e:
        return e.code, e.read()


def fetch(url):
    with urllib.request.urlopen(url) as r:
        eq(r.status, 200, f"GET {url[:80]}…")
        return r.read()


def store(name, data, content_type="text/plain"):
    """Uploads through the API, as a script would (the page's older files)."""
    decl = {
        "id": str(uuid.uuid4()),
        "fileName": name,
        "contentType": content_type,
        "size": len(data),
        "hash": base64.b64encode(hashlib.sha256(data).digest()).decode(),
    }
    st, body = call("POST", f"{API}/file/upload/presigned", json.dumps(decl).encode())
    eq(st, 201, f"presign {name}: {body!r}")
    url = json.loads(body)["data"]["presignedURL"]
    put = urllib.request.Request(url, method="PUT", data=data, headers={"Content-Type": content_type})
    with urllib.request.urlopen(put) as r:
        eq(r.status, 200, f"PUT {name}")
    st, body = call("POST", f"{API}/file/upload/complete", json.dumps({"id": decl["id"]}).encode())
    eq(st, 200, f"complete {name}: {body!r}")


def record(file_id):
    st, body = call("GET", f"{API}/file/{file_id}")
    eq(st, 200, f"GET file {file_id}: {body!r}")
    return json.loads(body)["data"]


# Records every state and progress change of the upload list's rows.
RECORDER = """() => {
  window.__changes = [];
  new MutationObserver((muts) => {
    for (const m of muts) {
      const li = m.target.closest("li");
      if (!li) continue;
      const name = li.querySelector(".name").textContent;
      if (m.attributeName === "data-state") window.__changes.push([name, "state", li.dataset.state]);
      else window.__changes.push([name, "progress", Number(m.target.getAttribute("value"))]);
    }
  }).observe(document.getElementById("uploads"),
             {subtree: true, attributes: true, attributeFilter: ["data-state", "value"]});
}"""


def main():
    check(TOKEN, "STOWAGE_TOKEN is not set")
    shot = os.environ.get("STOWAGE_SCREENSHOT", "webpage.png")
    chromium = os.environ.get("STOWAGE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

    step(f"{PAGE} older files stored through the API (so the list has a second page)")
    for i in range(PAGE):
        store(f"older-{i:02}.txt", f"older file {i}\n".encode())

    notes = b"field notes, day 1\n" * 200
    survey = os.urandom(BIG)
    sent = {"notes.txt": (notes, "text/plain"), "survey.bin": (survey, "application/octet-stream")}

    with sync_playwright() as pw:
        # stowage.test is this gateway under a name that is not loopback,
        # as a LAN address would be: plain http there is not a secure context.
        browser = pw.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--host-resolver-rules=MAP stowage.test 127.0.0.1"],
        )
        print(f"chromium {browser.version} at {chromium}", flush=True)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        problems, urls = [], []
        page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
        page.on(
            "console",
            lambda m: problems.append(f"console: {m.text}")
            if "Content Security Policy" in m.text or "Refused to" in m.text
            else None,
        )
        page.on("request", lambda r: urls.append(r.url))

        step("open / : the page, in a secure context, asking for a token")
        resp = page.goto(endpoint() + "/")
        eq(resp.status, 200, "GET /")
        check("script-src 'self'" in resp.headers.get("content-security-policy", ""), "no CSP")
        expect(page).to_have_title("Stowage: upload files")
        expect(page.locator("#insecure")).to_be_hidden()
        expect(page.locator("#recent-status")).to_have_text("Paste a token to see recent files.")
        page.evaluate(RECORDER)

        step("a wrong token: the upload fails with the server's message")
        page.get_by_label("API token").fill("stw_" + "0" * 43)
        page.locator("#token").blur()
        expect(page.locator("#recent-status")).to_contain_text("the token is unknown or has been revoked")
        page.get_by_label("Files to upload").set_input_files(
            [{"name": "refused.txt", "mimeType": "text/plain", "buffer": b"not for a wrong token"}]
        )
        failed = page.locator('#uploads li[data-state="failed"]')
        expect(failed).to_have_count(1, timeout=UPLOAD_MS)
        expect(failed.locator(".state")).to_have_text("failed: the token is unknown or has been revoked")

        step("the right token: the list shows the older files (one page exactly)")
        page.get_by_label("API token").fill(TOKEN)
        page.locator("#token").blur()
        expect(page.locator("#recent tbody tr")).to_have_count(PAGE)
        expect(page.locator("#more")).to_be_hidden()

        step("two files picked: hashing, presigned, uploading n%, completed")
        # Loopback sends 8 MiB before the first progress event; a throttled
        # uplink (as on a field site's link) lets the bar be seen moving.
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": UPLINK},
        )
        page.get_by_label("Files to upload").set_input_files(
            [{"name": n, "mimeType": ct, "buffer": b} for n, (b, ct) in sent.items()]
        )
        completed = page.locator('#uploads li[data-state="completed"]')
        expect(completed).to_have_count(2, timeout=UPLOAD_MS)
        cdp.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        changes = page.evaluate("window.__changes")
        for name in sent:
            states = [v for n, kind, v in changes if n == name and kind == "state"]
            states = [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]
            eq(states, ["hashing", "presigned", "uploading", "completed"], f"{name}: states")
            progress = [v for n, kind, v in changes if n == name and kind == "progress"]
            print(f"{name}: {len(sent[name][0])} bytes, progress seen {sorted(set(progress))}", flush=True)
            check(progress and progress[-1] == 100, f"{name}: progress ended at {progress[-1:]}")
            check(progress == sorted(progress), f"{name}: progress went back: {progress}")
            if len(sent[name][0]) == BIG:
                moving = [p for p in progress if 0 < p < 100]
                check(len(set(moving)) >= 3, f"{name}: the bar did not move: {progress}")
            row = page.locator("#uploads li").filter(has_text=name)
            expect(row.locator("progress")).to_have_attribute("value", "100")
            expect(row.locator(".state")).to_have_text("completed")
        ids = {}
        for i in range(completed.count()):
            li = completed.nth(i)
            ids[li.locator(".name").text_content()] = li.get_attribute("data-id")
        eq(sorted(ids), sorted(sent), "completed rows")

        step("the recent list shows them first, with download links; More pages on")
        rows = page.locator("#recent tbody tr")
        expect(rows).to_have_count(PAGE)
        expect(page.locator("#more")).to_be_visible()
        for name, file_id in ids.items():
            link = page.locator(f'#recent tr[data-id="{file_id}"] a')
            expect(link).to_have_text(name)
            got = fetch(link.get_attribute("href"))
            check(got == sent[name][0], f"{name}: the page's download link gives other bytes")
        page.locator("#more").click()
        expect(rows).to_have_count(PAGE + 2)
        expect(page.locator("#more")).to_be_hidden()
        expect(page.locator("#recent-status")).to_have_text(f"{PAGE + 2} files shown.")

        step("the same bytes again, under another name: already stored (no PUT)")
        puts_before = sum(1 for u in urls if "X-Amz-Signature" in u)
        page.get_by_label("Files to upload").set_input_files(
            [{"name": "notes-again.txt", "mimeType": "text/plain", "buffer": notes}]
        )
        stored = page.locator('#uploads li[data-state="stored"]')
        expect(stored).to_have_count(1, timeout=UPLOAD_MS)
        expect(stored.locator(".state")).to_have_text("already stored")
        expect(stored.locator("progress")).to_have_attribute("value", "100")
        ids["notes-again.txt"] = stored.get_attribute("data-id")
        sent["notes-again.txt"] = (notes, "text/plain")
        puts_after = sum(1 for u in urls if "X-Amz-Signature" in u)
        eq(puts_after, puts_before, "presigned requests for a stored file")
        expect(page.locator(f'#recent tr[data-id="{ids["notes-again.txt"]}"] a')).to_have_text("notes-again.txt")

        step("a file dropped on the drop zone goes the same way")
        dropped = page.evaluate_handle(
            """() => {
              const dt = new DataTransfer();
              dt.items.add(new File(["dropped on the page\\n"], "dropped.txt", {type: "text/plain"}));
              return dt;
            }"""
        )
        page.locator("#drop").dispatch_event("drop", {"dataTransfer": dropped})
        row = page.locator("#uploads li").filter(has_text="dropped.txt")
        expect(row).to_have_attribute("data-state", "completed", timeout=UPLOAD_MS)
        ids["dropped.txt"] = row.get_attribute("data-id")
        sent["dropped.txt"] = (b"dropped on the page\n", "text/plain")

        step(f"screenshot: {shot}")
        page.screenshot(path=shot, full_page=True)

        step("reloaded, the tab still has the token (sessionStorage) and lists at once")
        page.reload()
        expect(page.locator("#token")).to_have_value(TOKEN)
        expect(page.locator("#recent tbody tr")).to_have_count(PAGE)
        page.get_by_role("button", name="Forget").click()
        expect(page.locator("#token")).to_have_value("")
        check(page.evaluate("sessionStorage.length") == 0, "the token is still stored")

        step("over plain http under a non-loopback name: no WebCrypto, and the page says so")
        lan = browser.new_page()
        port = urlsplit(endpoint()).port
        eq(lan.goto(f"http://stowage.test:{port}/").status, 200, "GET / as stowage.test")
        check(not lan.evaluate("window.isSecureContext"), "stowage.test is a secure context")
        expect(lan.locator("#insecure")).to_be_visible()
        expect(lan.locator("#insecure")).to_contain_text("not a secure context")
        expect(lan.get_by_label("Files to upload")).to_be_disabled()
        lan.close()

        check(not any(TOKEN in u for u in urls), "the token appeared in a URL")
        check(not problems, f"the page had problems: {problems}")
        browser.close()

    step("every file the page uploaded, fetched through the API: the same bytes")
    for name, file_id in ids.items():
        data, content_type = sent[name]
        rec = record(file_id)
        eq(rec["status"], "completed", f"{name}: status")
        eq(rec["fileName"], name, f"{name}: fileName")
        eq(rec["contentType"], content_type, f"{name}: contentType")
        eq(rec["size"], len(data), f"{name}: size")
        eq(rec["hash"], base64.b64encode(hashlib.sha256(data).digest()).decode(), f"{name}: hash")
        got = fetch(rec["downloadURL"])
        check(got == data, f"{name}: {len(got)} bytes came back, {len(data)} were sent, or they differ")
        print(f"{name}: {len(data)} bytes round-tripped", flush=True)
    st, body = call("GET", f"{API}/files?limit=1000")
    eq(st, 200, "list")
    names = [f["fileName"] for f in json.loads(body)["data"]]
    check("refused.txt" not in names, "the refused upload was recorded")


if __name__ == "__main__":
    run(main)
