//! Continuation tokens of S3 listings (ListObjectsV2, ListBuckets): the
//! last name a page gave, opaque to clients.
//!
//! Must never: let a token name anything but where the next page starts
//! (it is read as a name to list after, never as a key to fetch).

use base64::Engine as _;

use crate::api::error::ApiError;

/// The token of a page whose last name was `last`.
pub fn encode_token(last: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(last)
}

/// The last name a token names; S3's InvalidArgument for one this
/// gateway did not make.
pub fn decode_token(token: &str) -> Result<String, ApiError> {
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            ApiError::InvalidArgument("The continuation token provided is incorrect".into())
        })
}
