#!/usr/bin/env python3
"""Write N QUEUED jobs straight into a stopped Horizon's SQLite database,
older than any job submitted afterwards (UUID v7 ids dated in the past).
For tests and benchmarks that need a long queue without submitting it.

usage: insert-queued-jobs.py DB N USER AGENT
"""
import sqlite3
import sys
import time
import uuid

db, n, user, agent = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
c = sqlite3.connect(db)
now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
start_ms = int(time.time() * 1000) - 7_200_000
rows = []
for i in range(n):
    # UUID v7 layout: 48-bit milliseconds, version 7, RFC 4122 variant
    b = bytearray((start_ms + i // 10).to_bytes(6, "big") + uuid.uuid4().bytes[6:])
    b[6] = (b[6] & 0x0F) | 0x70
    b[8] = (b[8] & 0x3F) | 0x80
    rows.append((str(uuid.UUID(bytes=bytes(b))), user, agent, now, now))
c.executemany(
    """INSERT INTO jobs (id, user_id, agent, dataset_id, parameters, backend, status,
                         correlation_id, created_at, updated_at, lifecycle_sequence)
       VALUES (?, ?, ?, 'd', '{}', 'local', 'QUEUED', 'c', ?, ?, 2)""",
    rows,
)
c.commit()
