//! (filled in by the issue-13 work)

#[allow(unused_imports)]
use super::*;
