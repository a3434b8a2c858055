//! Why a document is not a policy a bucket can take.

/// AWS's `MalformedPolicy`, with its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(String);

impl PolicyError {
    pub(super) fn new(message: impl Into<String>) -> Self {
        PolicyError(message.into())
    }
}

/// Text from a document quoted in an error, cut short.
pub(super) fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(64).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}
