//! The checksum of an object a multipart upload assembles, when the upload
//! was created with an algorithm (`x-amz-checksum-algorithm`): each part's
//! checksum was computed as it arrived; on completion the ones the client
//! lists are checked against them, and the object's checksum is made from
//! them ([`crate::sigv4::multipart_checksum`]) — composite or full-object,
//! as the upload asked — and checked against a whole-object value the
//! client sent.
//!
//! Must never read a part's bytes: everything comes from the part rows.

use crate::index::{MultipartChecksum, ObjectMeta, PartRecord};
use crate::sigv4::multipart_checksum::{composite, full_object};
use crate::sigv4::ChecksumAlgorithm;

/// What a completion request says of checksums.
#[derive(Debug, Clone, Default)]
pub struct CompletionChecksums {
    /// (part number, checksum value) listed in the request's parts, of the
    /// upload's algorithm.
    pub parts: Vec<(u32, String)>,
    /// A whole-object value the request carried (`x-amz-checksum-<alg>`),
    /// with its algorithm.
    pub object: Option<(ChecksumAlgorithm, String)>,
}

/// Why a completion's checksums refuse it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChecksumRefusal {
    /// The request lists no checksum for this part, which a composite
    /// checksum needs.
    MissingPart { number: u32, algorithm: String },
    /// The listed checksum of this part is not the one it arrived with.
    PartMismatch { number: u32 },
    /// The whole-object value sent does not match.
    ObjectMismatch { algorithm: String },
}

/// The object's checksum fields from its upload's setting and `chosen`
/// parts (in order), after checking what the request sent; `meta` (the
/// upload's) is left as it is for an upload created without one.
pub fn complete(
    meta: &mut ObjectMeta,
    chosen: &[PartRecord],
    sent: &CompletionChecksums,
) -> Result<(), ChecksumRefusal> {
    let Some(MultipartChecksum {
        algorithm,
        full_object: full,
    }) = meta.multipart_checksum.clone()
    else {
        return Ok(());
    };
    let Some(alg) = ChecksumAlgorithm::from_name(&algorithm) else {
        return Ok(());
    };
    let mut values = Vec::with_capacity(chosen.len());
    for p in chosen {
        let listed = sent.parts.iter().find(|(n, _)| *n == p.part_number);
        match (listed, &p.checksum) {
            (Some((_, v)), Some(stored)) if v != stored => {
                return Err(ChecksumRefusal::PartMismatch {
                    number: p.part_number,
                })
            }
            (None, _) if !full => {
                return Err(ChecksumRefusal::MissingPart {
                    number: p.part_number,
                    algorithm: algorithm.clone(),
                })
            }
            _ => {}
        }
        // Every part of such an upload had it computed on arrival.
        let Some(stored) = &p.checksum else {
            return Err(ChecksumRefusal::PartMismatch {
                number: p.part_number,
            });
        };
        values.push(stored.clone());
    }
    let value = if full {
        let sized: Vec<(String, u64)> = values
            .iter()
            .cloned()
            .zip(chosen.iter().map(|p| p.size))
            .collect();
        full_object(alg, &sized)
    } else {
        composite(alg, &values)
    };
    let Some(value) = value else {
        return Err(ChecksumRefusal::PartMismatch {
            number: chosen.first().map_or(0, |p| p.part_number),
        });
    };
    if let Some((sent_alg, sent_value)) = &sent.object {
        // A whole-object value is compared without the composite's
        // "-<parts>" suffix, which clients may leave off.
        let ours = value.split('-').next().unwrap_or(&value);
        let theirs = sent_value.split('-').next().unwrap_or(sent_value);
        if *sent_alg != alg || ours != theirs {
            return Err(ChecksumRefusal::ObjectMismatch { algorithm });
        }
    }
    meta.checksums = vec![(algorithm, value)];
    meta.part_checksums = values;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Digest;

    fn part(n: u32, data: &[u8]) -> PartRecord {
        let mut c = ChecksumAlgorithm::Crc32.checksummer();
        c.update(data);
        PartRecord {
            part_number: n,
            sha256: Digest([0; 32]),
            size: data.len() as u64,
            md5: [0; 16],
            last_modified: 0,
            checksum: Some(c.finish()),
        }
    }

    fn meta(full_object: bool) -> ObjectMeta {
        ObjectMeta {
            multipart_checksum: Some(MultipartChecksum {
                algorithm: "CRC32".into(),
                full_object,
            }),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn a_full_object_crc_is_the_crc_of_the_whole_and_checked_against_what_was_sent() {
        let parts = [part(1, b"hello "), part(2, b"world")];
        let mut whole = ChecksumAlgorithm::Crc32.checksummer();
        whole.update(b"hello world");
        let whole = whole.finish();
        let mut m = meta(true);
        let sent = CompletionChecksums {
            parts: vec![],
            object: Some((ChecksumAlgorithm::Crc32, whole.clone())),
        };
        complete(&mut m, &parts, &sent).unwrap();
        assert_eq!(m.checksums, vec![("CRC32".to_string(), whole)]);
        assert_eq!(m.part_checksums.len(), 2);
        let wrong = CompletionChecksums {
            parts: vec![],
            object: Some((ChecksumAlgorithm::Crc32, "AAAAAA==".into())),
        };
        assert!(matches!(
            complete(&mut meta(true), &parts, &wrong),
            Err(ChecksumRefusal::ObjectMismatch { .. })
        ));
    }

    #[test]
    fn a_composite_needs_every_part_listed_with_its_checksum() {
        let parts = [part(1, b"a"), part(2, b"b")];
        let listed = |v: &[(u32, &str)]| CompletionChecksums {
            parts: v.iter().map(|(n, s)| (*n, s.to_string())).collect(),
            object: None,
        };
        let (a, b) = (
            parts[0].checksum.clone().unwrap(),
            parts[1].checksum.clone().unwrap(),
        );
        let mut m = meta(false);
        complete(&mut m, &parts, &listed(&[(1, &a), (2, &b)])).unwrap();
        assert!(m.checksums[0].1.ends_with("-2"), "{:?}", m.checksums);
        assert_eq!(
            complete(&mut meta(false), &parts, &listed(&[(1, &a)])),
            Err(ChecksumRefusal::MissingPart {
                number: 2,
                algorithm: "CRC32".into()
            })
        );
        assert_eq!(
            complete(&mut meta(false), &parts, &listed(&[(1, &b), (2, &b)])),
            Err(ChecksumRefusal::PartMismatch { number: 1 })
        );
        // An upload created without an algorithm gets no checksum.
        let mut plain = ObjectMeta::default();
        complete(&mut plain, &parts, &listed(&[])).unwrap();
        assert!(plain.checksums.is_empty());
    }
}
