//! Whether a principal may perform a parsed S3 request, decided from that
//! parsed value alone ([`authorize`]): which bucket, which action and
//! access the operation needs there, the object a copy reads, and what
//! stays the upload API's own.
//!
//! A key's rights and a bucket's settings combine as AWS evaluates them:
//! - the configured key is the gateway's administrator: everything, no
//!   bucket policy applies to it (as MinIO's root user);
//! - for every other key and anonymous clients, an explicit Deny of the
//!   bucket's policy refuses, whatever else allows;
//! - then the bucket is the key's own or granted to it (`stowage key
//!   allow`), or a policy Allow matches (unless `RestrictPublicBuckets`
//!   and the policy is public), or a canned ACL opens it (unless
//!   `IgnorePublicAcls`);
//! - `BlockPublicAcls` refuses a request that sets a public ACL, for
//!   everyone.
//!
//! Must never read the raw path, query or copy-source text to decide
//! anything: that is `router.rs`'s one parse.

mod actions;
mod context;

use std::sync::Arc;

use http::request::Parts;

use super::router::{Access, AclHeader, Endpoint, Presented, S3Request};
use crate::api::error::{ApiError, Internal};
use crate::api::sigauth::Principal;
use crate::app::App;
use crate::index::{CannedAcl, Version};
use crate::policy::{self, Context, Decision, Policy, Who};
use crate::storage::acl::{self, Outsider};
use crate::storage::policy::{BucketGate, PublicAccessBlock};
use crate::storage::BucketAccess;

/// What authorization found of a request's bucket, kept for decisions the
/// handler makes object by object (DeleteObjects).
pub struct Gate {
    /// The configured key: everything is allowed.
    admin: bool,
    key: Option<String>,
    bucket: String,
    access: BucketAccess,
    acl: Option<CannedAcl>,
    policy: Option<Arc<Policy>>,
    public_access_block: PublicAccessBlock,
    context: Context,
}

/// Where a decision stands before any ACL is asked.
enum Step {
    Allowed,
    Refused(ApiError),
    /// Only a canned ACL may still open it.
    AskAcl,
}

impl Gate {
    fn admin() -> Gate {
        Gate {
            admin: true,
            key: None,
            bucket: String::new(),
            access: BucketAccess::default(),
            acl: None,
            policy: None,
            public_access_block: PublicAccessBlock::default(),
            context: Context::new(),
        }
    }

    /// The gate of a key's service-wide request (ListBuckets,
    /// CreateBucket): no bucket, nothing beyond the request itself.
    fn service(key: &str) -> Gate {
        Gate {
            admin: false,
            key: Some(key.to_string()),
            ..Gate::admin()
        }
    }

    /// Reads `bucket`'s gate for `key` (`None`: anonymous); `None` if there
    /// is no such bucket. `context` is built only for a bucket with a
    /// policy (nothing else reads it).
    async fn read(
        app: &App,
        key: Option<&str>,
        bucket: &str,
        context: impl FnOnce() -> Context,
    ) -> Result<Option<Gate>, ApiError> {
        let Some(BucketGate {
            access,
            acl,
            policy,
            public_access_block,
        }) = app.storage.bucket_gate(key, bucket).await?
        else {
            return Ok(None);
        };
        let policy = policy
            .map(|text| {
                app.policies.get(bucket, &text).map_err(|e| {
                    // Checked when it was put: a policy that no longer
                    // parses refuses rather than opens.
                    ApiError::Internal(Internal::Other(format!("bucket policy of {bucket}: {e}")))
                })
            })
            .transpose()?;
        let context = match policy {
            Some(_) => context(),
            None => Context::new(),
        };
        Ok(Some(Gate {
            admin: false,
            key: key.map(str::to_string),
            bucket: bucket.to_string(),
            access,
            acl,
            policy,
            public_access_block,
            context,
        }))
    }

    /// Who asks, as policies and ACLs name them.
    fn outsider(&self) -> Outsider {
        match self.key {
            Some(_) => Outsider::OtherKey,
            None => Outsider::Anonymous,
        }
    }

    /// The decision before ACLs: a Deny, the key's own rights, a policy's
    /// Allow.
    fn step(&self, action: &str, key: Option<&str>, need: Access) -> Step {
        if self.admin {
            return Step::Allowed;
        }
        let verdict = self.policy.as_ref().map_or(Decision::NoOpinion, |p| {
            let resource = policy::arn(&self.bucket, key);
            p.evaluate(&policy::Request {
                who: match &self.key {
                    Some(k) => Who::Key(k),
                    None => Who::Anonymous,
                },
                action,
                resource: &resource,
                context: &self.context,
            })
        });
        if verdict == Decision::Deny {
            return Step::Refused(ApiError::AccessDenied(format!(
                "Access Denied: the policy of bucket {} explicitly denies {action} to this \
                 request",
                self.bucket
            )));
        }
        let own = match need {
            Access::Owner => self.access.owner,
            Access::Read => self.access.read,
            Access::Write => self.access.write,
        };
        if own {
            return Step::Allowed;
        }
        let restricted = self.public_access_block.restrict_public_buckets
            && self.policy.as_ref().is_some_and(|p| p.is_public());
        if verdict == Decision::Allow && !restricted {
            return Step::Allowed;
        }
        if self.public_access_block.ignore_public_acls {
            return Step::Refused(self.refusal(need));
        }
        Step::AskAcl
    }

    /// The refusal when nothing opened the bucket.
    fn refusal(&self, need: Access) -> ApiError {
        let Some(key) = &self.key else {
            return anonymous_refused();
        };
        let what = match need {
            Access::Owner => "owner",
            Access::Read => "read",
            Access::Write => "write",
        };
        ApiError::AccessDenied(format!(
            "Access Denied: key {key} has no {what} permission on bucket {}; the operator \
             grants it with `stowage key allow`, or the bucket's owner with a bucket policy",
            self.bucket
        ))
    }

    /// Whether this asker may bypass governance retention on `key`: the
    /// configured key, the bucket's owner, or a policy's Allow of
    /// `s3:BypassGovernanceRetention` (never against a Deny).
    pub fn may_bypass_governance(&self, key: &str) -> bool {
        matches!(
            self.step("s3:BypassGovernanceRetention", Some(key), Access::Owner),
            Step::Allowed
        )
    }

    /// Whether DeleteObjects may delete `key` (its `version`): asked of
    /// each object, as AWS asks `s3:DeleteObject` of each.
    pub fn may_delete(&self, key: &str, version: Option<&str>) -> bool {
        let action = match version {
            Some(_) => "s3:DeleteObjectVersion",
            None => "s3:DeleteObject",
        };
        match self.step(action, Some(key), Access::Write) {
            Step::Allowed => true,
            Step::Refused(_) => false,
            Step::AskAcl => version.is_none() && acl::lets_write(self.acl),
        }
    }
}

/// Whether `who` may perform `req`, read from the parsed request alone;
/// the gate for what the handler decides object by object.
pub async fn authorize(
    app: &App,
    who: &Principal,
    req: &S3Request,
    endpoint: &Endpoint,
    parts: &Parts,
) -> Result<Gate, ApiError> {
    upload_api_only(app, who, req, endpoint)?;
    let key = match who {
        Principal::Anonymous => None,
        Principal::Key(k) => Some(k.as_str()),
    };
    let sets = public_acl_set(endpoint, req);
    if key.is_some_and(|k| app.is_main_key(k)) {
        if sets {
            if let Some(Some(pab)) = app.storage.public_access_block(&req.bucket).await? {
                refuse_public_acl(pab)?;
            }
        }
        return Ok(Gate::admin());
    }
    let (Some(need), Some(action)) = (endpoint.access(), actions::action(endpoint)) else {
        // The service's own operations: ListBuckets shows a key its own,
        // CreateBucket makes the bucket the key's.
        return match key {
            None => Err(anonymous_refused()),
            Some(k) => Ok(Gate::service(k)),
        };
    };
    let ctx = || context::of(app, who, req, endpoint, parts);
    let Some(gate) = Gate::read(app, key, &req.bucket, ctx).await? else {
        return Err(match who {
            Principal::Anonymous => anonymous_refused(),
            Principal::Key(_) => super::bucket::no_such_bucket(&req.bucket),
        });
    };
    if sets {
        refuse_public_acl(gate.public_access_block)?;
    }
    if let Endpoint::DeleteObjects = endpoint {
        // Decided object by object; refused at once only when nothing
        // could allow any of them.
        let could = gate.access.write
            || gate.policy.is_some()
            || (!gate.public_access_block.ignore_public_acls && acl::lets_write(gate.acl));
        if !could {
            return Err(gate.refusal(need));
        }
        return Ok(gate);
    }
    let object = (!req.key.is_empty()).then_some(req.key.as_str());
    match gate.step(action, object, need) {
        Step::Allowed => {}
        Step::Refused(e) => return Err(e),
        Step::AskAcl => {
            if !by_acl(app, &gate, req, endpoint).await? {
                return Err(gate.refusal(need));
            }
        }
    }
    if who == &Principal::Anonymous {
        no_anonymous_overrides(endpoint)?;
    }
    if let Some(source) = endpoint.copy_source() {
        let Some(src) = Gate::read(app, key, &source.bucket, ctx).await? else {
            return Err(super::bucket::no_such_bucket(&source.bucket));
        };
        let action = match source.version_id {
            Some(_) => "s3:GetObjectVersion",
            None => "s3:GetObject",
        };
        match src.step(action, Some(&source.key), Access::Read) {
            Step::Allowed => {}
            Step::Refused(e) => return Err(e),
            Step::AskAcl => {
                let opens = object_acl_lets_read(
                    app,
                    &src,
                    &source.bucket,
                    &source.key,
                    source.version_id.as_deref(),
                )
                .await?;
                if !opens {
                    return Err(src.refusal(Access::Read));
                }
            }
        }
    }
    Ok(gate)
}

/// Authorizes a browser form's upload of `key`, once its signature checked
/// out and its fields were read (the key is the form's, not the path's).
pub async fn authorize_form(
    app: &App,
    who: &Principal,
    req: &S3Request,
    parts: &Parts,
    key: &str,
    form_acl: Option<CannedAcl>,
) -> Result<(), ApiError> {
    let Principal::Key(k) = who else {
        return Err(anonymous_refused());
    };
    let sets = form_acl.is_some_and(is_public);
    if app.is_main_key(k) {
        if sets {
            if let Some(Some(pab)) = app.storage.public_access_block(&req.bucket).await? {
                refuse_public_acl(pab)?;
            }
        }
        return Ok(());
    }
    let ctx = || {
        let mut c = context::of(app, who, req, &Endpoint::PostObject, parts);
        if let Some(acl) = form_acl {
            c.set("s3:x-amz-acl", acl.as_str());
        }
        c
    };
    let Some(gate) = Gate::read(app, Some(k), &req.bucket, ctx).await? else {
        return Err(super::bucket::no_such_bucket(&req.bucket));
    };
    if sets {
        refuse_public_acl(gate.public_access_block)?;
    }
    match gate.step("s3:PutObject", Some(key), Access::Write) {
        Step::Allowed => Ok(()),
        Step::Refused(e) => Err(e),
        Step::AskAcl if acl::lets_write(gate.acl) => Ok(()),
        Step::AskAcl => Err(gate.refusal(Access::Write)),
    }
}

/// The canned ACLs that open something to everyone or every key.
fn is_public(acl: CannedAcl) -> bool {
    matches!(
        acl,
        CannedAcl::PublicRead | CannedAcl::PublicReadWrite | CannedAcl::AuthenticatedRead
    )
}

/// Whether the request sets a public canned ACL (`x-amz-acl`) on what it
/// writes. A grant or a bad name is no public ACL here: the handler refuses
/// it, after authorization.
fn public_acl_set(endpoint: &Endpoint, req: &S3Request) -> bool {
    use Endpoint::*;
    let sets_acl = matches!(
        endpoint,
        PutObject
            | CopyObject { .. }
            | CreateMultipartUpload
            | PutObjectAcl { .. }
            | PutBucketAcl
            | CreateBucket
    );
    sets_acl && matches!(req.acl, AclHeader::Canned(a) if is_public(a))
}

fn refuse_public_acl(pab: PublicAccessBlock) -> Result<(), ApiError> {
    if pab.block_public_acls {
        return Err(ApiError::AccessDenied(
            "Access Denied: this bucket's PublicAccessBlock has BlockPublicAcls on, so no \
             public ACL (public-read, public-read-write, authenticated-read) can be set; send \
             x-amz-acl private or none. Nothing was changed."
                .into(),
        ));
    }
    Ok(())
}

/// What belongs to the upload API stays its own: its parameters
/// (`X-Stowage-*`, which declare a file) are honoured only in a URL this
/// gateway signed, and its part-wise uploads (`file-…`) take only the parts
/// its part URLs carry — no key, the configured one included, declares a
/// file or touches those uploads through S3 by other means.
fn upload_api_only(
    app: &App,
    who: &Principal,
    req: &S3Request,
    endpoint: &Endpoint,
) -> Result<(), ApiError> {
    let gateways = matches!(who, Principal::Key(k) if app.is_main_key(k))
        && req.presented == Presented::V4Query;
    let declares = req.query.names().any(|n| n.starts_with("X-Stowage-"));
    if declares && !gateways {
        return Err(ApiError::AccessDenied(
            "X-Stowage-* parameters belong to the upload API's own URLs, signed by this \
             gateway; ask POST /api/inspect/v1/file/upload/presigned for one. Nothing was \
             stored."
                .into(),
        ));
    }
    let api_upload = endpoint
        .upload_id()
        .is_some_and(|id| id.starts_with(crate::storage::file_parts::FILE_UPLOAD_PREFIX));
    let part_url = gateways
        && matches!(endpoint, Endpoint::UploadPart { .. })
        && req.query.has(crate::api::presigned::SIZE_PARAM);
    if api_upload && !part_url {
        return Err(ApiError::NoSuchUpload);
    }
    Ok(())
}

/// Whether a canned ACL (or, for anonymous readers, `[s3] public_read`,
/// the configuration's public-read bucket) lets the gate's asker do what
/// `endpoint` does: list a bucket (its ACL grants read), read an object or
/// version (its own ACL grants read), or write objects into a bucket
/// (`public-read-write`).
async fn by_acl(
    app: &App,
    gate: &Gate,
    req: &S3Request,
    endpoint: &Endpoint,
) -> Result<bool, ApiError> {
    use Endpoint::*;
    let who = gate.outsider();
    if who == Outsider::Anonymous
        && app.config.s3.public_read.contains(&req.bucket)
        && endpoint.open_to_anonymous_readers()
    {
        return Ok(true);
    }
    Ok(match endpoint {
        // READ on a bucket: its listings, as S3's ACLs grant them.
        ListObjectsV1 | ListObjectsV2 | ListObjectVersions | ListMultipartUploads | HeadBucket => {
            acl::lets_read(gate.acl, who)
        }
        GetObject { version, .. } | HeadObject { version } => {
            object_acl_lets_read(app, gate, &req.bucket, &req.key, version.as_deref()).await?
        }
        PutObject
        | DeleteObject { version: None }
        | CreateMultipartUpload
        | UploadPart { .. }
        | CompleteMultipartUpload { .. }
        | AbortMultipartUpload { .. } => acl::lets_write(gate.acl),
        _ => false,
    })
}

/// Whether the ACL of the object (version) read lets the gate's asker read
/// it.
async fn object_acl_lets_read(
    app: &App,
    gate: &Gate,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<bool, ApiError> {
    Ok(match app.storage.find(bucket, key, version).await? {
        Some(Version::Object(o)) => acl::lets_read(o.meta.acl, gate.outsider()),
        _ => false,
    })
}

/// S3's answer: an anonymous reader cannot make an object answer with
/// another type or disposition (e.g. as an HTML page of this origin).
fn no_anonymous_overrides(endpoint: &Endpoint) -> Result<(), ApiError> {
    if let Endpoint::GetObject {
        overrides: true, ..
    } = endpoint
    {
        return Err(ApiError::InvalidRequest(
            "Request specific response headers cannot be used for anonymous GET requests.".into(),
        ));
    }
    Ok(())
}

pub(super) fn anonymous_refused() -> ApiError {
    ApiError::AccessDenied(
        "Anonymous access is not allowed: sign the request (AWS SigV4) with this gateway's \
         access key, or use a presigned URL"
            .into(),
    )
}
