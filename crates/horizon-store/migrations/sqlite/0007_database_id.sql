-- The database's identity (see the PostgreSQL migration 0010): the
-- exactly-once relay refuses a position record written for another one.
CREATE TABLE horizon_database (
    id         TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);
INSERT INTO horizon_database (id, created_at)
VALUES (lower(hex(randomblob(16))), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
