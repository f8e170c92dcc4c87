package dev.onceflow.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.common.Migrations;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.local.LocalPostgres;
import dev.onceflow.common.workflow.Trigger;
import dev.onceflow.common.workflow.Workflows;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.util.Map;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The catalog over a real workflows table, where one stored definition no longer parses. */
@Timeout(120)
class StoreCatalogIT {

    @TempDir
    Path dir;

    @Test
    void storedDefinitionThatNoLongerParsesIsSkippedAndTheOthersAreServed() throws Exception {
        try (LocalPostgres pg = LocalPostgres.start(dir.resolve("postgres"))) {
            DataSource ds = pg.dataSource();
            Migrations.apply(ds);
            WorkflowStore store = new WorkflowStore(ds);
            store.deploy(Workflows.parse("good", """
                    {"id": "good", "nodes": [{"type": "end", "id": "done", "status": "succeeded"}]}"""
                    .getBytes(StandardCharsets.UTF_8)));
            store.deploy(Workflows.parse("ticks", """
                    {"id": "ticks", "trigger": {"type": "schedule", "cron": "0 * * * *"},
                     "nodes": [{"type": "end", "id": "done", "status": "succeeded"}]}""".getBytes(StandardCharsets.UTF_8)));
            // As stored by an older version, or edited in the table: a node type this version does not know.
            try (Connection c = ds.getConnection();
                 PreparedStatement ins = c.prepareStatement(
                         "INSERT INTO workflows (id, version, definition, enabled) VALUES ('legacy', 2, ?::jsonb, true)")) {
                ins.setString(1, "{\"id\": \"legacy\", \"version\": 2, \"nodes\": [{\"type\": \"teleport\", \"id\": \"x\"}]}");
                ins.executeUpdate();
            }

            try (StoreCatalog catalog = new StoreCatalog(ds, OnceflowConfig.of(Map.of("dispatcher.catalog.refresh.ms", "100000")))) {
                assertThat(catalog.snapshot()).containsOnlyKeys("good", "ticks");
                assertThat(catalog.find("ticks").orElseThrow().trigger()).isInstanceOf(Trigger.Schedule.class);
                assertThat(catalog.find("legacy")).isEmpty();
            }
        }
    }
}
