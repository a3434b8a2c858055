//! POST Object: HTML form uploads, the way a web page uploads straight to
//! S3. The form (multipart/form-data) carries a signed POST policy; its
//! fields are read first, the signature and every policy condition are
//! checked, then the file — the form's last field — is streamed, hashed and
//! verified like any PUT, its size held to the policy's
//! content-length-range. Nothing is stored unless all of it holds.
//!
//! Signature and policy logic is pure and lives in
//! [`crate::sigv4::post_policy`]; this file owns reading the form and the
//! answer (`success_action_redirect`, `success_action_status`).

use http::request::Parts;
use http::{header, HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::bucket;
use super::form_deadline::BodyDeadline;
use super::object::{meta_from, store_object};
use super::router::{S3Request, MAX_KEY_LEN};
use super::xml::Xml;
use crate::api::body::{empty, xml_response};
use crate::api::body::{full, Body};
use crate::api::error::ApiError;
use crate::api::ingest::receive_stream;
use crate::api::sigauth::Principal;
use crate::app::App;
use crate::index::{ObjectMeta, ObjectRecord};
use crate::sigv4::post_policy::{parse_policy, post_key_id, verify_post_signature, PolicyError};
use crate::sigv4::ChecksumAlgorithm;
use crate::storage::objects::WriteCondition;

/// Largest value of one form field, and of all fields before the file
/// (S3 allows 20 KB of form fields before the file).
const MAX_FIELD: usize = 20 * 1024;
const MAX_FIELDS_TOTAL: usize = 64 * 1024;

fn malformed(why: &str) -> ApiError {
    ApiError::MalformedPost(format!(
        "The body of your POST request is not well-formed multipart/form-data: {why}"
    ))
}

fn policy_error(e: PolicyError) -> ApiError {
    match e {
        PolicyError::Invalid(_) => ApiError::InvalidPolicyDocument(e.to_string()),
        _ => ApiError::AccessDenied(e.to_string()),
    }
}

/// Handles a form upload to the bucket of the request's path
/// (authenticated by the form).
pub async fn post_object(
    app: &App,
    req: &S3Request,
    parts: &Parts,
    body: Incoming,
) -> Result<Response<Body>, ApiError> {
    let bucket_name = req.bucket.as_str();
    let boundary = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(|| malformed("the Content-Type has no boundary"))?;
    // Read before anyone is authenticated: held to a deadline until the
    // signature verifies.
    let deadline = BodyDeadline::new(&app.config.limits);
    let stream = deadline.until_signed(body.into_data_stream());
    // A field that could not be read because the deadline cut it off is
    // the client's slowness, not a malformed form.
    let unreadable = |e: multer::Error| {
        if deadline.expired() {
            deadline.refusal()
        } else {
            malformed(&e.to_string())
        }
    };
    // Fields are held to their limit as they are read (a huge field is
    // refused, not buffered); the file is streamed and has none here.
    let limits = multer::SizeLimit::new()
        .per_field(MAX_FIELD as u64)
        .for_field("file", u64::MAX);
    let mut form = multer::Multipart::with_constraints(
        stream,
        boundary,
        multer::Constraints::new().size_limit(limits),
    );

    // The fields before the file, names lowercased (S3 matches them without
    // regard to case).
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut total = 0usize;
    let file = loop {
        let Some(field) = form.next_field().await.map_err(unreadable)? else {
            return Err(ApiError::InvalidArgument(
                "POST requires exactly one file upload per request: the form has no field \
                 named 'file' (it must be the last field)"
                    .into(),
            ));
        };
        let name = field.name().unwrap_or("").to_ascii_lowercase();
        if name == "file" {
            break field;
        }
        let value = field.text().await.map_err(unreadable)?;
        total += name.len() + value.len();
        if value.len() > MAX_FIELD || total > MAX_FIELDS_TOTAL {
            return Err(ApiError::MalformedPost(format!(
                "Your POST request fields preceding the upload file were too large: at most \
                 {MAX_FIELD} bytes a field, {MAX_FIELDS_TOTAL} in all"
            )));
        }
        if fields.iter().any(|(n, _)| *n == name) {
            return Err(ApiError::InvalidArgument(format!(
                "the form has the field '{name}' twice"
            )));
        }
        fields.push((name, value));
    };

    // Who signed it, and does the form meet its policy.
    let secret = app.secret_for(post_key_id(&fields)).await;
    let auth = verify_post_signature(&fields, |k| secret.secret_for(k), &app.config.s3.region)?;
    // Verified: the rest of the form (the file) may take its time.
    deadline.signed();
    let who = Principal::Key(auth.access_key_id.clone());
    // The bucket is the path's, always: a form cannot name another one (a
    // policy signed for that other bucket would otherwise let it write
    // into this one).
    if let Some((_, named)) = fields.iter().find(|(n, _)| n == "bucket") {
        if named != bucket_name {
            return Err(ApiError::InvalidArgument(format!(
                "the form's bucket field names '{named}', but the form was posted to bucket \
                 '{bucket_name}': a form uploads into the bucket of its URL; post it there or \
                 leave the field out. Nothing was stored."
            )));
        }
    }
    let policy = parse_policy(&auth.policy_b64).map_err(policy_error)?;
    let filename = file.file_name().unwrap_or("").to_string();
    let key = fields
        .iter()
        .find(|(n, _)| n == "key")
        .map(|(_, v)| v.replace("${filename}", &filename))
        .ok_or_else(|| {
            ApiError::InvalidArgument("Bucket POST must contain a field named 'key'.".into())
        })?;
    // Conditions are checked against the fields as sent, `key` with its
    // `${filename}` filled in (as S3 does), and the bucket posted to (the
    // only `bucket` the policy sees).
    let mut checked: Vec<(String, String)> = fields
        .iter()
        .filter(|(n, _)| n != "bucket")
        .map(|(n, v)| {
            let v = if n == "key" { key.clone() } else { v.clone() };
            (n.clone(), v)
        })
        .collect();
    checked.push(("bucket".into(), bucket_name.to_string()));
    let range = policy
        .check(&checked, app.clock.now())
        .map_err(policy_error)?;
    if key.is_empty() {
        return Err(ApiError::InvalidArgument(
            "the key field is empty; name the object to store".into(),
        ));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(ApiError::KeyTooLong);
    }
    bucket::require(app, bucket_name).await?;

    // Headers the object keeps, from the fields that are headers.
    let mut headers = HeaderMap::new();
    for (n, v) in &fields {
        let keep = n.starts_with("x-amz-meta-")
            || matches!(
                n.as_str(),
                "content-type"
                    | "cache-control"
                    | "content-disposition"
                    | "content-encoding"
                    | "content-language"
                    | "expires"
            );
        // A form's canned ACL is its `acl` field.
        let name = if n == "acl" { "x-amz-acl" } else { n.as_str() };
        if keep || n == "acl" {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                headers.insert(name, value);
            }
        }
    }
    // Authorized for the key the form names, before any byte of the file
    // is read.
    let form_acl = super::router::AclHeader::read(&headers).canned()?;
    super::authz::authorize_form(app, &who, req, parts, &key, form_acl).await?;
    let mut meta = meta_from(&headers, app.now_unix(), form_acl)?;
    // A form's tags are a Tagging document, as AWS takes them (not the
    // x-amz-tagging header's query form).
    if let Some((_, doc)) = fields.iter().find(|(n, _)| n == "tagging") {
        meta.tags = super::tagging::from_xml(doc.as_bytes())?;
    }
    let declared: Vec<(ChecksumAlgorithm, String)> = fields
        .iter()
        .filter_map(|(n, v)| {
            ChecksumAlgorithm::from_header_name(n).map(|a| (a, v.trim().to_string()))
        })
        .collect();

    super::object::precheck_written_once(app, bucket_name, &key).await?;
    let received = receive_stream(app, file, range, declared).await?;
    let digest = received.sha256();
    let blob = received.blob;
    let payload = received.payload;
    let etag = blob.md5.map(hex::encode).unwrap_or_default();
    let record = ObjectRecord {
        version_id: crate::index::NULL_VERSION.into(),
        bucket: bucket_name.to_string(),
        key: key.clone(),
        sha256: digest,
        size: blob.size,
        etag: etag.clone(),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("binary/octet-stream")
            .to_string(),
        meta: ObjectMeta {
            checksums: received.checksums.clone(),
            ..meta
        },
        last_modified: app.now_unix(),
    };
    let (version_id, _) = store_object(app, payload, record, blob, WriteCondition::Always).await?;
    // Drain whatever follows the file (a submit button's field).
    while let Ok(Some(_)) = form.next_field().await {}
    let mut r = answer(app, &fields, bucket_name, &key, &etag)?;
    if let Some(v) = version_id {
        super::versioning::set_version_id(r.headers_mut(), &v);
    }
    Ok(r)
}

/// The answer S3 gives a stored form upload: a 303 to
/// `success_action_redirect` (with bucket, key and etag), else the status
/// `success_action_status` asks for (201 with an XML body, 200 empty), else
/// 204.
fn answer(
    app: &App,
    fields: &[(String, String)],
    bucket_name: &str,
    key: &str,
    etag: &str,
) -> Result<Response<Body>, ApiError> {
    let get = |n: &str| fields.iter().find(|(f, _)| f == n).map(|(_, v)| v.as_str());
    let quoted = format!("\"{etag}\"");
    let location = format!(
        "{}/{bucket_name}/{}",
        app.public_url.base,
        crate::sigv4::encode::uri_encode(key, false)
    );
    let redirect = get("success_action_redirect")
        .or_else(|| get("redirect"))
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"));
    let mut r = if let Some(url) = redirect {
        let enc = |s: &str| crate::sigv4::encode::uri_encode(s, true);
        let sep = if url.contains('?') { '&' } else { '?' };
        let target = format!(
            "{url}{sep}bucket={}&key={}&etag={}",
            enc(bucket_name),
            enc(key),
            enc(&quoted)
        );
        let mut r = Response::new(full(""));
        *r.status_mut() = StatusCode::SEE_OTHER;
        if let Ok(v) = HeaderValue::from_str(&target) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        r
    } else {
        match get("success_action_status") {
            Some("201") => {
                let mut x = Xml::new("PostResponse");
                x.elem("Location", &location)
                    .elem("Bucket", bucket_name)
                    .elem("Key", key)
                    .elem("ETag", &quoted);
                xml_response(StatusCode::CREATED, x.finish("PostResponse"))
            }
            Some("200") => empty(StatusCode::OK),
            _ => empty(StatusCode::NO_CONTENT),
        }
    };
    if let Ok(v) = HeaderValue::from_str(&quoted) {
        r.headers_mut().insert(header::ETAG, v);
    }
    if r.status() != StatusCode::SEE_OTHER {
        if let Ok(v) = HeaderValue::from_str(&location) {
            r.headers_mut().insert(header::LOCATION, v);
        }
    }
    Ok(r)
}
