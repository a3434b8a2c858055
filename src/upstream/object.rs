//! Whole-object calls: PutObject (one streamed PUT with a real
//! Content-Length), GetObject (whole or one range, streamed back),
//! HeadObject and DeleteObject.
//!
//! Must never: hold an object's bytes (bodies stream both ways), or hand
//! back a range other than the one asked for.

use http::{header, Method, StatusCode};

use super::body::{Body, ObjectStream};
use super::client::{Call, Client};
use super::error::UpstreamError;
use super::model::Integrity;

impl Client {
    /// Stores `body` (exactly `content_length` bytes) under `key` in one
    /// PUT, the store checking it against `integrity` before keeping it.
    /// Nothing is visible under `key` unless this returns `Ok`.
    pub async fn put_object(
        &self,
        key: &str,
        body: Body,
        content_length: u64,
        integrity: Integrity,
    ) -> Result<(), UpstreamError> {
        let mut call = Call::bare(Method::PUT, Some(key));
        call.body = body;
        call.length = content_length;
        call.payload_hash = integrity.payload_hash();
        if let Some((name, value)) = integrity.header() {
            call = call.header(name, value);
        }
        self.call_ok(call).await?;
        Ok(())
    }

    /// The object `key`, or the `len` bytes from `start` of it (`len` ≥ 1;
    /// fewer when the object ends first): its total length and its bytes
    /// as they arrive. A start at or past the end is a 416 `Status`.
    pub async fn get_object(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
    ) -> Result<(u64, ObjectStream), UpstreamError> {
        let mut call = Call::bare(Method::GET, Some(key));
        if let Some((start, len)) = range {
            if len == 0 {
                // HTTP has no empty range: only the length is asked.
                let total = self
                    .head_object(key)
                    .await?
                    .ok_or(UpstreamError::NotFound)?;
                if start > total {
                    return Err(UpstreamError::Status {
                        status: 416,
                        code: "InvalidRange".into(),
                    });
                }
                return Ok((
                    total,
                    ObjectStream::empty(self.idle(), self.current_endpoint()),
                ));
            }
            let last = start.saturating_add(len - 1);
            call = call.header("range", format!("bytes={start}-{last}"));
        }
        let resp = self.send(call).await?;
        let (parts, body) = resp.into_parts();
        let length = content_length(&parts.headers);
        let total = match (parts.status, range) {
            (StatusCode::OK, None) => length.ok_or_else(|| no_length("GET"))?,
            (StatusCode::PARTIAL_CONTENT, Some((start, len))) => {
                let (first, last, total) = content_range(&parts.headers)?;
                let asked_last = start.saturating_add(len - 1);
                // The store may end the range early only where the object
                // ends.
                let fits = first == start
                    && (last == asked_last || (last < asked_last && last + 1 == total));
                if !fits || length != Some(last - first + 1) {
                    return Err(UpstreamError::Protocol(format!(
                        "asked for bytes {start}-{asked_last}, got {first}-{last}/{total}"
                    )));
                }
                total
            }
            // A range the store ignored is fine only if it covered the
            // whole object; anything else is not what was asked.
            (StatusCode::OK, Some((start, len))) => {
                let total = length.ok_or_else(|| no_length("GET"))?;
                if start != 0 || len < total {
                    return Err(UpstreamError::Protocol(
                        "asked for a range, got the whole object".into(),
                    ));
                }
                total
            }
            (status, _) if status.is_success() => {
                return Err(UpstreamError::Protocol(format!("a GET answered {status}")))
            }
            (status, _) => return Err(self.refusal(status, body).await),
        };
        let length = length.ok_or_else(|| no_length("GET"))?;
        let origin = self.answered_by(&parts);
        Ok((total, ObjectStream::new(body, length, self.idle(), origin)))
    }

    /// The length of object `key`, or `None` when there is no such object.
    pub async fn head_object(&self, key: &str) -> Result<Option<u64>, UpstreamError> {
        let resp = self.send(Call::bare(Method::HEAD, Some(key))).await?;
        let (parts, body) = resp.into_parts();
        if parts.status.is_success() {
            return content_length(&parts.headers)
                .map(Some)
                .ok_or_else(|| no_length("HEAD"));
        }
        match self.refusal(parts.status, body).await {
            UpstreamError::NotFound => Ok(None),
            e => Err(e),
        }
    }

    /// Removes object `key`; removing an absent one succeeds, as in S3.
    pub async fn delete_object(&self, key: &str) -> Result<(), UpstreamError> {
        match self.call_ok(Call::bare(Method::DELETE, Some(key))).await {
            Ok(_) | Err(UpstreamError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn no_length(what: &str) -> UpstreamError {
    UpstreamError::Protocol(format!("a {what} answer without a Content-Length"))
}

fn content_length(h: &http::HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `Content-Range: bytes first-last/total`.
fn content_range(h: &http::HeaderMap) -> Result<(u64, u64, u64), UpstreamError> {
    let bad = || UpstreamError::Protocol("a 206 without a usable Content-Range".into());
    let v = h
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(bad)?;
    parse_content_range(v).ok_or_else(bad)
}

fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let (range, total) = v.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let (first, last, total): (u64, u64, u64) = (
        first.trim().parse().ok()?,
        last.trim().parse().ok()?,
        total.trim().parse().ok()?,
    );
    (first <= last && last < total).then_some((first, last, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_are_read_strictly() {
        assert_eq!(parse_content_range("bytes 0-9/100"), Some((0, 9, 100)));
        assert_eq!(parse_content_range("bytes 99-99/100"), Some((99, 99, 100)));
        for bad in [
            "bytes 0-9/*",
            "bytes 9-0/100",
            "bytes 0-100/100",
            "0-9/100",
            "bytes -5/100",
            "bytes 0-9",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }
}
