//! Reading parts together: the parts of an upload streamed in order,
//! hashed as they go, never held in memory — to check a part-wise file's
//! declared SHA-256 without writing its bytes again (it is then recorded
//! as a composite of its parts), or, to heal a damaged file, into one new
//! staged blob.

use futures_util::StreamExt;
use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::{Storage, StorageError};
use crate::index::{BlobInfo, PartRecord};
use crate::md5_lane::Md5Lane;
use crate::store::{Digest, StagedBlob, StoreError};

/// Parts put together, staged but not yet published.
pub struct Assembled {
    /// Not yet published: dropping it removes the temp file.
    pub staged: Box<dyn StagedBlob>,
    pub blob: BlobInfo,
    /// S3's multipart ETag: MD5 of the parts' MD5s, dash, part count.
    pub etag: String,
}

impl Storage {
    /// Streams `chosen` in order into one staged blob (a copy the size of
    /// the whole object, until the parts are released), computing its
    /// SHA-256 and MD5 as it goes.
    pub async fn assemble(&self, chosen: &[PartRecord]) -> Result<Assembled, StorageError> {
        let total: u64 = chosen.iter().map(|p| p.size).sum();
        self.check_space(total)?;
        let mut staged = self.store.stage().await?;
        let (blob, etag) = self.read_parts(chosen, Some(&mut staged)).await?;
        Ok(Assembled { staged, blob, etag })
    }

    /// The SHA-256, size and MD5 of `chosen` read in order, writing
    /// nothing.
    pub async fn hash_parts(&self, chosen: &[PartRecord]) -> Result<BlobInfo, StorageError> {
        Ok(self.read_parts(chosen, None).await?.0)
    }

    /// Reads `chosen` in order (into `staged`, if given), hashing; the
    /// whole's digests and the parts' multipart ETag.
    async fn read_parts(
        &self,
        chosen: &[PartRecord],
        mut staged: Option<&mut Box<dyn StagedBlob>>,
    ) -> Result<(BlobInfo, String), StorageError> {
        let total: u64 = chosen.iter().map(|p| p.size).sum();
        let mut sha = Sha256::new();
        // MD5 on a second core, as for a large PUT: SHA-256 then MD5 on one
        // core held assembly to about 215 MB/s.
        let mut md5 = Md5Lane::for_length(total);
        let mut etag_md5 = Md5::new();
        let mut size: u64 = 0;
        for part in chosen {
            etag_md5.update(part.md5);
            // Gone only if the part was replaced or the upload aborted
            // meanwhile.
            let mut blob = self
                .open_blob(&part.sha256, part.size, 0, part.size)
                .await?
                .ok_or(StorageError::PartGone(part.part_number))?;
            while let Some(piece) = blob.chunks.next().await {
                let piece = piece.map_err(StoreError::io("reading a part"))?;
                sha.update(&piece);
                if let Some(s) = staged.as_mut() {
                    s.write(&piece).await?;
                }
                size += piece.len() as u64;
                md5.update(piece).await?;
            }
        }
        let blob = BlobInfo {
            sha256: Digest(sha.finalize().into()),
            size,
            md5: Some(md5.finish().await?),
        };
        let etag = format!("{}-{}", hex::encode(etag_md5.finalize()), chosen.len());
        Ok((blob, etag))
    }
}
