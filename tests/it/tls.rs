//! HTTPS served directly: a self-signed certificate made here, the gateway
//! configured with it, and curl (verifying against that certificate) doing
//! the whole upload flow; presigned URLs come back as https.

use std::process::Command;
use std::sync::Arc;

use crate::harness::{TestFile, TestServer};

pub(crate) struct Tls {
    dir: tempfile::TempDir,
}

impl Tls {
    pub(crate) fn new() -> Tls {
        let dir = tempfile::tempdir().unwrap();
        let ck = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .unwrap();
        std::fs::write(dir.path().join("cert.pem"), ck.cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), ck.key_pair.serialize_pem()).unwrap();
        Tls { dir }
    }

    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    pub(crate) fn toml(&self) -> String {
        format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
            self.path("cert.pem"),
            self.path("key.pem")
        )
    }
}

/// curl, trusting only our certificate: (exit ok, HTTP status, body).
pub(crate) fn curl(tls: &Tls, args: &[&str]) -> (bool, u16, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--cacert",
            &tls.path("cert.pem"),
            "-w",
            "\n%{http_code}",
        ])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        out.status.success(),
        code.trim().parse().unwrap_or(0),
        body.to_string(),
    )
}

/// curl's POST of JSON `body` to an API `url` with a bearer `token`,
/// trusting only our certificate: (exit ok, HTTP status, body).
pub(crate) fn curl_post_json(tls: &Tls, token: &str, body: &str, url: &str) -> (bool, u16, String) {
    let auth = format!("Authorization: Bearer {token}");
    curl(
        tls,
        &[
            "-X",
            "POST",
            "-H",
            &auth,
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
            url,
        ],
    )
}

/// curl's PUT of `file` as `image/png` to a presigned URL, trusting only
/// our certificate: (exit ok, HTTP status, body).
pub(crate) fn curl_put_png(tls: &Tls, file: &std::path::Path, url: &str) -> (bool, u16, String) {
    curl(
        tls,
        &[
            "-X",
            "PUT",
            "-H",
            "Content-Type: image/png",
            "--upload-file",
            file.to_str().unwrap(),
            url,
        ],
    )
}

#[test]
fn the_whole_upload_flow_over_https_with_curl() {
    let tls = Tls::new();
    let s = TestServer::start_with(&tls.toml());
    let base = format!("https://{}", s.addr);
    let f = TestFile::new(300_000);
    let (ok, code, body) = curl_post_json(
        &tls,
        &s.token,
        &f.declaration().to_string(),
        &format!("{base}/api/inspect/v1/file/upload/presigned"),
    );
    assert!(ok && code == 201, "{code}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let url = v["data"]["presignedURL"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{base}/")), "{url}");

    let file = tls.dir.path().join("f.png");
    std::fs::write(&file, &f.bytes).unwrap();
    let (ok, code, body) = curl_put_png(&tls, &file, &url);
    assert!(ok && code == 200, "{code}: {body}");

    let (ok, code, body) = curl_post_json(
        &tls,
        &s.token,
        &format!("{{\"id\": \"{}\"}}", f.id),
        &format!("{base}/api/inspect/v1/file/upload/complete"),
    );
    assert!(ok && code == 200, "{code}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let download = v["data"]["downloadURL"].as_str().unwrap().to_string();
    assert!(download.starts_with("https://"), "{download}");
    let got = tls.dir.path().join("got.png");
    let (ok, code, _) = curl(&tls, &["-o", got.to_str().unwrap(), &download]);
    assert!(ok && code == 200);
    assert!(std::fs::read(&got).unwrap() == f.bytes);

    // Plain HTTP to the TLS port gets no answer, and nothing is served.
    let (ok, _, _) = curl(&tls, &[&format!("http://{}/healthz", s.addr)]);
    assert!(!ok, "plain HTTP was answered on the HTTPS port");
    // A client that does not trust the certificate is refused by curl.
    let out = Command::new("curl")
        .args(["-sS", &format!("{base}/healthz")])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn bad_tls_settings_stop_start_up_naming_the_key() {
    let tls = Tls::new();
    let addr = "127.0.0.1:0".parse().unwrap();
    let open = |toml: &str| {
        let mut c = stowage::config::Config::from_toml(toml).map_err(|e| e.to_string())?;
        let dir = tempfile::tempdir().unwrap();
        c.data_dir = dir.path().join("data");
        stowage::app::App::open(c, Arc::new(stowage::clock::SystemClock), addr)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let cert = tls.path("cert.pem");
    let key = tls.path("key.pem");
    for (toml, needle) in [
        (format!("tls_cert = \"{cert}\"\n"), "tls_key"),
        (
            format!("tls_cert = \"{cert}.missing\"\ntls_key = \"{key}\"\n"),
            "tls_cert",
        ),
        (
            format!("tls_cert = \"{key}\"\ntls_key = \"{key}\"\n"),
            "tls_cert",
        ),
        (
            format!("tls_cert = \"{cert}\"\ntls_key = \"{cert}\"\n"),
            "tls_key",
        ),
        (
            format!(
                "public_url = \"http://files.example\"\ntls_cert = \"{cert}\"\ntls_key = \"{key}\"\n"
            ),
            "public_url",
        ),
    ] {
        let e = open(&toml).unwrap_err();
        assert!(e.contains(needle), "{toml}: {e}");
        assert!(!e.contains("PRIVATE KEY"), "key material in an error: {e}");
    }
    assert!(open(&tls.toml()).is_ok());
}
