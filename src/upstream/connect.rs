//! The one way this crate opens HTTP(S) connections as a client: TCP with
//! a connect timeout, then TLS (rustls, ring) trusting the system's roots
//! plus any extra CA certificates (PEM) the operator names — for an S3
//! store or a gateway with a private or self-signed certificate.
//!
//! Shared by the S3 client ([`super::Client`]) and the command-line client
//! (`client/http.rs`). Must never: skip certificate verification, or read
//! anything but the named CA file.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use tokio_rustls::rustls;

/// A connector for `http://` and `https://` URLs alike.
pub type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// A connector trusting the system's roots and the certificates in
/// `ca_file` (PEM), giving up on a TCP connect after `connect_timeout`.
/// The error names the file and what is wrong with it.
pub fn connector(ca_file: Option<&Path>, connect_timeout: Duration) -> Result<Connector, String> {
    // The system's roots even for an http:// endpoint: a redirect or a
    // presigned URL may well point at https.
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        use rustls_pki_types::pem::PemObject;
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let mut any = false;
        for cert in certs {
            let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: not a usable CA ({e})", path.display()))?;
            any = true;
        }
        if !any {
            return Err(format!(
                "{}: holds no certificate (expected PEM `BEGIN CERTIFICATE` blocks)",
                path.display()
            ));
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS set-up failed: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_connect_timeout(Some(connect_timeout));
    tcp.set_nodelay(true);
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.pem");
        let e = connector(Some(&missing), Duration::from_secs(1)).unwrap_err();
        assert!(e.contains("none.pem"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = connector(Some(&empty), Duration::from_secs(1)).unwrap_err();
        assert!(e.contains("holds no certificate"), "{e}");
        assert!(connector(None, Duration::from_secs(1)).is_ok());
    }
}
