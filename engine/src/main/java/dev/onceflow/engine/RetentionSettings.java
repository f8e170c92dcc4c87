package dev.onceflow.engine;

import dev.onceflow.common.OnceflowConfig;

/**
 * What retention keeps and how it works (ADR 0015), read once from {@link OnceflowConfig}. Both
 * times count from an execution's {@code finished_at}. Immutable.
 *
 * @param historyMs  a finished execution and its node history are removed this long after it finished
 * @param horizonMs  the dedupe horizon: its event key absorbs duplicates this long after it finished
 * @param batchSize  executions removed, or retired keys expired, per transaction
 * @param intervalMs time between two passes of one runner
 */
record RetentionSettings(long historyMs, long horizonMs, int batchSize, long intervalMs) {

    RetentionSettings {
        if (historyMs <= 0 || batchSize <= 0 || intervalMs <= 0) {
            throw new IllegalArgumentException("retention times, batch size and interval must be positive: history " + historyMs
                    + " ms, batch " + batchSize + ", interval " + intervalMs + " ms");
        }
        if (horizonMs < historyMs) {
            throw new IllegalArgumentException(OnceflowConfig.RETENTION_KEYS_MS.name() + " (" + horizonMs + ") must be at least "
                    + OnceflowConfig.RETENTION_EXECUTIONS_MS.name() + " (" + historyMs + ")");
        }
    }

    static RetentionSettings from(OnceflowConfig config) {
        return new RetentionSettings(config.getLong(OnceflowConfig.RETENTION_EXECUTIONS_MS),
                config.getLong(OnceflowConfig.RETENTION_KEYS_MS), config.getInt(OnceflowConfig.RETENTION_BATCH_SIZE),
                config.getLong(OnceflowConfig.RETENTION_INTERVAL_MS));
    }

    /** For log lines: {@code 7d}, {@code 36h}, {@code 90s}, {@code 1500ms}; the largest unit that divides it evenly. */
    static String human(long ms) {
        if (ms % 86_400_000L == 0) {
            return ms / 86_400_000L + "d";
        }
        if (ms % 3_600_000L == 0) {
            return ms / 3_600_000L + "h";
        }
        if (ms % 60_000L == 0) {
            return ms / 60_000L + "min";
        }
        if (ms % 1_000L == 0) {
            return ms / 1_000L + "s";
        }
        return ms + "ms";
    }
}
