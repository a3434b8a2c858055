//! The rules of the upload API's files: what a declaration records and
//! whether bytes are needed for it (presign), what a PUT of a file's bytes
//! becomes, what completing a file means, and the object through which a
//! file is visible to S3. Each is decided in one index transaction, over
//! rows only; the bytes themselves reach the store through
//! [`Storage::commit`]. (Completing a file from its parts is
//! `file_parts.rs`.)
//!
//! Must never: replace an object the upload API did not write (an S3
//! client's), call bytes stored that are not intact, or let a declaration
//! link to bytes that only an S3 object or part holds (another key's
//! private data).

use uuid::Uuid;

use super::file_object::{file_object, intact, occupied_by_other};
use super::file_parts::{FileParts, PartsRefusal};
use super::{Payload, Recorded, Storage, StorageError};
use crate::index::{BlobInfo, Cursor, Declared, FileRecord, ObjectRecord, Status, Tx, TxResult};
use crate::store::Digest;

/// The answer to a presign request, decided in one transaction.
#[derive(Debug)]
pub enum PresignOutcome {
    /// The client must send the bytes: issue a URL. Also for an id whose
    /// bytes were stored but are now damaged or missing: sending them
    /// again heals the blob.
    NeedsUpload,
    /// Intact bytes are already stored for this id (or, with dedupe, for
    /// another file of the upload API, and this id now links to them): no
    /// upload needed.
    AlreadyStored,
    /// An object the upload API did not write holds the id's key (in the
    /// upload bucket): nothing was recorded.
    Occupied,
    /// The id is declared for another file (a different hash, size or
    /// content type): that file's record, for the API to word the refusal
    /// for whoever asks (only a client that may read files is told what
    /// the other declaration is).
    Redeclared(FileRecord),
}

/// What the row check of a PUT of a file's bytes found, before its body
/// is read ([`Storage::check_file_put`]).
#[derive(Debug, PartialEq, Eq)]
pub enum PutCheck {
    /// Read the body: the id is pending with this declaration (or the URL
    /// carries the whole declaration and the id has no row), or its stored
    /// bytes are damaged or missing and these heal them.
    Proceed,
    /// Intact bytes are stored for the id already; `etag` is its object's
    /// (empty if the object was deleted).
    Stored { etag: String },
    /// No row with this id and declaration.
    NotPending,
    /// An object the upload API did not write holds the id's key.
    Occupied,
}

/// The answer to a PUT of a file's bytes ([`Storage::put_file`]).
#[derive(Debug, PartialEq, Eq)]
pub enum PutFileOutcome {
    /// The row moved from pending to uploaded; the file is its object now.
    Marked,
    /// It was already uploaded or completed (a repeated or racing PUT).
    /// The blob is recorded again all the same: these bytes were verified,
    /// so a damage mark on it is cleared.
    AlreadyStored,
    /// No row with this id and declaration: nothing was recorded.
    NotFound,
    /// The row is pending (or was lost), but an object the upload API did
    /// not write (an S3 client's) holds its key: nothing was recorded, the
    /// object stays.
    Occupied,
}

/// The answer to completing a file ([`Storage::complete_file`]).
#[derive(Debug)]
pub enum CompleteOutcome {
    /// Stored and completed (with its bytes put together from its parts,
    /// if it was sent in parts).
    Completed(FileRecord),
    NotFound,
    /// Still pending, and no part-wise upload of it to complete: no
    /// verified bytes yet.
    NotUploaded,
    /// Its part-wise upload could not be completed: why.
    Parts(PartsRefusal),
}

/// What the upload API knows under an id: a file of its own, or an object
/// an S3 client stored under that key of the upload bucket (one namespace,
/// seen through either surface).
#[derive(Debug)]
pub enum FileView {
    File(FileRecord),
    Object(Box<ObjectRecord>),
}

/// Whether a declaration differs from the record of its id in what makes
/// the file (hash, size, content type); the name may change while nothing
/// is stored.
fn redeclared(existing: &FileRecord, d: &Declared) -> bool {
    existing.sha256 != d.sha256
        || existing.size != d.size
        || existing.content_type != d.content_type
}

/// Makes the object of a stored file again if it is gone (an S3 client
/// deleted it); a file's object is never replaced.
async fn restore_object(
    tx: &mut dyn Tx,
    bucket: &str,
    rec: &FileRecord,
    blob: &BlobInfo,
    now: i64,
) -> TxResult<()> {
    if tx.get_object(bucket, &rec.id.to_string()).await?.is_none() {
        tx.insert_bucket(bucket, None, now).await?;
        tx.put_object(&file_object(bucket, rec, blob, now)).await?;
    }
    Ok(())
}

/// What presign decides with, beside the declaration.
struct PresignTerms<'a> {
    bucket: &'a str,
    now: i64,
    url_expires_at: i64,
    dedupe: bool,
    /// What the store holds under the declared hash (looked up just before).
    store_len: Option<u64>,
}

/// Records a declaration and decides whether bytes are needed. With
/// `dedupe`, a new declaration links to intact bytes that a file of the
/// upload API holds — never to bytes only an S3 object or part refers to,
/// which may be another key's private data — and becomes visible as its
/// object.
async fn presign_rule(
    tx: &mut dyn Tx,
    d: &Declared,
    t: &PresignTerms<'_>,
) -> TxResult<PresignOutcome> {
    let existing = tx.get_file(&d.id).await?;
    if occupied_by_other(tx, t.bucket, existing.as_ref(), &d.id).await? {
        return Ok(PresignOutcome::Occupied);
    }
    let intact = intact(tx.get_blob(&d.sha256).await?, d.size, t.store_len);
    let outcome = match existing {
        Some(mut rec) => {
            if redeclared(&rec, d) {
                return Ok(PresignOutcome::Redeclared(rec));
            }
            if rec.status.has_bytes() && intact.is_some() {
                PresignOutcome::AlreadyStored
            } else if rec.status.has_bytes() {
                // Stored once, but the bytes are damaged or gone: a URL, so
                // the client sends them again and heals the blob (the row
                // keeps its status and name).
                rec.url_expires_at = t.url_expires_at;
                tx.update_file(&rec).await?;
                PresignOutcome::NeedsUpload
            } else if t.dedupe && intact.is_some() && tx.file_with_bytes(&d.sha256, d.size).await? {
                rec.status = Status::Uploaded;
                rec.uploaded_at = Some(t.now);
                tx.update_file(&rec).await?;
                PresignOutcome::AlreadyStored
            } else {
                // The newest declaration's name wins while nothing is
                // stored yet (a client may have corrected it).
                rec.url_expires_at = t.url_expires_at;
                rec.file_name = d.file_name.clone();
                tx.update_file(&rec).await?;
                PresignOutcome::NeedsUpload
            }
        }
        None => {
            let linkable =
                t.dedupe && intact.is_some() && tx.file_with_bytes(&d.sha256, d.size).await?;
            let (status, uploaded_at) = if linkable {
                (Status::Uploaded, Some(t.now))
            } else {
                (Status::Pending, None)
            };
            tx.insert_file(d, status, t.now, t.url_expires_at, uploaded_at)
                .await?;
            if linkable {
                PresignOutcome::AlreadyStored
            } else {
                PresignOutcome::NeedsUpload
            }
        }
    };
    if let (PresignOutcome::AlreadyStored, Some(blob)) = (&outcome, intact) {
        // The file's object: made for a new link, and made again if an S3
        // client deleted it.
        if let Some(rec) = tx.get_file(&d.id).await? {
            restore_object(tx, t.bucket, &rec, &blob, t.now).await?;
        }
    }
    Ok(outcome)
}

/// Records the verified, published bytes `blob` as file `id`'s: marks a
/// pending row uploaded and makes the file its object (the blob that key
/// named before is let go), or records the blob again for a file stored
/// already (clearing a damage mark: these bytes were just verified).
/// `inline`: the bytes, if they are kept in the index.
///
/// `lost`: the declaration a self-contained upload URL carries; if `id`
/// has no row, a pending one is made from it first (a presign answered
/// before its row was durable, then lost in a crash).
async fn put_file_rule(
    tx: &mut dyn Tx,
    id: &Uuid,
    blob: &BlobInfo,
    inline: Option<&[u8]>,
    lost: Option<&Declared>,
    bucket: &str,
    now: i64,
) -> TxResult<Recorded<PutFileOutcome>> {
    let mut rec = tx.get_file(id).await?;
    if let (None, Some(d)) = (&rec, lost) {
        // The URL carried the whole declaration and its row is gone: the
        // signed URL is the declaration.
        if d.id == *id && d.sha256 == blob.sha256 && d.size == blob.size {
            if occupied_by_other(tx, bucket, None, id).await? {
                return Ok(Recorded::refused(PutFileOutcome::Occupied));
            }
            tx.insert_file(d, Status::Pending, now, now, None).await?;
            rec = tx.get_file(id).await?;
        }
    }
    let Some(mut r) = rec.filter(|r| r.sha256 == blob.sha256 && r.size == blob.size) else {
        return Ok(Recorded::refused(PutFileOutcome::NotFound));
    };
    // Pending, and an S3 client's object holds the key (written after the
    // presign): it stays, and this upload records nothing.
    if !r.status.has_bytes() && occupied_by_other(tx, bucket, Some(&r), id).await? {
        return Ok(Recorded::refused(PutFileOutcome::Occupied));
    }
    tx.record_blob(blob, inline, now, true).await?;
    if r.status.has_bytes() {
        // A repeated PUT (or one healing a damaged blob): the file's
        // object is made again if it was deleted, never replaced.
        restore_object(tx, bucket, &r, blob, now).await?;
        return Ok(Recorded::kept(PutFileOutcome::AlreadyStored, Vec::new()));
    }
    r.status = Status::Uploaded;
    r.uploaded_at = Some(now);
    tx.update_file(&r).await?;
    tx.insert_bucket(bucket, None, now).await?;
    let replaced = tx.put_object(&file_object(bucket, &r, blob, now)).await?;
    Ok(Recorded::kept(
        PutFileOutcome::Marked,
        replaced.into_iter().collect(),
    ))
}

/// The complete of a file that has bytes: completed (once; a repeated
/// complete keeps the first time).
async fn complete_rule(tx: &mut dyn Tx, id: &Uuid, now: i64) -> TxResult<Option<FileRecord>> {
    let Some(mut r) = tx.get_file(id).await? else {
        return Ok(None);
    };
    if r.status == Status::Uploaded {
        r.status = Status::Completed;
        r.completed_at = Some(now);
        tx.update_file(&r).await?;
    }
    Ok(Some(r))
}

impl Storage {
    /// Records a declaration of the upload API (its URL good until
    /// `url_expires_at`) and decides, in one transaction, whether its bytes
    /// are needed (see [`PresignOutcome`]). Refused first if the disk is
    /// short of room for them.
    ///
    /// A URL needs no durable row (it carries the whole declaration), so
    /// [`PresignOutcome::NeedsUpload`] is answered once the row is
    /// committed; anything that says "stored" waits for it to be durable.
    pub async fn presign(
        &self,
        d: &Declared,
        url_expires_at: i64,
        dedupe: bool,
    ) -> Result<PresignOutcome, StorageError> {
        self.check_space(d.size)?;
        // The index never looks at the store, and "already stored" is only
        // ever said of bytes that are there (a stat, no byte read).
        let store_len = self.stored_len(&d.sha256).await?;
        let (d, bucket, now) = (d.clone(), self.settings.upload_bucket.clone(), self.now());
        let outcome = self
            .index
            .write_when(
                move |tx| {
                    let (d, bucket) = (d.clone(), bucket.clone());
                    Box::pin(async move {
                        let terms = PresignTerms {
                            bucket: &bucket,
                            now,
                            url_expires_at,
                            dedupe,
                            store_len,
                        };
                        presign_rule(tx, &d, &terms).await
                    })
                },
                |o| !matches!(o, PresignOutcome::NeedsUpload),
            )
            .await?;
        Ok(outcome)
    }

    /// Whether the stored blob `sha256` of `size` bytes is intact, as far
    /// as its row and a look at the store's file can tell: only then may a
    /// file's bytes be taken as stored.
    pub async fn blob_intact(&self, sha256: Digest, size: u64) -> Result<bool, StorageError> {
        let store_len = self.stored_len(&sha256).await?;
        let row = self
            .index
            .read(move |tx| Box::pin(async move { tx.get_blob(&sha256).await }))
            .await?;
        Ok(intact(row, size, store_len).is_some())
    }

    /// The file of the upload API with this id.
    pub async fn file(&self, id: Uuid) -> Result<Option<FileRecord>, StorageError> {
        Ok(self
            .index
            .read(move |tx| Box::pin(async move { tx.get_file(&id).await }))
            .await?)
    }

    /// What is known under `id`: its file, or else the object an S3 client
    /// stored under that key of the upload bucket.
    pub async fn file_view(&self, id: Uuid) -> Result<Option<FileView>, StorageError> {
        let bucket = self.settings.upload_bucket.clone();
        Ok(self
            .index
            .read(move |tx| {
                let bucket = bucket.clone();
                Box::pin(async move {
                    if let Some(rec) = tx.get_file(&id).await? {
                        return Ok(Some(FileView::File(rec)));
                    }
                    let obj = tx.get_object(&bucket, &id.to_string()).await?;
                    Ok(obj.map(|o| FileView::Object(Box::new(o))))
                })
            })
            .await?)
    }

    /// Up to `limit` files, newest first, from `from` on (a cursor of an
    /// earlier page); the cursor of the next page, if there is one.
    pub async fn list_files(
        &self,
        from: Option<Cursor>,
        limit: usize,
    ) -> Result<(Vec<FileRecord>, Option<Cursor>), StorageError> {
        Ok(self
            .index
            .read(move |tx| Box::pin(async move { tx.list_files(from, limit).await }))
            .await?)
    }

    /// The row check of a PUT of file `id`'s bytes (`sha256`, `size`, as
    /// its URL declares them) before its body is read, so that bytes nobody
    /// will keep are not streamed to disk. `self_contained`: the URL
    /// carries the whole declaration (a lost row is made again from it).
    /// Only advice: the transaction of [`Self::put_file`] decides again.
    pub async fn check_file_put(
        &self,
        id: Uuid,
        sha256: Digest,
        size: u64,
        self_contained: bool,
    ) -> Result<PutCheck, StorageError> {
        let bucket = self.settings.upload_bucket.clone();
        let found = self
            .index
            .read(move |tx| {
                let bucket = bucket.clone();
                Box::pin(async move {
                    let rec = tx.get_file(&id).await?;
                    let obj = tx.get_object(&bucket, &id.to_string()).await?;
                    let blob = match &rec {
                        Some(r) if r.status.has_bytes() => tx.get_blob(&sha256).await?,
                        _ => None,
                    };
                    Ok((rec, obj, blob))
                })
            })
            .await?;
        let (rec, obj, blob) = found;
        // Nothing is stored for the id yet, so any object under its key is
        // an S3 client's, and the upload would be refused at commit: say
        // so before the client sends it all.
        let free = || match obj {
            Some(_) => PutCheck::Occupied,
            None => PutCheck::Proceed,
        };
        if rec.is_none() && self_contained {
            return Ok(free());
        }
        let Some(rec) = rec.filter(|r| r.sha256 == sha256 && r.size == size) else {
            return Ok(PutCheck::NotPending);
        };
        if !rec.status.has_bytes() {
            return Ok(free());
        }
        // Stored once: answered from the row only while those bytes are
        // intact. A damaged or missing blob is healed by reading the body.
        let store_len = match &blob {
            Some(b) if !b.inline => self.stored_len(&sha256).await?,
            _ => None,
        };
        if intact(blob, size, store_len).is_none() {
            return Ok(PutCheck::Proceed);
        }
        Ok(PutCheck::Stored {
            etag: obj.map(|o| o.etag).unwrap_or_default(),
        })
    }

    /// Stores the verified bytes of file `id` (`blob`: their digest, size
    /// and MD5, checked against the declaration by the caller) through the
    /// commit protocol: published, and recorded in one transaction (see
    /// [`PutFileOutcome`]); released again if refused. `lost`: the
    /// declaration the URL carries, if it carries all of it.
    pub async fn put_file(
        &self,
        id: Uuid,
        payload: Payload,
        blob: BlobInfo,
        lost: Option<Declared>,
    ) -> Result<PutFileOutcome, StorageError> {
        let (bucket, now) = (self.settings.upload_bucket.clone(), self.now());
        self.commit(payload, blob, move |inline| {
            move |tx| {
                let (inline, lost, bucket) = (inline.clone(), lost.clone(), bucket.clone());
                Box::pin(async move {
                    put_file_rule(
                        tx,
                        &id,
                        &blob,
                        inline.as_deref(),
                        lost.as_ref(),
                        &bucket,
                        now,
                    )
                    .await
                })
            }
        })
        .await
    }

    /// Completes file `id`: a file with bytes is marked completed (once),
    /// and a file sent in parts gets its parts put together first — also a
    /// stored file whose blob is damaged or missing and was sent again in
    /// parts (presign asked for the bytes again): its blob is healed.
    pub async fn complete_file(&self, id: Uuid) -> Result<CompleteOutcome, StorageError> {
        let now = self.now();
        let rec = self
            .index
            .write(move |tx| Box::pin(async move { complete_rule(tx, &id, now).await }))
            .await?;
        let Some(rec) = rec else {
            return Ok(CompleteOutcome::NotFound);
        };
        let pending = rec.status == Status::Pending;
        Ok(match self.finish_file_parts(rec.clone()).await? {
            FileParts::Completed(r) => CompleteOutcome::Completed(r),
            FileParts::Refused(why) => CompleteOutcome::Parts(why),
            FileParts::NoUpload if pending => CompleteOutcome::NotUploaded,
            FileParts::NoUpload => CompleteOutcome::Completed(rec),
        })
    }
}
