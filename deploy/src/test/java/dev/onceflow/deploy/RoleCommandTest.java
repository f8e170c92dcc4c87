package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.dispatcher.CaptureStatus;
import java.util.List;
import org.junit.jupiter.api.Test;

class RoleCommandTest {

    @Test
    void statusLineShowsTheCaptureOnlyWhereThereIsSomethingToSay() {
        assertThat(RoleCommand.captureLine(null)).isEmpty();
        assertThat(RoleCommand.captureLine(new CaptureStatus("STANDBY", "onceflow", List.of(), false, 0, 0, null))).isEmpty();
        assertThat(RoleCommand.captureLine(new CaptureStatus("LEADING", "onceflow", List.of("public.orders"), true, 12, 10, null)))
                .isEqualTo("; row-change capture LEADING slot=onceflow tables=[public.orders] changes=12 events=10");
        assertThat(RoleCommand.captureLine(new CaptureStatus("LEADING", "onceflow", List.of(), false, 0, 0,
                "table public.x does not exist"))).endsWith("PROBLEM: table public.x does not exist");
    }

    @Test
    void processNamesAreUniquePerHostAndPidAndValidAsKafkaClientIds() {
        assertThat(RoleCommand.processName("engine", "onceflow-engine-7c9f", 4711)).isEqualTo("engine-onceflow-engine-7c9f-4711");
        assertThat(RoleCommand.processName("engine", "worker3.svc.cluster.local", 12)).isEqualTo("engine-worker3-12");
        assertThat(RoleCommand.processName("engine", "10.0.0.7", 12)).isEqualTo("engine-10.0.0.7-12");
        assertThat(RoleCommand.processName("dispatcher", "my host:1", 5)).isEqualTo("dispatcher-my-host-1-5");
        assertThat(RoleCommand.processName("engine", "", 5)).isEqualTo("engine-localhost-5");
        assertThat(RoleCommand.processName("engine", "h", 1)).isNotEqualTo(RoleCommand.processName("engine", "h", 2));
        assertThat(RoleCommand.processName("engine")).matches("engine-[A-Za-z0-9._-]+-" + ProcessHandle.current().pid());
    }

    @Test
    void onlyConnectionProblemsAreWaitedFor() {
        assertThat(RoleCommand.transientSqlState("08001")).isTrue();  // connection refused, unknown host
        assertThat(RoleCommand.transientSqlState("08006")).isTrue();  // connection failure
        assertThat(RoleCommand.transientSqlState("57P03")).isTrue();  // the database system is starting up
        assertThat(RoleCommand.transientSqlState("53300")).isTrue();  // too many connections
        assertThat(RoleCommand.transientSqlState("28P01")).isFalse(); // wrong password
        assertThat(RoleCommand.transientSqlState("3D000")).isFalse(); // no such database
        assertThat(RoleCommand.transientSqlState(null)).isFalse();
    }

    @Test
    void anUnreachableBrokerIsNamedByAddress() throws Exception {
        int closedPort;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        assertThat(RoleCommand.unreachable("localhost:" + closedPort, 1000))
                .startsWith("localhost:" + closedPort + " (").contains("refused");
        assertThat(RoleCommand.unreachable("nonsense", 1000)).isEqualTo("nonsense (not host:port)");
        try (java.net.ServerSocket open = new java.net.ServerSocket(0)) {
            assertThat(RoleCommand.unreachable("localhost:" + closedPort + ", localhost:" + open.getLocalPort(), 1000)).isNull();
        }
    }

    @Test
    void pgjdbcsConnectionMessageIsCutToItsFirstSentence() {
        assertThat(RoleCommand.firstSentence("Connection to db:5432 refused. Check that the hostname and port are correct and that"
                + " the postmaster is accepting TCP/IP connections.")).isEqualTo("Connection to db:5432 refused.");
        assertThat(RoleCommand.firstSentence("The connection attempt failed.")).isEqualTo("The connection attempt failed.");
        assertThat(RoleCommand.firstSentence(null)).isEqualTo("no message");
    }

    @Test
    void jdbcUrlsAreLoggedWithoutTheirQuery() {
        assertThat(RoleCommand.withoutQuery("jdbc:postgresql://db:5432/app?password=secret")).isEqualTo("jdbc:postgresql://db:5432/app");
        assertThat(RoleCommand.withoutQuery("jdbc:postgresql://db/app")).isEqualTo("jdbc:postgresql://db/app");
    }

    @Test
    void devCreatesTheUserTopicsOfEnabledKafkaWorkflowsOnly() {
        java.util.function.BiFunction<String, String, dev.onceflow.common.workflow.Workflow> wf = (id, trigger) -> {
            try {
                return dev.onceflow.common.workflow.Workflows.parse(id, ("{\"id\": \"" + id + "\", \"trigger\": " + trigger
                        + ", \"nodes\": [{\"type\": \"end\", \"id\": \"done\", \"status\": \"succeeded\"}]}")
                        .getBytes(java.nio.charset.StandardCharsets.UTF_8));
            } catch (dev.onceflow.common.workflow.DefinitionException e) {
                throw new AssertionError(e.getMessage(), e);
            }
        };
        List<dev.onceflow.common.WorkflowStore.Stored> stored = List.of(
                new dev.onceflow.common.WorkflowStore.Stored(wf.apply("signups", "{\"type\": \"kafka\", \"topic\": \"demo.signups\"}"), true),
                new dev.onceflow.common.WorkflowStore.Stored(wf.apply("signups-2", "{\"type\": \"kafka\", \"topic\": \"demo.signups\"}"), true),
                new dev.onceflow.common.WorkflowStore.Stored(wf.apply("old", "{\"type\": \"kafka\", \"topic\": \"legacy.orders\"}"), false),
                new dev.onceflow.common.WorkflowStore.Stored(wf.apply("orders", "{\"type\": \"kafka\"}"), true),
                new dev.onceflow.common.WorkflowStore.Stored(wf.apply("clicks", "{\"type\": \"kafka\", \"topic\": \"a.clicks\"}"), true),
                new dev.onceflow.common.WorkflowStore.Stored(wf.apply("refunds", "{\"type\": \"api\"}"), true));
        assertThat(LocalInfra.userTopics(stored)).containsExactly("a.clicks", "demo.signups");
    }

    @Test
    void engineStatusLineNamesItsProblems() {
        dev.onceflow.engine.EngineMetrics m = new dev.onceflow.engine.EngineMetrics();
        assertThat(RoleCommand.engineLine(m, java.util.List.of())).doesNotContain("PROBLEMS");
        assertThat(RoleCommand.engineLine(m, java.util.List.of("onceflow.events-0: no progress for 95 s", "3 executions")))
                .contains("PROBLEMS: onceflow.events-0: no progress for 95 s | 3 executions");
    }
}
