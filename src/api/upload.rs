//! `POST /api/inspect/v1/file/upload/presigned` and `…/upload/complete`.
//!
//! Owns validation of what a client declares (every field checked, every
//! error naming the field) and the answers 201 / 200 / 409. It never stores
//! bytes: those arrive through the presigned URL (`presigned.rs`). 200
//! ("already stored") is said only of intact bytes the upload API itself
//! holds as a file; whether that is so is the storage service's decision
//! (`Storage::presign`), in the transaction that records the declaration.
//!
//! The scope `upload` lets a client send files, not read them: its answers
//! never carry what only `read` shows (another declaration's size or type,
//! a stored file's name, hash or download URL). Ids are not secrets (the
//! client derives them from a file's hash, size and name), so an upload
//! token may well hold the id of a file it never sent.

use base64::Engine;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::{auth, files, json, parts, presigned, ApiError, Body, MAX_JSON_BODY};
use crate::app::App;
use crate::index::{Declared, FileRecord};
use crate::storage::files::{CompleteOutcome, PresignOutcome};
use crate::store::Digest;
use crate::tokens;

/// Longest file name accepted, in bytes (common filesystem limit).
const MAX_FILE_NAME: usize = 255;

pub async fn presign(app: &App, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (d, (), outcome) = declare(app, req, |_, _| Ok(())).await?;
    match outcome {
        Declaration::NeedsUpload => {
            let url = presigned::presign_put_url(app, &d, app.clock.now());
            Ok(json(
                StatusCode::CREATED,
                serde_json::json!({"data": {"presignedURL": url, "id": d.id.to_string()}}),
            ))
        }
        Declaration::AlreadyStored => Ok(already_stored(&d)),
    }
}

/// What a recorded declaration asks of the client.
pub enum Declaration {
    /// Send the bytes.
    NeedsUpload,
    /// Intact bytes are stored for this id: send nothing.
    AlreadyStored,
}

/// The 200 that tells a client these bytes are stored: send nothing.
pub fn already_stored(d: &Declared) -> Response<Body> {
    json(
        StatusCode::OK,
        serde_json::json!({"data": {"id": d.id.to_string()}}),
    )
}

/// What presign and the part-wise upload share: the `upload` scope, the
/// per-token rate, every declared field checked, room on disk (the storage
/// service's check), and the declaration recorded (or found already
/// stored; a conflict is the 409).
/// `extra` reads the caller's own fields, before anything is recorded.
pub async fn declare<T>(
    app: &App,
    req: Request<Incoming>,
    extra: impl FnOnce(&Map<String, Value>, &Declared) -> Result<T, ApiError>,
) -> Result<(Declared, T, Declaration), ApiError> {
    let (parts, body) = req.into_parts();
    let record = auth::require_token(app, &parts, "upload").await?;
    let may_read = tokens::allows(&record.scopes, "read");
    let token = record.name;
    if let Err(retry_after) = app.presign_throttle.take(&token, std::time::Instant::now()) {
        return Err(ApiError::TooManyRequests {
            message: format!(
                "token '{token}' asked for more than {} upload URLs per second; \
                 retry after {retry_after} s",
                app.config.limits.presign_per_token_per_sec
            ),
            retry_after,
        });
    }
    let obj = read_json_object(body).await?;
    let d = parse_declared(&obj, app.config.upload.max_size)?;
    let own = extra(&obj, &d)?;

    let now = app.clock.now();
    let url_expires_at = now.unix_timestamp() + app.config.upload.presign_expiry_secs as i64;
    let outcome = match app
        .storage
        .presign(&d, url_expires_at, app.config.upload.dedupe)
        .await?
    {
        PresignOutcome::NeedsUpload => Declaration::NeedsUpload,
        PresignOutcome::AlreadyStored => Declaration::AlreadyStored,
        PresignOutcome::Occupied => return Err(ApiError::Conflict(occupied(app, &d.id))),
        PresignOutcome::Redeclared(existing) => {
            return Err(ApiError::Conflict(redeclared(&existing, &d, may_read)))
        }
    };
    Ok((d, own, outcome))
}

/// The refusal of a declaration under an id whose key holds an object the
/// upload API did not write.
fn occupied(app: &App, id: &Uuid) -> String {
    format!(
        "id {id} is already used by an object written through the S3 API (bucket '{}', \
         key '{id}'), which the upload API never replaces; nothing was changed. Upload the \
         file under a new id",
        app.config.s3.bucket
    )
}

/// The refusal of a declaration under an id already declared for another
/// file. Only a client that may read files (and could look this one up)
/// is told how the stored declaration differs; to an upload-only client
/// the answer says nothing of a file it may never have seen.
fn redeclared(existing: &FileRecord, d: &Declared, may_read: bool) -> String {
    let id = d.id;
    if !may_read {
        return format!(
            "id {id} is already declared for another file (a different hash, size or \
             contentType); nothing was changed. Use a new id for a different file"
        );
    }
    let mut diffs = Vec::new();
    if existing.sha256 != d.sha256 {
        diffs.push("hash".to_string());
    }
    if existing.size != d.size {
        diffs.push(format!("size (stored {})", existing.size));
    }
    if existing.content_type != d.content_type {
        diffs.push(format!("contentType (stored '{}')", existing.content_type));
    }
    format!(
        "id {id} is already used for a file with a different {}; nothing was changed. Use \
         a new id for a different file",
        diffs.join(", ")
    )
}

/// `POST …/upload/complete`: 200 once the file is stored and completed.
/// The answer is the file's record (with its download URL) for a token
/// that may read files; for an upload-only token, only the id and status:
/// completing an id must not become a way to read the file behind it.
pub async fn complete(app: &App, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (parts, body) = req.into_parts();
    let token = auth::require_token(app, &parts, "upload").await?;
    let may_read = tokens::allows(&token.scopes, "read");
    let answer = |rec: &FileRecord| {
        let data = if may_read {
            files::record_json(app, rec)
        } else {
            files::receipt_json(rec)
        };
        json(StatusCode::OK, serde_json::json!({ "data": data }))
    };
    let obj = read_json_object(body).await?;
    let id = parse_id(&obj)?;
    match app.storage.complete_file(id).await? {
        CompleteOutcome::Completed(rec) => Ok(answer(&rec)),
        CompleteOutcome::NotFound => Err(ApiError::NotFound(format!(
            "no file with id {id}; request a presigned URL for it first"
        ))),
        CompleteOutcome::NotUploaded => Err(ApiError::Conflict(format!(
            "no verified bytes have arrived for id {id} yet; PUT the file to its presigned URL \
             (ask for a new one if it expired), then call complete again"
        ))),
        CompleteOutcome::Parts(why) => Err(parts::refusal(app, &id, why)),
    }
}

/// Reads at most [`MAX_JSON_BODY`] bytes and parses a JSON object.
pub async fn read_json_object(body: Incoming) -> Result<Map<String, Value>, ApiError> {
    let bytes = Limited::new(body, MAX_JSON_BODY)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::PayloadTooLarge(format!(
                    "the request body is larger than {MAX_JSON_BODY} bytes; send only the JSON fields"
                ))
            } else {
                ApiError::BadRequest("the request body could not be read completely".into())
            }
        })?
        .to_bytes();
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body is not valid JSON ({e}); send a JSON object"
        ))
    })?;
    match value {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::BadRequest(
            "the body must be a JSON object, e.g. {\"id\": \"…\"}".into(),
        )),
    }
}

fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a Value, ApiError> {
    obj.get(name)
        .ok_or_else(|| ApiError::BadRequest(format!("field `{name}` is missing")))
}

fn string_field<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, ApiError> {
    field(obj, name)?
        .as_str()
        .ok_or_else(|| ApiError::BadRequest(format!("field `{name}` must be a string")))
}

fn parse_id(obj: &Map<String, Value>) -> Result<Uuid, ApiError> {
    let s = string_field(obj, "id")?;
    // Only the hyphenated form; either case, normalised to lowercase, so
    // one id has one spelling everywhere after this point.
    Uuid::try_parse(s)
        .ok()
        .filter(|_| s.len() == 36)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "field `id` must be a UUID like 0f8fad5b-d9cb-469f-a165-70867728950e, got '{}'",
                truncate(s, 64)
            ))
        })
}

/// Validates every declared field; errors name the field and the fix.
pub fn parse_declared(obj: &Map<String, Value>, max_size: u64) -> Result<Declared, ApiError> {
    let id = parse_id(obj)?;

    let content_type = string_field(obj, "contentType")?.trim();
    if !valid_mime(content_type) {
        return Err(ApiError::BadRequest(format!(
            "field `contentType` must be a MIME type like image/png, got '{}'",
            truncate(content_type, 64)
        )));
    }

    let hash_b64 = string_field(obj, "hash")?;
    let sha256 = base64::engine::general_purpose::STANDARD
        .decode(hash_b64)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(Digest)
        .ok_or_else(|| {
            ApiError::BadRequest(
                "field `hash` must be the standard base64 of the file's 32-byte SHA-256 \
                 (e.g. `openssl dgst -sha256 -binary f.png | base64`)"
                    .into(),
            )
        })?;

    let name_key = if obj.contains_key("fileName") {
        "fileName"
    } else if obj.contains_key("name") {
        "name"
    } else {
        return Err(ApiError::BadRequest(
            "field `fileName` is missing (`name` is accepted too)".into(),
        ));
    };
    let file_name = string_field(obj, name_key)?;
    if file_name.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "field `{name_key}` must not be empty"
        )));
    }
    if file_name.len() > MAX_FILE_NAME {
        return Err(ApiError::BadRequest(format!(
            "field `{name_key}` is {} bytes long; at most {MAX_FILE_NAME} are allowed",
            file_name.len()
        )));
    }
    if file_name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "field `{name_key}` must not contain control characters"
        )));
    }

    let size_v = field(obj, "size")?;
    let size = match size_v.as_u64() {
        Some(n) => n,
        None if size_v.as_i64().is_some() => {
            return Err(ApiError::BadRequest(
                "field `size` must not be negative".into(),
            ))
        }
        None => {
            return Err(ApiError::BadRequest(
                "field `size` must be a whole number of bytes".into(),
            ))
        }
    };
    if size > max_size {
        return Err(ApiError::BadRequest(format!(
            "field `size` is {size} bytes; this gateway accepts at most {max_size} bytes per file"
        )));
    }
    if size == 0 && sha256.0 != <[u8; 32]>::from(Sha256::digest([])) {
        return Err(ApiError::BadRequest(
            "field `hash` is not the SHA-256 of an empty file, but `size` is 0".into(),
        ));
    }

    Ok(Declared {
        id,
        file_name: file_name.to_string(),
        content_type: content_type.to_string(),
        size,
        sha256,
    })
}

/// `type/subtype` with RFC 6838 restricted names, optionally followed by
/// `; parameters` (kept verbatim, since the PUT must send the same header).
fn valid_mime(s: &str) -> bool {
    let essence = s.split(';').next().unwrap_or("").trim();
    let Some((ty, sub)) = essence.split_once('/') else {
        return false;
    };
    let restricted = |n: &str| {
        (1..=127).contains(&n.len())
            && n.as_bytes()[0].is_ascii_alphanumeric()
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    restricted(ty)
        && restricted(sub)
        && s.parse::<mime::Mime>().is_ok()
        && s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

fn truncate(s: &str, max: usize) -> String {
    let cut: String = s.chars().take(max).collect();
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Map<String, Value> {
        serde_json::json!({
            "id": "0f8fad5b-d9cb-469f-a165-70867728950e",
            "contentType": "image/png",
            "hash": base64::engine::general_purpose::STANDARD.encode([1u8; 32]),
            "fileName": "photo.png",
            "size": 12345
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn err_for(key: &str, v: Value) -> String {
        let mut o = base();
        o.insert(key.into(), v);
        match parse_declared(&o, 1 << 20) {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("{key}: expected BadRequest, got {other:?}"),
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        assert!(err_for("id", "not-a-uuid".into()).contains("`id`"));
        assert!(err_for("id", "0f8fad5bd9cb469fa16570867728950e".into()).contains("`id`"));
        assert!(err_for("contentType", "png".into()).contains("`contentType`"));
        assert!(err_for("contentType", "image/".into()).contains("`contentType`"));
        assert!(err_for("hash", "AAAA".into()).contains("`hash`"));
        assert!(err_for("hash", 5.into()).contains("`hash`"));
        assert!(err_for("fileName", "".into()).contains("`fileName`"));
        assert!(err_for("fileName", "a\nb".into()).contains("control"));
        assert!(err_for("fileName", "x".repeat(256).into()).contains("255"));
        assert!(err_for("size", (-1).into()).contains("negative"));
        assert!(err_for("size", 1.5.into()).contains("whole"));
        assert!(err_for("size", (2u64 << 20).into()).contains("at most"));
        let mut o = base();
        o.remove("size");
        assert!(
            matches!(parse_declared(&o, 10), Err(ApiError::BadRequest(m)) if m.contains("`size` is missing"))
        );
    }

    #[test]
    fn name_is_an_alias_and_parameters_are_kept() {
        let mut o = base();
        let n = o.remove("fileName").unwrap();
        o.insert("name".into(), n);
        o.insert("contentType".into(), "text/plain; charset=utf-8".into());
        let d = parse_declared(&o, 1 << 20).unwrap();
        assert_eq!(d.file_name, "photo.png");
        assert_eq!(d.content_type, "text/plain; charset=utf-8");
    }

    use proptest::prelude::*;

    const MAX: u64 = 1 << 30;
    const FIELDS: [&str; 5] = ["id", "contentType", "hash", "fileName", "size"];

    /// Any JSON value, nested a few levels.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::from),
            "[0-9a-fA-F-]{30,40}".prop_map(Value::from),
            "[A-Za-z0-9+/=]{40,48}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map(any::<String>(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A declaration every field of which is valid.
    fn valid() -> impl Strategy<Value = Map<String, Value>> {
        (
            any::<u128>(),
            any::<bool>(),
            "[a-z0-9][a-z0-9.+-]{0,10}/[a-z0-9][a-z0-9.+-]{0,10}(; ?charset=utf-8)?",
            "[ ]{0,2}",
            any::<[u8; 32]>(),
            "[^\\x00-\\x1f\\x7f-\\x9f]{1,60}",
            any::<bool>(),
            1..=MAX,
        )
            .prop_map(|(id, upper, ct, pad, hash, name, alias, size)| {
                let id = uuid::Uuid::from_u128(id).hyphenated().to_string();
                let id = if upper { id.to_uppercase() } else { id };
                let mut o = Map::new();
                o.insert("id".into(), id.into());
                o.insert("contentType".into(), format!("{pad}{ct}{pad}").into());
                o.insert(
                    "hash".into(),
                    base64::engine::general_purpose::STANDARD
                        .encode(hash)
                        .into(),
                );
                o.insert(if alias { "name" } else { "fileName" }.into(), name.into());
                o.insert("size".into(), size.into());
                o
            })
    }

    /// What must hold of anything accepted.
    fn check_accepted(o: &Map<String, Value>, d: &Declared) -> Result<(), TestCaseError> {
        prop_assert_eq!(
            d.id.hyphenated().to_string(),
            o["id"].as_str().unwrap_or("").to_lowercase()
        );
        prop_assert!(valid_mime(&d.content_type), "{:?}", d.content_type);
        prop_assert!(!d.file_name.is_empty() && d.file_name.len() <= MAX_FILE_NAME);
        prop_assert!(
            !d.file_name.chars().any(char::is_control),
            "{:?}",
            d.file_name
        );
        // The name reaches a download's Content-Disposition header intact
        // and unable to end or extend it.
        let cd = crate::headers::content_disposition(&d.file_name);
        prop_assert!(http::HeaderValue::from_str(&cd).is_ok(), "{:?}", cd);
        prop_assert!(cd.bytes().all(|b| (0x20..0x7f).contains(&b)), "{:?}", cd);
        prop_assert!(d.size <= MAX);
        prop_assert_eq!(Some(d.size), o["size"].as_u64());
        prop_assert!(d.size > 0 || d.sha256.0 == <[u8; 32]>::from(Sha256::digest([])));
        Ok(())
    }

    proptest! {
        #![proptest_config(crate::testing::config(5000))]

        /// Arbitrary objects (the field names given arbitrary values):
        /// accepted only when every rule holds, else a 400, never a panic.
        #[test]
        fn prop_arbitrary_objects(
            fields in proptest::collection::btree_map(
                prop_oneof![prop::sample::select(FIELDS.to_vec()).prop_map(String::from), any::<String>()],
                json_value(),
                0..8,
            ),
        ) {
            let o: Map<String, Value> = fields.into_iter().collect();
            match parse_declared(&o, MAX) {
                Ok(d) => check_accepted(&o, &d)?,
                Err(ApiError::BadRequest(m)) => prop_assert!(m.contains('`'), "{}", m),
                Err(e) => prop_assert!(false, "not a 400: {:?}", e),
            }
        }

        /// A valid declaration is accepted as it was written (id lowercased,
        /// content type trimmed).
        #[test]
        fn prop_valid_declarations_round_trip(o in valid()) {
            let d = parse_declared(&o, MAX).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            check_accepted(&o, &d)?;
            prop_assert_eq!(d.content_type.as_str(), o["contentType"].as_str().unwrap_or("").trim());
            let name = o.get("fileName").or(o.get("name")).and_then(Value::as_str);
            prop_assert_eq!(Some(d.file_name.as_str()), name);
            let hash = base64::engine::general_purpose::STANDARD.encode(d.sha256.0);
            prop_assert_eq!(Some(hash.as_str()), o["hash"].as_str());
        }

        /// One field of a valid declaration replaced by any JSON value, or
        /// removed: still valid (then as checked above), or a 400 naming
        /// exactly that field.
        #[test]
        fn prop_one_bad_field_is_named(
            mut o in valid(),
            which in 0..FIELDS.len(),
            value in proptest::option::of(json_value()),
        ) {
            let mut field = FIELDS[which];
            if field == "fileName" && o.contains_key("name") {
                field = "name";
            }
            match value {
                Some(v) => o.insert(field.into(), v),
                None => o.remove(field),
            };
            match parse_declared(&o, MAX) {
                Ok(d) => check_accepted(&o, &d)?,
                Err(ApiError::BadRequest(m)) => {
                    let named = if field == "name" && !o.contains_key("name") { "fileName" } else { field };
                    prop_assert!(m.contains(&format!("`{named}`")), "{} for {}", m, named);
                }
                Err(e) => prop_assert!(false, "not a 400: {:?}", e),
            }
        }
    }
}
