-- ADR 0017: the console's figures. Each process's cumulative count of duplicates absorbed, by
-- layer ('dispatcher', 'execution_key', 'processed_key'); upserted every few seconds by its
-- process (never in an engine batch's transaction), summed by the dispatchers. Rows of processes
-- gone for an hour are folded into process 'retired', so the sums never decrease.
CREATE TABLE absorbed_duplicates (
    process    text        NOT NULL,
    layer      text        NOT NULL CHECK (layer IN ('dispatcher', 'execution_key', 'processed_key')),
    absorbed   bigint      NOT NULL CHECK (absorbed >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (process, layer)
);
