//! Step 3 of SigV4: the credentials, deriving the signing key and producing signatures with it.
//!
//! Owns: [`Credentials`] and [`SigningKey`] (both with a redacting `Debug`), the HMAC-SHA256 chain
//! `AWS4<secret>` → date → region → service → `aws4_request`, and the final HMAC over the
//! string to sign.
//! Must never: log, format or return the secret or a derived key in any error or `Debug`
//! output, or compare signatures (comparison is the verifier's job, in constant time).

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// An access key pair. `Debug` prints the secret as `***` so credentials can sit inside
/// structs that get logged.
#[derive(Clone)]
pub struct Credentials {
    /// Public key id, sent in `X-Amz-Credential`.
    pub access_key_id: String,
    /// Secret key; only ever used as HMAC key material.
    pub secret_access_key: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .finish()
    }
}

/// The secret of the one access key a request claims, looked up by the caller before the
/// (pure) verification, with the key id the claim functions read (e.g.
/// [`presigned_key_id`](super::verify::presigned_key_id)). It answers the verifiers'
/// `secret_for` for that key only: a verifier that reads another key from the request finds no
/// secret (`InvalidAccessKeyId`), never this one. No `Debug`: it holds a secret.
#[derive(Clone, Default)]
pub struct ClaimedSecret(Option<(String, String)>);

impl ClaimedSecret {
    /// The secret of key `access_key_id`.
    pub fn known(access_key_id: &str, secret: String) -> Self {
        ClaimedSecret(Some((access_key_id.to_owned(), secret)))
    }

    /// The verifiers' `secret_for`: the secret, if `access_key_id` is the key it belongs to.
    pub fn secret_for(&self, access_key_id: &str) -> Option<String> {
        self.0
            .as_ref()
            .filter(|(id, _)| id == access_key_id)
            .map(|(_, secret)| secret.clone())
    }
}

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC is defined for keys of any length (long keys are hashed first), so this constructor
    // cannot fail; the Result exists only because the `KeyInit` trait is shared with ciphers.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// SigV4 signing key for one day, region and service.
///
/// `yyyymmdd` is the date part of the credential scope (e.g. `20130524`).
pub fn signing_key(secret: &str, yyyymmdd: &str, region: &str, service: &str) -> [u8; 32] {
    let mut k_secret = Vec::with_capacity(4 + secret.len());
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret.as_bytes());
    let k_date = hmac_sha256(&k_secret, yyyymmdd.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// A derived SigV4 signing key for one day/region/service, kept opaque so it can travel from
/// header verification to the `aws-chunked` decoder without ever being printed.
///
/// `Debug` prints `SigningKey(***)`; there is no `Display`, no equality and no accessor outside
/// this module tree.
#[derive(Clone)]
pub struct SigningKey([u8; 32]);

impl SigningKey {
    /// Derives the key exactly as [`signing_key`] does.
    pub fn derive(secret: &str, yyyymmdd: &str, region: &str, service: &str) -> Self {
        SigningKey(signing_key(secret, yyyymmdd, region, service))
    }

    /// Lowercase hex HMAC-SHA256 of `string_to_sign` under this key.
    pub fn sign(&self, string_to_sign: &str) -> String {
        signature(&self.0, string_to_sign)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

/// The raw signature bytes: HMAC-SHA256 of the string to sign under the signing key.
pub fn signature_bytes(signing_key: &[u8; 32], string_to_sign: &str) -> [u8; 32] {
    hmac_sha256(signing_key, string_to_sign.as_bytes())
}

/// The signature as it travels: lowercase hex of [`signature_bytes`].
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(signature_bytes(signing_key, string_to_sign))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_key_matches_aws_documented_example() {
        // From "Examples of how to derive a signing key for Signature Version 4" (AWS docs).
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn debug_redacts_secret() {
        let creds = Credentials {
            access_key_id: "AKID".into(),
            secret_access_key: "super-secret".into(),
        };
        let shown = format!("{creds:?}");
        assert!(shown.contains("AKID") && shown.contains("***"), "{shown}");
        assert!(!shown.contains("super-secret"), "{shown}");
    }

    #[test]
    fn signing_key_newtype_signs_and_redacts() {
        let raw = signing_key("secret", "20130524", "us-east-1", "s3");
        let key = SigningKey::derive("secret", "20130524", "us-east-1", "s3");
        assert_eq!(key.sign("abc"), signature(&raw, "abc"));
        assert_eq!(format!("{key:?}"), "SigningKey(***)");
    }

    #[test]
    fn hmac_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
