package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.jar.Attributes;
import java.util.jar.JarFile;
import java.util.jar.Manifest;
import java.util.regex.Pattern;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The artifacts a build leaves in deploy/target (failsafe runs after package): the product jar onceflow.jar, what a
 * container ships, within its size budget and without the embedded PostgreSQL and Kafka broker or other platforms'
 * natives; the dev artifact onceflow-dev.jar beside it holding exactly those; the product jar alone running the
 * commands it ships and refusing dev with a message instead of a NoClassDefFoundError; the launcher bin/onceflow
 * finding the jar, passing JAVA_OPTS, and replacing itself with java. Reads the jars' directories and starts a few
 * short JVMs: seconds.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ArtifactsIT {

    /** The product jar's budget (issue 18): a release of it was 252 MiB, with PostgreSQL for four platforms in it. */
    static final long PRODUCT_BUDGET_BYTES = 80L * 1024 * 1024;

    private static final Path ROOT = repositoryRoot();
    private static final Path PRODUCT = ROOT.resolve("deploy/target/onceflow.jar");
    private static final Path DEV = ROOT.resolve("deploy/target/onceflow-dev.jar");
    private static final Path LAUNCHER = ROOT.resolve("bin/onceflow");
    private static final String BUILD_HINT = "mvn -B -q -DskipTests package";

    /** The native libraries' suffixes (JNI libraries of rocksdbjni, zstd-jni, snappy-java, lz4-java; AIX archives). */
    private static final Pattern NATIVE = Pattern.compile(".*\\.(so|dll|dylib|jnilib|a)$");
    /** A native for linux x86_64 or aarch64 with glibc, in each library's own naming; musl builds are other platforms. */
    private static final Pattern LINUX_GLIBC = Pattern.compile(
            "(librocksdbjni-linux64\\.so|librocksdbjni-linux-aarch64\\.so"
                    + "|linux/(amd64|aarch64)/[^/]+\\.so|org/xerial/snappy/native/Linux/(x86_64|aarch64)/[^/]+\\.so"
                    + "|net/jpountz/util/linux/(amd64|aarch64)/[^/]+\\.so)");

    @Test
    void theProductJarStaysWithinItsBudget() throws IOException {
        assertThat(Files.size(PRODUCT)).as("size of %s in bytes (budget %d MiB)", PRODUCT, PRODUCT_BUDGET_BYTES >> 20)
                .isLessThanOrEqualTo(PRODUCT_BUDGET_BYTES);
    }

    @Test
    void theProductJarHoldsTheRolesButNeitherTheEmbeddedPostgresNorTheBroker() {
        List<String> entries = entries(PRODUCT);
        assertThat(entries).contains("dev/onceflow/deploy/Onceflow.class", "dev/onceflow/dispatcher/Dispatcher.class",
                "dev/onceflow/engine/Engine.class", "org/rocksdb/RocksDB.class", "org/postgresql/Driver.class");
        assertThat(embeddedInfrastructure(entries)).isEmpty();
    }

    @Test
    void theProductJarCarriesNativesForLinuxX8664AndAarch64Only() {
        List<String> natives = entries(PRODUCT).stream().filter(e -> NATIVE.matcher(e).matches()).toList();
        assertThat(otherPlatformNatives(natives)).isEmpty();
        // The dispatcher's dedupe store cannot start without RocksDB's native: both platforms are there.
        assertThat(natives).contains("librocksdbjni-linux64.so", "librocksdbjni-linux-aarch64.so");
    }

    @Test
    void theProductJarsManifestRunsOnceflowAndNamesTheDevArtifactBesideIt() throws IOException {
        try (JarFile jar = new JarFile(PRODUCT.toFile())) {
            Attributes main = jar.getManifest().getMainAttributes();
            assertThat(main.getValue(Attributes.Name.MAIN_CLASS)).isEqualTo(Onceflow.class.getName());
            assertThat(main.getValue(Attributes.Name.CLASS_PATH)).isEqualTo(DEV.getFileName().toString());
            assertThat(main.getValue(Attributes.Name.IMPLEMENTATION_VERSION)).matches("\\d+\\.\\d+\\.\\d+.*");
            assertThat(main.getValue("Multi-Release")).isEqualTo("true");
        }
    }

    @Test
    void theDevArtifactHoldsWhatTheProductLeavesOutAndNothingItHas() throws IOException {
        List<String> dev = entries(DEV);
        assertThat(dev).contains("io/zonky/test/db/postgres/embedded/EmbeddedPostgres.class", "kafka/server/KafkaRaftServer.class",
                "scala/Predef.class", "postgres-linux-x86_64.txz", "postgres-darwin-x86_64.txz",
                // other platforms' natives, so that dev from a clone runs on a Mac too
                "librocksdbjni-osx-arm64.jnilib", "librocksdbjni-linux64-musl.so");
        Set<String> shared = new TreeSet<>(dev.stream().filter(e -> e.endsWith(".class") || NATIVE.matcher(e).matches()).toList());
        shared.retainAll(entries(PRODUCT));
        assertThat(shared).as("classes and natives in both jars").isEmpty();
        Manifest manifest;
        try (JarFile jar = new JarFile(DEV.toFile())) {
            manifest = jar.getManifest();
        }
        // Its versioned classes (log4j's, for one) are read only from a jar that says it is multi-release.
        assertThat(manifest.getMainAttributes().getValue("Multi-Release")).isEqualTo("true");
    }

    @Test
    void theProductJarAloneRunsItsCommandsAndRefusesDevWithAMessage(@TempDir Path dir) throws Exception {
        Path lone = Files.copy(PRODUCT, dir.resolve("onceflow.jar"));

        Run config = run(dir, Map.of(), java(), "-jar", lone.toString(), "config");
        assertThat(config.code()).as(config.toString()).isZero();
        assertThat(config.out()).contains("kafka.bootstrap.servers", "ONCEFLOW_DB_URL");

        Run dev = run(dir, Map.of(), java(), "-jar", lone.toString(), "dev", "--no-demo");
        assertThat(dev.code()).as(dev.toString()).isEqualTo(1);
        assertThat(dev.err()).contains("onceflow dev needs the embedded Kafka broker and PostgreSQL of onceflow-dev.jar beside"
                + " onceflow.jar (build from source: " + BUILD_HINT + ")").doesNotContain("NoClassDefFoundError");
    }

    @Test
    void theLauncherRunsTheBuiltJarFromAnywhereAndThroughASymbolicLink(@TempDir Path dir) throws Exception {
        Run help = run(dir, Map.of(), "bash", LAUNCHER.toString(), "help");
        assertThat(help.code()).as(help.toString()).isZero();
        assertThat(help.out()).contains("Usage: onceflow [-hV] COMMAND");

        Path link = Files.createSymbolicLink(dir.resolve("onceflow"), LAUNCHER);
        Run config = run(dir, Map.of(), link.toString(), "config");
        assertThat(config.code()).as(config.toString()).isZero();
        assertThat(config.out()).contains("kafka.bootstrap.servers");
    }

    @Test
    void theLauncherPassesJavaOptsAndBecomesJava(@TempDir Path dir) throws Exception {
        // Two options in one variable (split into words); the JVM logs its own pid, which must be the launcher's:
        // exec replaced bash, so java gets the container's SIGTERM.
        ProcessBuilder pb = new ProcessBuilder("bash", LAUNCHER.toString(), "help").directory(dir.toFile());
        pb.environment().put("JAVA_OPTS", "-XX:MaxRAMPercentage=42 -Xlog:gc=info:stdout:pid");
        pb.environment().remove("ONCEFLOW_JAR");
        Run run = run(pb);
        assertThat(run.code()).as(run.toString()).isZero();
        assertThat(run.out()).contains("[" + run.pid() + "]").contains("Usage: onceflow [-hV] COMMAND");

        Run flags = run(dir, Map.of("JAVA_OPTS", "-XX:MaxRAMPercentage=42 -XX:+PrintCommandLineFlags"), "bash", LAUNCHER.toString(), "help");
        assertThat(flags.out()).contains("-XX:MaxRAMPercentage=42");
    }

    @Test
    void theLauncherWithoutAJarSaysHowToBuildIt(@TempDir Path dir) throws Exception {
        Run missing = run(dir, Map.of("ONCEFLOW_JAR", dir.resolve("no.jar").toString()), "bash", LAUNCHER.toString(), "help");
        assertThat(missing.code()).as(missing.toString()).isEqualTo(1);
        assertThat(missing.err()).contains("ONCEFLOW_JAR", "no.jar", BUILD_HINT);

        // A copy of the launcher outside a clone (no deploy/target beside it) finds no jar, unless this machine is the image.
        assumeFalse(Files.exists(Path.of("/app/onceflow.jar")), "this machine has /app/onceflow.jar");
        Path bin = Files.createDirectories(dir.resolve("bin"));
        Path copy = Files.copy(LAUNCHER, bin.resolve("onceflow"), StandardCopyOption.COPY_ATTRIBUTES);
        Run none = run(dir, Map.of(), "bash", copy.toString(), "help");
        assertThat(none.code()).as(none.toString()).isEqualTo(1);
        assertThat(none.err()).contains(dir.toRealPath().resolve("deploy/target/onceflow.jar").toString(), BUILD_HINT);
        assertThat(none.out()).isEmpty();
    }

    // ---------------------------------------------------------------------------------------------
    // The checks catch what they are for (on made-up entry lists)
    // ---------------------------------------------------------------------------------------------

    @Test
    void theChecksCatchEmbeddedInfrastructureAndOtherPlatformsNatives() {
        assertThat(embeddedInfrastructure(List.of("io/zonky/test/db/postgres/embedded/EmbeddedPostgres.class",
                "postgres-linux-x86_64.txz", "kafka/server/KafkaRaftServer.class", "scala/Predef.class", "org/rocksdb/RocksDB.class")))
                .containsExactly("io/zonky/test/db/postgres/embedded/EmbeddedPostgres.class", "postgres-linux-x86_64.txz",
                        "kafka/server/KafkaRaftServer.class", "scala/Predef.class");
        assertThat(otherPlatformNatives(List.of("librocksdbjni-linux64.so", "librocksdbjni-linux64-musl.so",
                "librocksdbjni-osx-arm64.jnilib", "linux/amd64/libzstd-jni-1.5.6-10.so", "darwin/aarch64/libzstd-jni-1.5.6-10.dylib",
                "org/xerial/snappy/native/Linux/x86_64/libsnappyjava.so", "org/xerial/snappy/native/Linux/x86/libsnappyjava.so",
                "net/jpountz/util/linux/aarch64/liblz4-java.so", "net/jpountz/util/windows/amd64/liblz4-java.dll")))
                .containsExactly("librocksdbjni-linux64-musl.so", "librocksdbjni-osx-arm64.jnilib",
                        "darwin/aarch64/libzstd-jni-1.5.6-10.dylib", "org/xerial/snappy/native/Linux/x86/libsnappyjava.so",
                        "net/jpountz/util/windows/amd64/liblz4-java.dll");
    }

    /** The entries of the embedded PostgreSQL (zonky's classes, its .txz binaries) and of the broker (its server, Scala). */
    static List<String> embeddedInfrastructure(List<String> entries) {
        return entries.stream().filter(e -> e.startsWith("io/zonky/") || e.endsWith(".txz")
                || e.equals("kafka/server/KafkaRaftServer.class") || e.startsWith("kafka/tools/") || e.startsWith("scala/")).toList();
    }

    /** The native libraries of {@code natives} that are not for linux x86_64 or aarch64 with glibc. */
    static List<String> otherPlatformNatives(List<String> natives) {
        return natives.stream().filter(n -> !LINUX_GLIBC.matcher(n).matches()).toList();
    }

    // ---------------------------------------------------------------------------------------------
    // Jars and processes
    // ---------------------------------------------------------------------------------------------

    private static List<String> entries(Path jar) {
        assertThat(jar).as("built by mvn package").exists();
        try (ZipFile zip = new ZipFile(jar.toFile())) {
            return zip.stream().filter(e -> !e.isDirectory()).map(ZipEntry::getName).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(jar + ": " + e.getMessage(), e);
        }
    }

    record Run(int code, long pid, String out, String err) {
        @Override
        public String toString() {
            return "exit " + code + "\n--- stdout\n" + out + "\n--- stderr\n" + err;
        }
    }

    private static Run run(Path dir, Map<String, String> env, String... command) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile());
        pb.environment().remove("ONCEFLOW_JAR");
        pb.environment().remove("JAVA_OPTS");
        pb.environment().putAll(env);
        return run(pb);
    }

    private static Run run(ProcessBuilder pb) throws Exception {
        Path out = Files.createTempFile("artifacts-it", ".out");
        Path err = Files.createTempFile("artifacts-it", ".err");
        try {
            pb.redirectOutput(out.toFile()).redirectError(err.toFile());
            Process p = pb.start();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError(pb.command() + " did not end within 60 s");
            }
            return new Run(p.exitValue(), p.pid(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    private static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    private static Path repositoryRoot() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.exists(p.resolve("deploy/pom.xml")) && Files.exists(p.resolve("bin/onceflow"))) {
                return p;
            }
        }
        throw new IllegalStateException("no repository root above " + Path.of("").toAbsolutePath());
    }
}
