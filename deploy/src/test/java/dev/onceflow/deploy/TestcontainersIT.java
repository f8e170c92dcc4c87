package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.workflow.Workflow;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.kafka.KafkaContainer;
import org.testcontainers.postgresql.PostgreSQLContainer;

/**
 * The same guarantee on Kafka and PostgreSQL images, where Docker is available. Without Docker
 * the class is skipped (reported as skipped, not passed).
 */
@Testcontainers(disabledWithoutDocker = true)
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class TestcontainersIT {

    @Container
    static final KafkaContainer KAFKA = new KafkaContainer("apache/kafka:4.1.0");

    @Container
    static final PostgreSQLContainer POSTGRES = new PostgreSQLContainer("postgres:17-alpine");

    @Test
    void eventPublishedFiveTimesCreatesOneExecutionOnContainers() throws Exception {
        TestInfra infra = new TestInfra(KAFKA.getBootstrapServers(), POSTGRES.getJdbcUrl(), POSTGRES.getUsername(),
                POSTGRES.getPassword(), java.nio.file.Files.createTempDirectory("onceflow-tc-"));
        try (Fleet fleet = new Fleet(infra)) {
            Workflow wf = fleet.deployThreeNode(Fleet.uniqueId("tc"));
            fleet.startDispatcher();
            fleet.startEngine(2);
            for (int i = 0; i < 5; i++) {
                fleet.publish(wf.id(), "tc-1", Fleet.data(2));
            }
            fleet.flush();
            await().atMost(Duration.ofMinutes(2)).until(() -> fleet.finished(wf.id()) == 1);
            assertThat(fleet.executions(wf.id())).isEqualTo(1);
            assertThat(fleet.effects(wf.id())).isEqualTo(2);
            assertThat(fleet.duplicateEffects(wf.id())).isZero();
        }
    }
}
