-- Tables the example workflows write to. demo_effects deliberately has NO unique constraint:
-- a node that ran twice leaves two rows, which `onceflow dev` counts as duplicate_effects.
CREATE TABLE IF NOT EXISTS demo_effects (
    id         bigserial   PRIMARY KEY,
    event_key  text        NOT NULL,
    node       text        NOT NULL,
    amount     numeric,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS demo_effects_key ON demo_effects (event_key, node);
