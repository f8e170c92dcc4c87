-- ADR 0022: limits beyond a lane's order: concurrency.total, rateLimit, debounce keep "first".

-- The workflow's concurrency.total when the event was born (NULL: no fleet-wide limit), so a
-- finish or a cancel knows, without a workflow lookup, that it frees a slot of the whole workflow.
ALTER TABLE executions ADD COLUMN total integer;

-- A workflow's unfinished executions under a total, oldest first: what admission counts and picks from.
-- IF NOT EXISTS: on a large table, build it beforehand with CREATE INDEX CONCURRENTLY.
CREATE INDEX IF NOT EXISTS executions_total ON executions (workflow_id, id)
    WHERE finished_at IS NULL AND total IS NOT NULL;

-- A rate limit's bucket ('w:<workflow>' or 'k:<ordering key>'), as the generic cell rate algorithm
-- keeps it: the theoretical arrival time of the next start. A bucket whose tat has passed is a full
-- one, the same as no row, so retention deletes those.
CREATE TABLE rate_buckets (
    bucket     text PRIMARY KEY,
    tat        timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Debounce keep "first": the execution a lane kept, and until when the events of its lane are
-- superseded by it. Past 'until' a row means nothing, so retention deletes those.
CREATE TABLE debounce_windows (
    ordering_key text PRIMARY KEY,
    execution_id bigint NOT NULL,
    event_key    text NOT NULL,
    until        timestamptz NOT NULL
);
