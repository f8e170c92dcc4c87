package dev.onceflow.deploy.proof;

import dev.onceflow.engine.EngineHooks;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The chaos run's crash between the two commits, in a real engine process: when the file
 * {@code trigger} appears, the next worker to commit a batch of records to PostgreSQL (or whose
 * long statements committed in their own transactions, ADR 0021) takes the file away and halts the
 * JVM ({@link Runtime#halt}, as a kill -9 would end it) before its Kafka transaction begins. The batch's records are then delivered again to whichever engine takes the
 * partitions: with processed keys each node's effect stays once, and the unsafe negative control
 * runs them twice, every time. Installed only by the hidden engine option
 * {@code --halt-between-commits FILE} that {@link ChaosFleet} gives its engines; never in
 * production. Thread-safe: the file's deletion picks one worker.
 */
public final class HaltBetweenCommits implements EngineHooks {

    private static final Logger LOG = LoggerFactory.getLogger(HaltBetweenCommits.class);
    /** The exit status of the halt, so the chaos run tells it from other exits. */
    public static final int EXIT_STATUS = 86;

    private final Path trigger;

    public HaltBetweenCommits(Path trigger) {
        this.trigger = trigger;
    }

    @Override
    public void afterDatabaseCommit(String worker, int records) {
        if (records > 0) {
            haltIfAsked(worker, records + " records");
        }
    }

    /** The same fault after long statements committed in their own transactions (ADR 0021). */
    @Override
    public void afterLongStatements(String worker, java.util.List<String> keys) {
        haltIfAsked(worker, keys.size() + " long statements");
    }

    private void haltIfAsked(String worker, String what) {
        try {
            if (Files.deleteIfExists(trigger)) {
                LOG.error("{}: halting after the PostgreSQL commit of {}, before their Kafka transaction (chaos fault)", worker, what);
                System.out.flush();
                Runtime.getRuntime().halt(EXIT_STATUS);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
