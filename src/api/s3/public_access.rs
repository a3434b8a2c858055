//! PublicAccessBlock on the S3 surface: Put/Get/DeletePublicAccessBlock of
//! a bucket. What each setting blocks is decided in `authz/` (ACLs,
//! policies' Allows) and in `policy.rs` (a public policy refused).
//!
//! Must never: read a setting it was not sent as `true` (AWS takes a
//! missing one as false).

use http::request::Parts;
use http::{Response, StatusCode};
use hyper::body::Incoming;

use super::bucket;
use super::xml::{self, Xml, XmlEvent};
use crate::api::body::{empty, xml_response, Body};
use crate::api::error::ApiError;
use crate::app::App;
use crate::storage::policy::PublicAccessBlock;

/// Largest PutPublicAccessBlock body read.
const MAX_BODY: usize = 4096;

const ROOT: &str = "PublicAccessBlockConfiguration";

fn parse(body: &[u8]) -> Result<PublicAccessBlock, ApiError> {
    let mut pab = PublicAccessBlock::default();
    let mut root = false;
    xml::read(body, |event| {
        match event {
            XmlEvent::Text { element, text } => {
                let on = match text.trim() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(xml::malformed(&format!("{element} is true or false"))),
                };
                match element {
                    "BlockPublicAcls" => pab.block_public_acls = on,
                    "IgnorePublicAcls" => pab.ignore_public_acls = on,
                    "BlockPublicPolicy" => pab.block_public_policy = on,
                    "RestrictPublicBuckets" => pab.restrict_public_buckets = on,
                    _ => {}
                }
            }
            XmlEvent::End { element } if element == ROOT => root = true,
            _ => {}
        }
        Ok(())
    })?;
    if !root {
        return Err(xml::malformed(
            "the body is not a PublicAccessBlockConfiguration document",
        ));
    }
    Ok(pab)
}

/// PutPublicAccessBlock.
pub async fn put(
    app: &App,
    parts: &Parts,
    body: Incoming,
    bucket_name: &str,
) -> Result<Response<Body>, ApiError> {
    let xml =
        bucket::read_xml_for(app, parts, body, bucket_name, MAX_BODY, "PublicAccessBlock").await?;
    let pab = parse(&xml)?;
    if !app
        .storage
        .set_public_access_block(bucket_name, Some(pab))
        .await?
    {
        return Err(bucket::no_such_bucket(bucket_name));
    }
    Ok(empty(StatusCode::OK))
}

/// GetPublicAccessBlock.
pub async fn get(app: &App, bucket_name: &str) -> Result<Response<Body>, ApiError> {
    let pab = match app.storage.public_access_block(bucket_name).await? {
        None => return Err(bucket::no_such_bucket(bucket_name)),
        Some(None) => return Err(ApiError::NoSuchPublicAccessBlockConfiguration),
        Some(Some(p)) => p,
    };
    let b = |on: bool| if on { "true" } else { "false" };
    let mut x = Xml::new(ROOT);
    x.elem("BlockPublicAcls", b(pab.block_public_acls))
        .elem("IgnorePublicAcls", b(pab.ignore_public_acls))
        .elem("BlockPublicPolicy", b(pab.block_public_policy))
        .elem("RestrictPublicBuckets", b(pab.restrict_public_buckets));
    Ok(xml_response(StatusCode::OK, x.finish(ROOT)))
}

/// DeletePublicAccessBlock: 204 whether or not there was one.
pub async fn delete(app: &App, bucket_name: &str) -> Result<Response<Body>, ApiError> {
    if !app
        .storage
        .set_public_access_block(bucket_name, None)
        .await?
    {
        return Err(bucket::no_such_bucket(bucket_name));
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_left_out_are_false() {
        let doc = b"<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls>\
                    <RestrictPublicBuckets>false</RestrictPublicBuckets>\
                    </PublicAccessBlockConfiguration>";
        assert_eq!(
            parse(doc).unwrap(),
            PublicAccessBlock {
                block_public_acls: true,
                ..PublicAccessBlock::default()
            }
        );
        assert!(parse(b"<PublicAccessBlockConfiguration><BlockPublicAcls>yes</BlockPublicAcls></PublicAccessBlockConfiguration>").is_err());
        assert!(parse(b"<Other/>").is_err());
    }
}
