// Stowage's upload page: hash each file in the browser, ask the JSON API
// for a presigned URL, PUT the bytes to it, mark the file complete, and
// list recent files. Same origin as the API, so no CORS; no inline code,
// so the page's Content-Security-Policy allows only scripts from /ui/.
"use strict";

const API = "/api/inspect/v1";
// Files per page of the recent list ("More" fetches the next page).
const PAGE = 10;
// The token lives in sessionStorage: this tab only, gone when it closes,
// never in a URL (where it would reach history, logs and Referer headers).
const TOKEN_KEY = "stowage.token";

const $ = (id) => document.getElementById(id);
const tokenInput = $("token");
const uploads = $("uploads");
const recentBody = document.querySelector("#recent tbody");
const recentStatus = $("recent-status");
const more = $("more");
let nextCursor = null;
// Uploads run one after another: each file is read whole into memory to be
// hashed, so one at a time keeps the page's memory to one file.
let queue = Promise.resolve();

function token() {
  return tokenInput.value.trim();
}

function sizeText(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i === 0 ? String(n) : n.toFixed(1)) + " " + units[i];
}

function base64(buffer) {
  let s = "";
  for (const b of new Uint8Array(buffer)) s += String.fromCharCode(b);
  return btoa(s);
}

// The message of a JSON API error ({error, errorDescription}), or a
// description of whatever else came back.
async function apiError(resp) {
  const text = await resp.text();
  try {
    const body = JSON.parse(text);
    if (body.errorDescription) return body.errorDescription;
  } catch (_) {
    // not JSON: described below
  }
  return "HTTP " + resp.status + (text ? ": " + text.slice(0, 200) : "");
}

// The <Message> of an S3 XML error (what a refused PUT answers).
function s3Error(xhr) {
  const doc = new DOMParser().parseFromString(xhr.responseText || "", "application/xml");
  const msg = doc.querySelector("Message");
  return msg ? msg.textContent : "HTTP " + xhr.status;
}

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + token() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(API + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  return resp;
}

// One row of the upload list, with its progress bar and state text.
function uploadRow(file) {
  const li = document.createElement("li");
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = file.name;
  const size = document.createElement("span");
  size.className = "size";
  size.textContent = sizeText(file.size);
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  bar.setAttribute("aria-label", "upload progress of " + file.name);
  const state = document.createElement("span");
  state.className = "state";
  li.append(name, size, bar, state);
  uploads.prepend(li);
  const set = (key, text) => {
    li.dataset.state = key;
    state.textContent = text;
  };
  return { li, bar, set };
}

// PUTs the file to its presigned URL with the Content-Type it was signed
// for; XMLHttpRequest because fetch reports no upload progress.
function put(url, file, contentType, row) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.setRequestHeader("Content-Type", contentType);
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      const pct = Math.floor((e.loaded / e.total) * 100);
      row.bar.value = pct;
      row.set("uploading", "uploading " + pct + "%");
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else reject(new Error(s3Error(xhr)));
    };
    xhr.onerror = () =>
      reject(
        new Error(
          "the upload to " + new URL(url).origin + " failed or was blocked; " +
            "open this page at that address (the gateway's public_url)"
        )
      );
    xhr.send(file);
  });
}

async function upload(file) {
  const row = uploadRow(file);
  try {
    if (!token()) throw new Error("paste an API token above first");
    row.set("hashing", "hashing");
    // The whole file is read into memory to be hashed in one call
    // (WebCrypto has no streaming digest): fine up to a few hundred MB;
    // larger files are better sent with an S3 client's multipart upload.
    const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
    const contentType = file.type || "application/octet-stream";
    const id = crypto.randomUUID();
    row.li.dataset.id = id;
    const resp = await api("POST", "/file/upload/presigned", {
      id,
      contentType,
      hash: base64(digest),
      fileName: file.name,
      size: file.size,
    });
    let deduped = false;
    if (resp.status === 201) {
      const { data } = await resp.json();
      row.set("presigned", "presigned");
      await put(data.presignedURL, file, contentType, row);
    } else if (resp.status === 200) {
      deduped = true; // these bytes are stored already: nothing to send
    } else {
      throw new Error(await apiError(resp));
    }
    const done = await api("POST", "/file/upload/complete", { id });
    if (!done.ok) throw new Error(await apiError(done));
    row.bar.value = 100;
    if (deduped) row.set("stored", "already stored");
    else row.set("completed", "completed");
    await loadRecent(false);
  } catch (e) {
    row.set("failed", "failed: " + (e && e.message ? e.message : String(e)));
  }
}

function enqueue(files) {
  for (const file of files) queue = queue.then(() => upload(file));
}

function recentRow(f) {
  const tr = document.createElement("tr");
  tr.dataset.id = f.id;
  const name = document.createElement("td");
  if (f.downloadURL) {
    const a = document.createElement("a");
    a.href = f.downloadURL;
    a.textContent = f.fileName;
    name.append(a);
  } else {
    name.textContent = f.fileName + " (" + f.status + ")";
  }
  const cells = [sizeText(f.size), f.contentType, new Date(f.createdAt).toLocaleString()];
  tr.append(name, ...cells.map((text) => {
    const td = document.createElement("td");
    td.textContent = text;
    return td;
  }));
  return tr;
}

// The newest files (append: the page after the ones shown).
async function loadRecent(append) {
  if (!token()) {
    recentStatus.textContent = "Paste a token to see recent files.";
    return;
  }
  let path = "/files?limit=" + PAGE;
  if (append && nextCursor) path += "&cursor=" + encodeURIComponent(nextCursor);
  try {
    const resp = await api("GET", path);
    if (!resp.ok) throw new Error(await apiError(resp));
    const body = await resp.json();
    if (!append) recentBody.replaceChildren();
    for (const f of body.data) recentBody.append(recentRow(f));
    nextCursor = body.nextCursor;
    more.hidden = !nextCursor;
    const n = recentBody.rows.length;
    recentStatus.textContent = n === 0 ? "No files yet." : n + (n === 1 ? " file" : " files") + " shown.";
  } catch (e) {
    recentStatus.textContent = "Could not list files: " + e.message;
  }
}

function init() {
  if (!window.isSecureContext || !window.crypto || !crypto.subtle) {
    $("insecure").hidden = false;
    $("files").disabled = true;
  }
  tokenInput.value = sessionStorage.getItem(TOKEN_KEY) || "";
  tokenInput.addEventListener("input", () => sessionStorage.setItem(TOKEN_KEY, token()));
  tokenInput.addEventListener("change", () => loadRecent(false));
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    tokenInput.value = "";
    recentBody.replaceChildren();
    more.hidden = true;
    recentStatus.textContent = "Token forgotten.";
  });
  const input = $("files");
  input.addEventListener("change", () => {
    enqueue(Array.from(input.files));
    input.value = ""; // the same file may be chosen again
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (!input.disabled) enqueue(Array.from(e.dataTransfer.files));
  });
  $("refresh").addEventListener("click", () => loadRecent(false));
  more.addEventListener("click", () => loadRecent(true));
  loadRecent(false);
}

init();
