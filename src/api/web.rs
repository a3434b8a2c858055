//! The built-in upload page: `GET /` and its assets under `/ui/`, static
//! files embedded in the binary at build time (`src/api/web/`), so a
//! browser pointed at the gateway can hash, upload and list files through
//! the JSON API with nothing else installed.
//!
//! This module owns which paths are the page, the embedded bytes, and the
//! headers they are served with (type, `no-cache`, a self-only
//! Content-Security-Policy, `nosniff`). It answers only GET and HEAD of a
//! request the router found not S3-signed: a signed `GET /` is S3's
//! ListBuckets and stays so. `/ui/…` cannot shadow a bucket (a bucket name
//! has at least 3 characters). It must never read a token, touch the index
//! or the store, or map a request path to anything but this fixed list.

use http::{header, HeaderValue, Method, Response, StatusCode};

use crate::api::body::{full, Body};
use crate::app::App;

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// Every path the page answers, with its file.
const ASSETS: [Asset; 4] = [
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("web/index.html"),
    },
    Asset {
        path: "/ui/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("web/app.js"),
    },
    Asset {
        path: "/ui/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("web/style.css"),
    },
    Asset {
        path: "/ui/icon.svg",
        content_type: "image/svg+xml",
        body: include_str!("web/icon.svg"),
    },
];

/// The page's policy: its own scripts, styles and images only, no inline
/// code, no frames, no plugins, no form posts; requests only to this
/// origin (and to `public_url`, which presigned URLs point at, should the
/// page be opened under another name).
fn content_security_policy(app: &App) -> String {
    let base = &app.public_url.base;
    // `base` is `scheme://authority` from the operator's config; anything
    // that could end a directive is left out rather than trusted.
    let extra = if base
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".:-[]_~%".contains(&b) || b == b'/')
    {
        format!(" {base}")
    } else {
        String::new()
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'{extra}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// The page's answer to a request the router found not S3-signed, or
/// `None` when `method path` is not the page (the S3 router answers it).
pub fn serve(app: &App, method: &Method, path: &str) -> Option<Response<Body>> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let asset = ASSETS.iter().find(|a| a.path == path)?;
    let mut r = Response::new(if method == Method::HEAD {
        full("")
    } else {
        full(asset.body)
    });
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(asset.body.len()));
    // Revalidated on every load, so a new binary's page is seen at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Download links carry signatures in their query: never as a Referer.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(app)) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::ASSETS;

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        let html = ASSETS[0].body;
        for tag in html.split("<script").skip(1) {
            let open = &tag[..tag.find('>').unwrap()];
            assert!(open.contains("src=\"/ui/"), "inline script: <script{open}>");
            assert!(tag[open.len() + 1..].trim_start().starts_with("</script>"));
        }
        assert!(!html.contains("<style"), "inline style element");
        assert!(!html.contains(" style="), "inline style attribute");
        // No inline event handler (` onclick=` and the like).
        for (i, _) in html.match_indices(" on") {
            let name: String = html[i + 3..]
                .chars()
                .take_while(char::is_ascii_lowercase)
                .collect();
            assert!(
                !html[i + 3 + name.len()..].starts_with('='),
                "inline handler on{name}"
            );
        }
    }

    #[test]
    fn every_asset_the_page_names_is_served() {
        let html = ASSETS[0].body;
        for a in &ASSETS[1..] {
            assert!(html.contains(a.path), "{} is not used", a.path);
        }
    }
}
