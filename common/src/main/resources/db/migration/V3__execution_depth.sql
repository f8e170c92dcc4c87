-- ADR 0011: how many row changes made by executions led to this one (0: started from outside).
ALTER TABLE executions ADD COLUMN depth integer NOT NULL DEFAULT 0;
