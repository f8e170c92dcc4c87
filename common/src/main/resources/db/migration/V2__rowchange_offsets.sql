-- The row-change source's Debezium offsets (ADR 0008): one row per offset key of one capture
-- (a replication slot). Written after the events of the changes up to that offset were
-- acknowledged by Kafka, so a crash replays changes (absorbed by their event keys), never skips them.
CREATE TABLE rowchange_offsets (
    slot         text        NOT NULL,
    offset_key   bytea       NOT NULL,
    offset_value bytea,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (slot, offset_key)
);
