//! The index's tables as both backends hold them, and a row of one as
//! neither backend's type: what a copy reads from one side and writes to
//! the other.
//!
//! [`TABLES`] lists every table of the schema at its latest version on
//! both (`migrations.rs`), column for column, in an order in which every
//! row a foreign key names is copied before the row naming it. A new
//! migration that adds a table or a column must add it here: a test
//! compares this list with both schemas.

/// A column's type, as both backends store it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// SQLite INTEGER, PostgreSQL BIGINT.
    Int,
    /// SQLite INTEGER, PostgreSQL INTEGER (a part number).
    Int4,
    /// TEXT on both (PostgreSQL's cannot hold U+0000).
    Text,
    /// SQLite BLOB, PostgreSQL BYTEA.
    Bytes,
    /// SQLite INTEGER 0 or 1, PostgreSQL BOOLEAN.
    Bool,
}

/// One column: its name on PostgreSQL, and what SQLite reads for it.
#[derive(Debug)]
pub(super) struct Column {
    pub name: &'static str,
    /// The same name, or `rowid` for PostgreSQL's `seq` (the `bigserial`
    /// that stands in for SQLite's rowid: files and blobs are listed
    /// newest first by it).
    pub sqlite: &'static str,
    pub kind: Kind,
    pub nullable: bool,
}

/// One table.
#[derive(Debug)]
pub(super) struct Table {
    pub name: &'static str,
    pub columns: &'static [Column],
    /// The columns (by position) that name a row, in messages.
    pub key: &'static [usize],
    /// PostgreSQL's `bigserial` column, whose sequence is set past the
    /// copied values (SQLite's rowid needs nothing: it continues from the
    /// largest).
    pub serial: Option<&'static str>,
}

const fn col(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        sqlite: name,
        kind,
        nullable: false,
    }
}

const fn opt(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        sqlite: name,
        kind,
        nullable: true,
    }
}

/// PostgreSQL's `seq`, SQLite's rowid.
const SEQ: Column = Column {
    name: "seq",
    sqlite: "rowid",
    kind: Kind::Int,
    nullable: false,
};

use Kind::{Bool, Bytes, Int, Int4, Text};

/// Every table, parents before children (`blob_bytes` before `blobs`,
/// `buckets` and `blobs` before `objects`, uploads before their parts).
pub(super) const TABLES: &[Table] = &[
    Table {
        name: "files",
        columns: &[
            SEQ,
            col("id", Text),
            col("file_name", Text),
            col("content_type", Text),
            col("size", Int),
            col("sha256", Text),
            col("status", Text),
            col("created_at", Int),
            col("url_expires_at", Int),
            opt("uploaded_at", Int),
            opt("completed_at", Int),
        ],
        key: &[1],
        serial: Some("seq"),
    },
    Table {
        name: "tokens",
        columns: &[
            col("name", Text),
            col("token_hash", Text),
            col("scopes", Text),
            col("created_at", Int),
            opt("revoked_at", Int),
        ],
        key: &[0],
        serial: None,
    },
    Table {
        name: "blob_bytes",
        columns: &[col("id", Int), col("data", Bytes)],
        key: &[0],
        serial: Some("id"),
    },
    Table {
        name: "blobs",
        columns: &[
            SEQ,
            col("sha256", Text),
            col("size", Int),
            opt("md5", Text),
            col("created_at", Int),
            opt("bytes_id", Int),
            opt("damaged", Text),
            opt("location", Text),
            col("composite", Bool),
        ],
        key: &[1],
        serial: Some("seq"),
    },
    Table {
        name: "blob_segments",
        columns: &[
            col("composite", Text),
            col("idx", Int4),
            col("sha256", Text),
            col("size", Int),
        ],
        key: &[0, 1],
        serial: None,
    },
    Table {
        name: "garbage",
        columns: &[col("name", Text), col("due_at", Int)],
        key: &[0],
        serial: None,
    },
    Table {
        name: "buckets",
        columns: &[
            col("name", Text),
            col("created_at", Int),
            opt("cors", Text),
            opt("owner", Text),
            opt("versioning", Text),
            opt("object_lock", Text),
            opt("lifecycle", Text),
            opt("tags", Text),
            opt("acl", Text),
            opt("policy", Text),
            opt("public_access_block", Text),
        ],
        key: &[0],
        serial: None,
    },
    Table {
        name: "objects",
        columns: &[
            col("bucket", Text),
            col("key", Text),
            col("sha256", Text),
            col("size", Int),
            col("etag", Text),
            col("content_type", Text),
            col("meta", Text),
            col("last_modified", Int),
            col("version_id", Text),
        ],
        key: &[0, 1],
        serial: None,
    },
    Table {
        name: "object_history",
        columns: &[
            col("bucket", Text),
            col("key", Text),
            col("seq", Int),
            col("version_id", Text),
            col("delete_marker", Bool),
            opt("sha256", Text),
            col("size", Int),
            col("etag", Text),
            col("content_type", Text),
            col("meta", Text),
            col("last_modified", Int),
        ],
        key: &[0, 1, 2],
        serial: None,
    },
    Table {
        name: "multipart_uploads",
        columns: &[
            col("upload_id", Text),
            col("bucket", Text),
            col("key", Text),
            col("content_type", Text),
            col("meta", Text),
            col("created_at", Int),
        ],
        key: &[0],
        serial: None,
    },
    Table {
        name: "multipart_parts",
        columns: &[
            col("upload_id", Text),
            col("part_number", Int4),
            col("sha256", Text),
            col("size", Int),
            col("md5", Text),
            col("last_modified", Int),
            opt("checksum", Text),
        ],
        key: &[0, 1],
        serial: None,
    },
    Table {
        name: "completed_uploads",
        columns: &[
            col("upload_id", Text),
            col("bucket", Text),
            col("key", Text),
            col("etag", Text),
            col("completed_at", Int),
        ],
        key: &[0],
        serial: None,
    },
    Table {
        name: "access_keys",
        columns: &[
            col("access_key_id", Text),
            col("secret", Text),
            col("name", Text),
            col("created_at", Int),
            opt("revoked_at", Int),
        ],
        key: &[0],
        serial: None,
    },
    Table {
        name: "bucket_grants",
        columns: &[
            col("access_key_id", Text),
            col("bucket", Text),
            col("can_write", Bool),
        ],
        key: &[0, 1],
        serial: None,
    },
];

/// A value of a column, whichever backend it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
    Bool(bool),
}

/// The values of one row, in its table's column order.
pub(super) type Row = Vec<Value>;

/// What a copy moves between its two sides, table by table in
/// [`TABLES`] order: the rows of a table in batches, then how many there
/// were.
#[derive(Debug)]
pub(super) enum Item {
    Rows(Vec<Row>),
    /// The table is done: rows sent, and the count the source's snapshot
    /// gives for it (the two must agree).
    Done {
        sent: u64,
        counted: u64,
    },
}

/// Rows sent at a time between the two sides of a copy.
pub(super) const BATCH: usize = 1000;

/// Batches in flight between them: bounds the memory a copy holds.
pub(super) const IN_FLIGHT: usize = 4;

impl Table {
    /// The row's key for a message, e.g. `bucket="b" key="a\0b"`: text is
    /// quoted with its control characters escaped, and no other column
    /// (a secret) is ever shown.
    pub(super) fn key_of(&self, row: &[Value]) -> String {
        self.key
            .iter()
            .map(|&i| {
                let shown = match row.get(i) {
                    Some(Value::Text(s)) => format!("{s:?}"),
                    Some(Value::Int(n)) => n.to_string(),
                    Some(Value::Bool(b)) => b.to_string(),
                    Some(Value::Bytes(b)) => format!("{} bytes", b.len()),
                    Some(Value::Null) | None => "NULL".into(),
                };
                format!("{}={shown}", self.columns[i].name)
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The PostgreSQL column list, `a, b, c`.
    pub(super) fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// What SQLite reads and writes for those columns, `rowid, b, c`.
    pub(super) fn sqlite_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| c.sqlite)
            .collect::<Vec<_>>()
            .join(", ")
    }
}
