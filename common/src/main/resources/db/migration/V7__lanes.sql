-- ADR 0021: lanes. The executions of one ordering key (ADR 0020) start in order, at most per_key
-- at a time; the others wait 'queued'. The lane's state is the executions themselves (how many of
-- its unfinished ones run), read under a transaction-scoped advisory lock on the ordering key, so
-- there are no counters to drift and nothing to rebuild after a crash or a rebalance.

-- NULL for an execution without a lane (order "none", no derivable key, created before V7).
-- Debounce: a queued execution is not admitted before not_before; debounce_from is when its burst
-- began (maxMs bounds a burst from there); superseded_by names the execution that replaced it.
ALTER TABLE executions ADD COLUMN ordering_key text, ADD COLUMN per_key integer, ADD COLUMN not_before timestamptz,
    ADD COLUMN debounce_from timestamptz, ADD COLUMN superseded_by bigint;

-- 'queued': created, waiting for its turn in its lane; not finished. 'superseded': replaced by a
-- later event of its lane within its workflow's debounce window; finished, never ran.
-- NOT VALID, then VALIDATE: the check of existing rows does not hold the table's exclusive lock.
ALTER TABLE executions DROP CONSTRAINT executions_status_check;
ALTER TABLE executions ADD CONSTRAINT executions_status_check
    CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled', 'queued', 'superseded')) NOT VALID;
ALTER TABLE executions VALIDATE CONSTRAINT executions_status_check;

-- A lane: its unfinished executions in lane order (ids are taken under the lane's lock).
-- IF NOT EXISTS: on a large table, build it beforehand with CREATE INDEX CONCURRENTLY.
CREATE INDEX IF NOT EXISTS executions_lane ON executions (ordering_key, id)
    WHERE finished_at IS NULL AND ordering_key IS NOT NULL;

-- 'start': the start task of a queued execution, not due ('infinity') until its lane admits it
-- (or, debounced, due at not_before, when its lane is asked again).
ALTER TABLE timers DROP CONSTRAINT timers_kind_check;
ALTER TABLE timers ADD CONSTRAINT timers_kind_check CHECK (kind IN ('delay', 'retry', 'lease', 'start')) NOT VALID;
ALTER TABLE timers VALIDATE CONSTRAINT timers_kind_check;
