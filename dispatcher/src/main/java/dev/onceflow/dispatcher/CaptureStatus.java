package dev.onceflow.dispatcher;

import java.util.List;

/**
 * What a dispatcher's row-change capture is doing, for operators and tests.
 *
 * @param state   {@code STANDBY} (another dispatcher leads, or nothing to capture), {@code LEADING} or {@code CLOSED}
 * @param slot    the replication slot
 * @param tables  the tables being captured (empty unless leading)
 * @param streaming true once Debezium's task runs: the slot exists and every change committed from then on is read
 * @param changes row changes read by this dispatcher
 * @param events  events it published for them (one per matching workflow)
 * @param problem what a person must fix (wal_level, a missing table), or null
 */
public record CaptureStatus(String state, String slot, List<String> tables, boolean streaming, long changes, long events, String problem) {

    public CaptureStatus {
        tables = List.copyOf(tables);
    }

    public boolean leading() {
        return "LEADING".equals(state);
    }

    /** Leading and reading changes of {@code table} ({@code schema.table}). */
    public boolean capturing(String table) {
        return leading() && streaming && tables.contains(table);
    }
}
