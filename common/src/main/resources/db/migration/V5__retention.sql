-- ADR 0015: retention of finished executions and the dedupe horizon.

-- The event keys of executions whose history retention removed: each still absorbs duplicate
-- events until finished_at + retention.keys.ms (the dedupe horizon). Written by retention in the
-- same transaction that deletes the execution; read by the engine after it creates executions.
CREATE TABLE retired_event_keys (
    event_key   text        PRIMARY KEY,
    finished_at timestamptz NOT NULL
);
CREATE INDEX retired_event_keys_finished ON retired_event_keys (finished_at);

-- Retention finds the oldest finished executions without reading the others. IF NOT EXISTS: on a
-- large table, build it beforehand with CREATE INDEX CONCURRENTLY (same definition), which this
-- transaction cannot do.
CREATE INDEX IF NOT EXISTS executions_finished ON executions (finished_at) WHERE finished_at IS NOT NULL;
