package dev.onceflow.common.local;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real single-node Kafka broker (KRaft, broker and controller combined) running inside this JVM,
 * for {@code onceflow dev} and the tests. Storage is formatted with Kafka's own {@code StorageTool}
 * and the server is Kafka's own {@code KafkaRaftServer}: the same code as a production broker,
 * with replication factors of 1.
 */
public final class LocalKafka implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(LocalKafka.class);

    private final Path dir;
    private final int port;
    private final KafkaRaftServer server;

    private LocalKafka(Path dir, int port, KafkaRaftServer server) {
        this.dir = dir;
        this.port = port;
        this.server = server;
    }

    /** Formats {@code dir} (when empty) and starts a broker on a free port. */
    public static LocalKafka start(Path dir) {
        return start(dir, Map.of());
    }

    /** As {@link #start(Path)}, with extra broker settings that override the defaults. */
    public static LocalKafka start(Path dir, Map<String, String> overrides) {
        long began = System.nanoTime();
        try {
            Files.createDirectories(dir);
            int port = freePort();
            int controllerPort = freePort();
            Map<String, String> props = brokerProperties(dir.resolve("logs"), port, controllerPort);
            props.putAll(overrides);
            Path file = dir.resolve("server.properties");
            Properties p = new Properties();
            p.putAll(props);
            try (OutputStream out = Files.newOutputStream(file)) {
                p.store(out, "onceflow local broker");
            }
            format(file);
            KafkaRaftServer server = new KafkaRaftServer(KafkaConfig.fromProps(p, false), Time.SYSTEM);
            server.startup();
            LOG.info("Local Kafka broker on localhost:{} started in {} ms (data in {})", port,
                    (System.nanoTime() - began) / 1_000_000, dir);
            return new LocalKafka(dir, port, server);
        } catch (IOException e) {
            throw new IllegalStateException("Could not start the local Kafka broker in " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * The settings of a one-node broker: one replica everywhere, and the fast-restart settings of
     * the design (short broker session, single-partition internal topics).
     */
    public static Map<String, String> brokerProperties(Path logDir, int port, int controllerPort) {
        Map<String, String> p = new TreeMap<>();
        p.put("process.roles", "broker,controller");
        p.put("node.id", "1");
        p.put("controller.quorum.voters", "1@localhost:" + controllerPort);
        p.put("listeners", "PLAINTEXT://localhost:" + port + ",CONTROLLER://localhost:" + controllerPort);
        p.put("advertised.listeners", "PLAINTEXT://localhost:" + port);
        p.put("controller.listener.names", "CONTROLLER");
        p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        p.put("inter.broker.listener.name", "PLAINTEXT");
        p.put("log.dirs", logDir.toAbsolutePath().toString());
        p.put("num.partitions", "6");
        p.put("offsets.topic.replication.factor", "1");
        p.put("offsets.topic.num.partitions", "1");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("transaction.state.log.num.partitions", "1");
        p.put("share.coordinator.state.topic.replication.factor", "1");
        p.put("share.coordinator.state.topic.min.isr", "1");
        p.put("group.initial.rebalance.delay.ms", "0");
        p.put("broker.session.timeout.ms", "2000");
        p.put("broker.heartbeat.interval.ms", "500");
        p.put("auto.create.topics.enable", "false");
        p.put("log.segment.bytes", String.valueOf(64 * 1024 * 1024));
        return p;
    }

    /**
     * The settings of node {@code nodeId} of a multi-node cluster, every node a combined broker and
     * controller: {@link #brokerProperties} with this node's id, the quorum {@code voters}
     * ({@code controller.quorum.voters}, e.g. {@code 1@localhost:9093,2@localhost:9095,3@localhost:9097})
     * and replication: {@code replicas} copies of every topic (internal ones included) and
     * {@code minInsync} of them needed to acknowledge a write with {@code acks=all}.
     */
    public static Map<String, String> clusterProperties(int nodeId, String voters, Path logDir, int port, int controllerPort,
                                                        int replicas, int minInsync) {
        Map<String, String> p = brokerProperties(logDir, port, controllerPort);
        String r = String.valueOf(replicas);
        String isr = String.valueOf(minInsync);
        p.put("node.id", String.valueOf(nodeId));
        p.put("controller.quorum.voters", voters);
        p.put("default.replication.factor", r);
        p.put("min.insync.replicas", isr);
        p.put("offsets.topic.replication.factor", r);
        p.put("transaction.state.log.replication.factor", r);
        p.put("transaction.state.log.min.isr", isr);
        p.put("share.coordinator.state.topic.replication.factor", r);
        p.put("share.coordinator.state.topic.min.isr", isr);
        p.put("unclean.leader.election.enable", "false");
        return p;
    }

    /** Formats the log directory named in {@code serverProperties}; a formatted directory is kept. */
    public static void format(Path serverProperties) {
        format(serverProperties, Uuid.randomUuid().toString());
    }

    /** As {@link #format(Path)}, with the given cluster id: every node of one cluster is formatted with the same one. */
    public static void format(Path serverProperties, String clusterId) {
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        int rc;
        try (PrintStream out = new PrintStream(buffer, true, StandardCharsets.UTF_8)) {
            rc = kafka.tools.StorageTool.execute(new String[] {
                "format", "--config", serverProperties.toString(), "--cluster-id", clusterId,
                "--ignore-formatted"}, out);
        }
        if (rc != 0) {
            throw new IllegalStateException("Formatting Kafka storage failed (" + rc + "): " + buffer.toString(StandardCharsets.UTF_8));
        }
    }

    public static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            socket.setReuseAddress(true);
            return socket.getLocalPort();
        }
    }

    public String bootstrapServers() {
        return "localhost:" + port;
    }

    public Path dir() {
        return dir;
    }

    @Override
    public void close() {
        server.shutdown();
        server.awaitShutdown();
        LOG.info("Local Kafka broker on localhost:{} stopped", port);
    }
}
