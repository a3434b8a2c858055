//! Versions of S3 objects as the index keeps them: a bucket's versioning
//! state, a delete marker, a version in a key's history, and a place in a
//! listing of versions.
//!
//! A key's *current object* is its row in `objects`, as it always was, so
//! every read of current objects (GET, listings, the upload API) stays one
//! lookup. Everything else a versioned key has — the versions it had
//! before, and its delete markers, one of which may be its current state —
//! is its *history* (`object_history`), ordered by a sequence number per
//! key. The current object, when there is one, is newer than its whole
//! history; when a delete marker is current, the key has no current object
//! and the marker is the newest of its history.
//!
//! Must never: decide what a write or a delete does to a key's versions
//! (`crate::storage::versions` does), or make a version id up.

use super::{IndexError, ObjectRecord};
use crate::store::Digest;

/// The version id of a version written while versioning was off or
/// suspended: S3's literal `null`.
pub const NULL_VERSION: &str = "null";

/// What a bucket does with a write to a key that has an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Versioning {
    /// Never enabled: a write replaces, a delete removes.
    #[default]
    Unversioned,
    /// Every write is a new version; a delete writes a delete marker.
    Enabled,
    /// Writes and deletes replace the key's `null` version; older versions
    /// stay.
    Suspended,
}

impl Versioning {
    /// As the `buckets.versioning` column holds it.
    pub fn to_column(self) -> Option<&'static str> {
        match self {
            Versioning::Unversioned => None,
            Versioning::Enabled => Some("Enabled"),
            Versioning::Suspended => Some("Suspended"),
        }
    }

    /// From the `buckets.versioning` column.
    pub fn from_column(v: Option<&str>) -> Result<Self, IndexError> {
        match v {
            None => Ok(Versioning::Unversioned),
            Some("Enabled") => Ok(Versioning::Enabled),
            Some("Suspended") => Ok(Versioning::Suspended),
            Some(_) => Err(IndexError::Corrupt("buckets.versioning")),
        }
    }
}

/// Object Lock's retention modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RetentionMode {
    /// Removable early only with `x-amz-bypass-governance-retention` by a
    /// key allowed to bypass.
    #[serde(rename = "GOVERNANCE")]
    Governance,
    /// Removable early by nobody.
    #[serde(rename = "COMPLIANCE")]
    Compliance,
}

impl RetentionMode {
    /// As S3 spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            RetentionMode::Governance => "GOVERNANCE",
            RetentionMode::Compliance => "COMPLIANCE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "GOVERNANCE" => Some(RetentionMode::Governance),
            "COMPLIANCE" => Some(RetentionMode::Compliance),
            _ => None,
        }
    }
}

/// A version's retention: its mode, and until when (unix seconds) it may
/// not be removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Retention {
    pub mode: RetentionMode,
    pub until: i64,
}

/// A delete marker: a version saying the key was deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteMarker {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    /// Unix seconds of the delete that wrote it.
    pub last_modified: i64,
}

/// One version of a key: an object, or a delete marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    Object(Box<ObjectRecord>),
    Marker(DeleteMarker),
}

impl Version {
    pub fn key(&self) -> &str {
        match self {
            Version::Object(o) => &o.key,
            Version::Marker(m) => &m.key,
        }
    }

    pub fn version_id(&self) -> &str {
        match self {
            Version::Object(o) => &o.version_id,
            Version::Marker(m) => &m.version_id,
        }
    }

    pub fn last_modified(&self) -> i64 {
        match self {
            Version::Object(o) => o.last_modified,
            Version::Marker(m) => m.last_modified,
        }
    }

    /// The blob this version refers to; a marker refers to none.
    pub fn blob(&self) -> Option<Digest> {
        match self {
            Version::Object(o) => Some(o.sha256),
            Version::Marker(_) => None,
        }
    }

    pub fn is_marker(&self) -> bool {
        matches!(self, Version::Marker(_))
    }
}

/// A version in a key's history, with its sequence number there (higher
/// is newer; unique per key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastVersion {
    pub version: Version,
    pub seq: i64,
}

/// A place in a listing of versions: keys in S3's order, and under each
/// key its versions newest first. `rank` orders versions under a key: the
/// current object ranks [`VersionPlace::CURRENT`], a version of the
/// history its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionPlace {
    pub key: String,
    pub rank: i64,
}

impl VersionPlace {
    /// The rank of a key's current object: above its whole history.
    pub const CURRENT: i64 = i64::MAX;

    /// The place after every version of `key`.
    pub fn after_key(key: &str) -> Self {
        VersionPlace {
            key: key.to_string(),
            rank: i64::MIN,
        }
    }
}

/// One version as a listing gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedVersion {
    pub version: Version,
    /// It is the key's newest version (its current object, or the delete
    /// marker the key currently is).
    pub is_latest: bool,
    pub place: VersionPlace,
}

/// Versions as a listing gives them from `after` on (by key, newest first
/// under each key, each with its rank), with their latest marked: the
/// first of each key in that order is its newest — its current object, or
/// the marker it currently is — unless the listing began inside that key
/// (`after` is one of its versions), past its newest. (A listing after a
/// whole key has none of that key's versions.)
pub(crate) fn mark_latest(after: &VersionPlace, rows: Vec<(Version, i64)>) -> Vec<ListedVersion> {
    let mut previous = after.key.clone();
    rows.into_iter()
        .map(|(version, rank)| {
            let key = version.key().to_string();
            let is_latest = key != previous;
            previous.clone_from(&key);
            ListedVersion {
                version,
                is_latest,
                place: VersionPlace { key, rank },
            }
        })
        .collect()
}
