-- Onceflow core schema. See docs/adr/0001-exactly-once-protocol.md.

CREATE TABLE workflows (
    id          text        NOT NULL,
    version     integer     NOT NULL CHECK (version >= 1),
    definition  jsonb       NOT NULL,
    enabled     boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, version)
);

-- One event, one execution: the unique event key is the single winner of any race.
CREATE TABLE executions (
    id               bigserial   PRIMARY KEY,
    event_key        text        NOT NULL UNIQUE,
    workflow_id      text        NOT NULL,
    workflow_version integer     NOT NULL,
    status           text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    trigger          jsonb       NOT NULL,
    vars             jsonb       NOT NULL DEFAULT '{}'::jsonb,
    source           text,
    published_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    error            text
);
CREATE INDEX executions_unfinished ON executions (created_at) WHERE finished_at IS NULL;
CREATE INDEX executions_workflow ON executions (workflow_id, created_at);

-- One node, one effect: the row is inserted in the same transaction as the node's effects and is
-- the durable proof and the outcome of one node run. `next` holds the follow-up node ids chosen,
-- so a redelivered task re-emits exactly the same follow-ups without running the node again.
CREATE TABLE processed_keys (
    key          text        PRIMARY KEY,
    execution_id bigint      NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    node_id      text        NOT NULL,
    path         text        NOT NULL DEFAULT '',
    status       text        NOT NULL CHECK (status IN ('started', 'succeeded', 'failed')),
    attempt      integer     NOT NULL DEFAULT 1,
    output       jsonb,
    next         jsonb,
    error        text,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX processed_keys_execution ON processed_keys (execution_id);
