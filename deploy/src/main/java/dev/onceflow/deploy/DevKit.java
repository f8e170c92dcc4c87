package dev.onceflow.deploy;

import java.util.List;

/**
 * The embedded Kafka broker and PostgreSQL that {@code dev}, {@code chaos} and {@code bench} start live in
 * onceflow-dev.jar, not in the product jar (onceflow.jar, the image's jar): onceflow.jar's manifest names
 * onceflow-dev.jar in its Class-Path, so they are there when the two jars lie side by side (deploy/target after
 * a build) and missing when onceflow.jar runs alone. This check turns the NoClassDefFoundError such a command
 * would end with, halfway through starting, into one message at its start saying what is missing and where it
 * comes from. Stateless.
 */
public final class DevKit {

    /** One class of each embedded part; loading (not initialising) them is enough to know the jar is there. */
    static final List<String> EMBEDDED_CLASSES = List.of(
            "io.zonky.test.db.postgres.embedded.EmbeddedPostgres",
            "kafka.server.KafkaRaftServer");

    private DevKit() {
    }

    /**
     * @param command the onceflow command that needs the embedded infrastructure, for the message
     * @throws IllegalStateException when a class of the embedded broker or PostgreSQL cannot be loaded
     */
    public static void require(String command) {
        ClassLoader loader = DevKit.class.getClassLoader();
        for (String name : EMBEDDED_CLASSES) {
            try {
                Class.forName(name, false, loader);
            } catch (ClassNotFoundException | LinkageError e) {
                throw new IllegalStateException("onceflow " + command + " needs the embedded Kafka broker and PostgreSQL of"
                        + " onceflow-dev.jar beside onceflow.jar (build from source: mvn -B -q -DskipTests package); the"
                        + " product jar ships the roles and the operator commands only", e);
            }
        }
    }
}
