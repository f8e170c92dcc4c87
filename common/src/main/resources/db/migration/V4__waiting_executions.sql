-- ADR 0013: executions that wait (timers), branch (parallel joins, loops) and retry.

-- A node that ran but whose follow-ups wait on a timer (a delay) is 'waiting' until it fires.
ALTER TABLE processed_keys DROP CONSTRAINT processed_keys_status_check;
ALTER TABLE processed_keys ADD CONSTRAINT processed_keys_status_check
    CHECK (status IN ('started', 'waiting', 'succeeded', 'failed'));

-- Durable timers: fired by the engine worker that owns task_partition of onceflow.tasks. One per
-- processed key and kind (an http call's lease and its retry's backoff are both the key's).
CREATE TABLE timers (
    key            text        NOT NULL,
    execution_id   bigint      NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    task_partition integer     NOT NULL,
    kind           text        NOT NULL CHECK (kind IN ('delay', 'retry', 'lease')),
    due_at         timestamptz NOT NULL,
    fired_at       timestamptz,
    tasks          jsonb       NOT NULL,
    PRIMARY KEY (key, kind)
);
CREATE INDEX timers_due ON timers (task_partition, due_at) WHERE fired_at IS NULL;
CREATE INDEX timers_execution ON timers (execution_id);

-- One row per branch (parallel) or iteration (loop) that reached its end; counted once.
CREATE TABLE branch_arrivals (
    owner_key    text        NOT NULL,
    branch       integer     NOT NULL,
    execution_id bigint      NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    output       jsonb,
    arrived_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_key, branch)
);
CREATE INDEX branch_arrivals_execution ON branch_arrivals (execution_id);
