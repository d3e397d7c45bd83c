-- Exactly-once record writing (docs/decisions/004-exactly-once-records.md).
-- Every batch the record writer commits inserts its id here in the same
-- transaction (ON CONFLICT DO NOTHING): a batch whose id is already here was
-- written, and a replay of the spool skips it. A batch that held a bad row is
-- written row by row instead: its id is inserted with split = true, and each
-- row (written or quarantined) under '<batch id>:<row index>'.
-- The writer deletes ids older than 7 days (a spool older than that would be
-- replayed without this protection).
CREATE TABLE record_batches (
    batch_id    text PRIMARY KEY,
    split       boolean NOT NULL DEFAULT false,
    written_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX record_batches_written_at ON record_batches (written_at);
