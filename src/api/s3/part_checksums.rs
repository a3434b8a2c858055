//! Multipart checksums on the S3 surface: `x-amz-checksum-algorithm` and
//! `x-amz-checksum-type` on CreateMultipartUpload (checked as AWS checks
//! them), a part's declared checksum against its upload's algorithm, the
//! `Checksum<ALG>` elements of CompleteMultipartUpload, and the names S3
//! prints them under.
//!
//! Must never compute or compare an object's checksum (the storage
//! service's `multipart_checksum` does), nor read a part's bytes.

use http::{HeaderMap, HeaderValue};

use super::object::header_str;
use crate::api::error::ApiError;
use crate::index::{MultipartChecksum, ObjectMeta};
use crate::sigv4::multipart_checksum::{supports_composite, supports_full_object};
use crate::sigv4::ChecksumAlgorithm;
use crate::storage::multipart_checksum::ChecksumRefusal;

/// The checksum a CreateMultipartUpload asks for, if any.
pub fn from_create(h: &HeaderMap) -> Result<Option<MultipartChecksum>, ApiError> {
    let alg = header_str(h, "x-amz-checksum-algorithm");
    let kind = header_str(h, "x-amz-checksum-type");
    let Some(alg) = alg else {
        if kind.is_some() {
            return Err(ApiError::InvalidRequest(
                "The x-amz-checksum-type header can only be used with the \
                 x-amz-checksum-algorithm header."
                    .into(),
            ));
        }
        return Ok(None);
    };
    let algorithm = ChecksumAlgorithm::from_name(alg).ok_or_else(|| {
        ApiError::InvalidRequest(format!(
            "Checksum algorithm provided is unsupported: '{}'; use CRC32, CRC32C, CRC64NVME, \
             SHA1 or SHA256",
            crate::api::query::shorten(alg)
        ))
    })?;
    // CRC-64/NVME is full-object only; the others default to composite.
    let full_object = match kind.map(str::to_ascii_uppercase).as_deref() {
        None => !supports_composite(algorithm),
        Some("FULL_OBJECT") => true,
        Some("COMPOSITE") => false,
        Some(other) => {
            return Err(ApiError::InvalidRequest(format!(
                "Value for x-amz-checksum-type header is invalid: '{}'; use COMPOSITE or \
                 FULL_OBJECT",
                crate::api::query::shorten(other)
            )))
        }
    };
    let fits = if full_object {
        supports_full_object(algorithm)
    } else {
        supports_composite(algorithm)
    };
    if !fits {
        return Err(ApiError::InvalidRequest(format!(
            "The {} checksum type cannot be used with the {} checksum algorithm.",
            type_name(full_object),
            algorithm.name().to_ascii_lowercase()
        )));
    }
    Ok(Some(MultipartChecksum {
        algorithm: algorithm.name().to_string(),
        full_object,
    }))
}

/// `COMPOSITE` or `FULL_OBJECT`.
pub fn type_name(full_object: bool) -> &'static str {
    if full_object {
        "FULL_OBJECT"
    } else {
        "COMPOSITE"
    }
}

/// The algorithm an upload (or the object it made) was created with.
pub fn algorithm(meta: &ObjectMeta) -> Option<ChecksumAlgorithm> {
    meta.multipart_checksum
        .as_ref()
        .and_then(|c| ChecksumAlgorithm::from_name(&c.algorithm))
}

/// `x-amz-checksum-algorithm` and `x-amz-checksum-type` of an upload or of
/// what it made.
pub fn set_headers(h: &mut HeaderMap, meta: &ObjectMeta) {
    if let Some(c) = &meta.multipart_checksum {
        if let Ok(v) = HeaderValue::from_str(&c.algorithm) {
            h.insert("x-amz-checksum-algorithm", v);
        }
        h.insert(
            "x-amz-checksum-type",
            HeaderValue::from_static(type_name(c.full_object)),
        );
    }
}

/// The `x-amz-checksum-type` of an object with a checksum: its upload's
/// type, or FULL_OBJECT for one stored whole.
pub fn object_type(meta: &ObjectMeta) -> &'static str {
    type_name(
        meta.multipart_checksum
            .as_ref()
            .is_none_or(|c| c.full_object),
    )
}

/// Refuses a part that declares a checksum of another algorithm than its
/// upload's, as AWS does.
pub fn check_part(h: &HeaderMap, upload: Option<ChecksumAlgorithm>) -> Result<(), ApiError> {
    let Some(want) = upload else { return Ok(()) };
    let sent = h
        .keys()
        .filter_map(|n| ChecksumAlgorithm::from_header_name(n.as_str()))
        .chain(
            header_str(h, "x-amz-trailer")
                .and_then(|t| ChecksumAlgorithm::from_header_name(t.trim())),
        )
        .find(|a| *a != want);
    match sent {
        Some(other) => Err(ApiError::InvalidRequest(format!(
            "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum \
             Type: {}",
            want.name().to_ascii_lowercase(),
            other.name().to_ascii_lowercase()
        ))),
        None => Ok(()),
    }
}

/// The XML element of a checksum: `ChecksumCRC32`, …
pub fn element(algorithm: &str) -> String {
    format!("Checksum{algorithm}")
}

/// The whole-object value a CompleteMultipartUpload carries
/// (`x-amz-checksum-<alg>`), if any.
pub fn whole_object(h: &HeaderMap) -> Option<(ChecksumAlgorithm, String)> {
    ChecksumAlgorithm::ALL
        .into_iter()
        .find_map(|a| header_str(h, a.header_name()).map(|v| (a, v.trim().to_string())))
}

/// AWS's answer to a completion whose checksums do not fit.
pub fn refusal(r: ChecksumRefusal) -> ApiError {
    match r {
        ChecksumRefusal::MissingPart { number, algorithm } => ApiError::InvalidRequest(format!(
            "The upload was created using a {} checksum. The complete request must include the \
             checksum for each part. It was missing for part {number} in the request.",
            algorithm.to_ascii_lowercase()
        )),
        ChecksumRefusal::PartMismatch { number } => ApiError::InvalidPart(format!(
            "One or more of the specified parts could not be found. The part may not have been \
             uploaded, or the specified entity tag may not match the part's entity tag: part \
             {number}'s checksum differs from the one it was uploaded with"
        )),
        ChecksumRefusal::ObjectMismatch { algorithm } => ApiError::BadDigest(format!(
            "The {algorithm} you specified for the whole object did not match the one computed \
             from its parts; nothing was stored, the upload stays open"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn create_headers_are_checked_as_aws_checks_them() {
        let c = |pairs: &[(&str, &str)]| from_create(&headers(pairs));
        assert_eq!(c(&[]).unwrap(), None);
        let crc = c(&[("x-amz-checksum-algorithm", "crc32")])
            .unwrap()
            .unwrap();
        assert_eq!((crc.algorithm.as_str(), crc.full_object), ("CRC32", false));
        let nvme = c(&[("x-amz-checksum-algorithm", "CRC64NVME")])
            .unwrap()
            .unwrap();
        assert!(nvme.full_object);
        let full = [
            ("x-amz-checksum-algorithm", "CRC32C"),
            ("x-amz-checksum-type", "FULL_OBJECT"),
        ];
        assert!(c(&full).unwrap().unwrap().full_object);
        for bad in [
            &[("x-amz-checksum-type", "COMPOSITE")][..],
            &[("x-amz-checksum-algorithm", "MD5")],
            &[
                ("x-amz-checksum-algorithm", "SHA256"),
                ("x-amz-checksum-type", "FULL_OBJECT"),
            ],
            &[
                ("x-amz-checksum-algorithm", "CRC64NVME"),
                ("x-amz-checksum-type", "COMPOSITE"),
            ],
            &[
                ("x-amz-checksum-algorithm", "CRC32"),
                ("x-amz-checksum-type", "WHOLE"),
            ],
        ] {
            assert!(
                matches!(c(bad), Err(ApiError::InvalidRequest(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_part_of_another_algorithm_is_refused() {
        let h = headers(&[("x-amz-checksum-sha256", "x")]);
        assert!(check_part(&h, Some(ChecksumAlgorithm::Crc32)).is_err());
        assert!(check_part(&h, None).is_ok());
        let h = headers(&[("x-amz-checksum-crc32", "x")]);
        assert!(check_part(&h, Some(ChecksumAlgorithm::Crc32)).is_ok());
        let h = headers(&[("x-amz-trailer", "x-amz-checksum-crc32c")]);
        assert!(check_part(&h, Some(ChecksumAlgorithm::Crc32)).is_err());
    }
}
