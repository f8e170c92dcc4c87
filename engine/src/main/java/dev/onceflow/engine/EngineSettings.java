package dev.onceflow.engine;

import dev.onceflow.common.OnceflowConfig;
import java.util.Map;

/**
 * The configuration snapshot of an engine, read once from {@link OnceflowConfig}.
 *
 * @param httpConcurrency {@code http} calls in flight per worker ({@link HttpCalls})
 * @param sqlInlineMs     how long a statement may run on the poll thread before it is handed off ({@link LongStatements})
 * @param sqlLongConcurrency long statements running at once per worker, each on its own connection
 * @param leaseGraceMs    how long past its timeout a claimed call or long statement may stay unrecorded ({@link ApplyOutcome})
 * @param unsafe the negative control: no processed-key check. Never in production.
 */
record EngineSettings(String bootstrapServers, String groupId, String transactionalIdPrefix, int workers,
                      int maxPollRecords, long sqlTimeoutMs, int poisonMaxAttempts, long transactionTimeoutMs,
                      long idleInTransactionTimeoutMs, long stallReportMs, long hangingTransactionAbortMs,
                      long stuckExecutionReportMs, long timerPollMs, java.util.List<String> httpAllowedHosts,
                      int httpConcurrency, long sqlInlineMs, int sqlLongConcurrency, long leaseGraceMs, Map<String, Object> consumerOverrides,
                      Map<String, Object> producerOverrides, Map<String, Object> adminOverrides, boolean unsafe) {

    EngineSettings {
        if (hangingTransactionAbortMs >= 0 && hangingTransactionAbortMs < 3 * transactionTimeoutMs) {
            throw new IllegalArgumentException("engine.hanging.transaction.abort.ms (" + hangingTransactionAbortMs
                    + ") must be -1 or at least three times engine.transaction.timeout.ms (" + transactionTimeoutMs
                    + "): a transaction younger than that may still be committed by its producer");
        }
    }

    static EngineSettings from(OnceflowConfig config, boolean unsafe) {
        return new EngineSettings(config.get(OnceflowConfig.KAFKA_BOOTSTRAP), config.get(OnceflowConfig.ENGINE_GROUP),
                "onceflow-engine", config.getInt(OnceflowConfig.ENGINE_WORKERS), config.getInt(OnceflowConfig.ENGINE_MAX_POLL),
                config.getLong(OnceflowConfig.ENGINE_SQL_TIMEOUT), config.getInt(OnceflowConfig.ENGINE_POISON_ATTEMPTS),
                config.getLong(OnceflowConfig.ENGINE_TRANSACTION_TIMEOUT), config.getLong(OnceflowConfig.ENGINE_IDLE_TX_TIMEOUT),
                config.getLong(OnceflowConfig.ENGINE_STALL_REPORT), config.getLong(OnceflowConfig.ENGINE_HANGING_TX_ABORT),
                config.getLong(OnceflowConfig.ENGINE_STUCK_REPORT), config.getLong(OnceflowConfig.ENGINE_TIMER_POLL),
                java.util.Arrays.stream(config.get(OnceflowConfig.ENGINE_HTTP_ALLOWED_HOSTS).split(",")).map(String::trim)
                        .filter(h -> !h.isEmpty()).toList(),
                config.getInt(OnceflowConfig.ENGINE_HTTP_CONCURRENCY), config.getLong(OnceflowConfig.ENGINE_SQL_INLINE),
                config.getInt(OnceflowConfig.ENGINE_SQL_LONG_CONCURRENCY), config.getLong(OnceflowConfig.ENGINE_LEASE_GRACE),
                config.clientSettings("kafka.consumer."),
                config.clientSettings("kafka.producer."), config.clientSettings("kafka.admin."), unsafe);
    }
}
