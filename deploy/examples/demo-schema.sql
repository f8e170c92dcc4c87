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

-- The table the table-triggered example (demo-order-status.json) watches. It lives in the same
-- database here; dispatcher.table.db.url can point the capture at another one. The primary key
-- is part of each change's event key (…#lsn:txId:public.demo_shop_orders:id).
CREATE TABLE IF NOT EXISTS demo_shop_orders (
    id         bigint        PRIMARY KEY,
    status     text          NOT NULL,
    channel    text          NOT NULL DEFAULT 'web',
    amount     numeric(10,2) NOT NULL,
    note       text,
    updated_at timestamptz   NOT NULL DEFAULT now()
);
