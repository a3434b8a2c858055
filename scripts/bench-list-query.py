#!/usr/bin/env python3
# The object listing query of SQLite's list_objects, before and after
# 460836e, on one bucket of N objects: the time to read the last page.
import sqlite3, time, sys
N = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
c = sqlite3.connect(":memory:")
c.executescript("""
CREATE TABLE objects (bucket TEXT NOT NULL, key TEXT NOT NULL, sha256 TEXT, size INT, etag TEXT,
  content_type TEXT, meta TEXT, last_modified INT, version_id TEXT NOT NULL DEFAULT 'null',
  PRIMARY KEY (bucket,key)) WITHOUT ROWID;""")
c.executemany("INSERT INTO objects VALUES ('b', ?, 'x', 1, 'e', 't', '{}', 1, 'null')",
              ((f"photos/site-{i % 97:02}/img-{i:08}.jpg",) for i in range(N)))
c.commit()
pm = "substr(CAST(key AS BLOB), 1, length(CAST(?3 AS BLOB))) = CAST(?3 AS BLOB)"
old = f"SELECT key FROM objects WHERE bucket = ?1 AND CAST(key AS BLOB) > CAST(?2 AS BLOB) AND {pm} ORDER BY CAST(key AS BLOB) LIMIT ?4"
new = f"SELECT key FROM objects WHERE bucket = ?1 AND key > ?2 AND key >= ?3 AND {pm} ORDER BY key LIMIT ?4"
def full_listing(sql):
    after, pages, t0 = "", 0, time.perf_counter()
    while True:
        rows = c.execute(sql, ("b", after, "", 1000)).fetchall()
        pages += 1
        if len(rows) < 1000:
            return pages, time.perf_counter() - t0
        after = rows[-1][0]
for name, sql in (("before (CAST ... AS BLOB)", old), ("after (BINARY, index order)", new)):
    first = time.perf_counter(); c.execute(sql, ("b", "", "", 1000)).fetchall(); first = time.perf_counter() - first
    pages, total = full_listing(sql)
    print(f"{name}: first page {first*1000:.1f} ms; all {pages} pages {total:.2f} s")
