package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.onceflow.common.HttpPaths;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.xpath.XPathConstants;
import javax.xml.xpath.XPathFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.NodeList;

/**
 * The deploy files (Dockerfile, deploy/compose.yaml, deploy/k8s/, the Grafana dashboard) cannot run
 * here (no Docker, no Kubernetes), so this test parses each one and checks it against the code: every
 * ONCEFLOW_* name is a setting and every literal value is one the configuration accepts; ports, probe
 * and scrape paths are the roles' ({@link OnceflowConfig}, {@link HttpPaths}); the KEDA trigger reads
 * the engine group's lag of Onceflow's topics and is capped at the configured partition count; the
 * image runs the product jar deploy/pom.xml shades through the launcher bin/onceflow, which finds it
 * where the image puts it and ends in {@code exec java}; the dashboard uses only the metric names of the
 * contract. Each check is a function from parsed files to a list of problems, and the last tests run
 * those functions on deliberately broken copies to show that they catch what they are for.
 */
class DeployFilesTest {

    private static final Path ROOT = repositoryRoot();
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final YAMLMapper YAML = new YAMLMapper();

    /** The production roles and the key of each one's HTTP port (health, metrics; the dispatcher's API too). */
    private static final Map<String, OnceflowConfig.Key> ROLE_PORT = Map.of(
            "dispatcher", OnceflowConfig.DISPATCHER_HTTP_PORT,
            "engine", OnceflowConfig.ENGINE_HTTP_PORT);

    /** The metric names of the metrics contract (issue 11), exactly; the histograms are used through _bucket. */
    private static final Set<String> COUNTERS_AND_GAUGES = Set.of(
            "onceflow_executions_started_total", "onceflow_executions_finished_total", "onceflow_node_runs_total",
            "onceflow_duplicates_absorbed_total", "onceflow_dead_lettered_total", "onceflow_consumer_lag_records",
            "onceflow_capture_slot_lag_bytes", "onceflow_capture_slot_inactive", "onceflow_schedule_ticks_fired_total",
            "onceflow_schedule_ticks_missed_total", "onceflow_executions_stuck");
    private static final Set<String> HISTOGRAMS = Set.of("onceflow_node_duration_seconds", "onceflow_execution_duration_seconds");
    /** The layers of onceflow_duplicates_absorbed_total, as the dev summary names them (DevCommand's "absorbed"). */
    private static final Set<String> ABSORBED_LAYERS = Set.of("dispatcher", "execution_key", "processed_key");

    // ---------------------------------------------------------------------------------------------
    // The files as they are
    // ---------------------------------------------------------------------------------------------

    @Test
    void everyOnceflowNameInTheDeployFilesIsASetting() {
        List<String> problems = new ArrayList<>();
        for (Path file : deployFiles()) {
            problems.addAll(namesInText(ROOT.relativize(file).toString(), read(file)));
        }
        assertThat(problems).isEmpty();
    }

    @Test
    void theDockerfileBuildsTheShadedJarAndRunsItAsANonRootUser() {
        assertThat(dockerfileProblems(dockerfile())).isEmpty();
        DockerImage image = dockerImage(dockerfile());
        assertThat(image.uid()).isNotNull().isPositive();
        // The dispatcher's state directory is the image's: the Kubernetes check mounts a volume there.
        assertThat(image.env()).containsKey(OnceflowConfig.DISPATCHER_STATE_DIR.envName());
        // The launcher runs java with the image's JVM options.
        assertThat(image.env().get("JAVA_OPTS")).contains("-XX:MaxRAMPercentage=", "-XX:+ExitOnOutOfMemoryError");
    }

    @Test
    void composeRunsKafkaPostgresTwoDispatchersAndThreeEnginesThroughOnceflowVariables() {
        JsonNode compose = compose();
        assertThat(composeProblems(compose)).isEmpty();
        Map<String, Integer> replicas = new HashMap<>();
        compose.path("services").fields().forEachRemaining(s -> {
            String role = role(s.getValue().path("command"));
            if (role != null) {
                replicas.merge(role, s.getValue().path("deploy").path("replicas").asInt(1), Integer::sum);
            }
        });
        assertThat(replicas).containsEntry("dispatcher", 2).containsEntry("engine", 3);
    }

    @Test
    void kubernetesManifestsAgreeWithTheCode() {
        List<JsonNode> docs = kubernetes();
        assertThat(kubernetesProblems(docs, dockerImage(dockerfile()))).isEmpty();
        assertThat(docs).extracting(d -> d.path("kind").asText())
                .contains("Deployment", "Service", "PodDisruptionBudget", "ConfigMap", "Secret", "ScaledObject");
    }

    @Test
    void theDashboardUsesOnlyTheContractsMetricNames() {
        assertThat(dashboardProblems(dashboard())).isEmpty();
    }

    // ---------------------------------------------------------------------------------------------
    // The checks catch mismatches (each on a broken copy of a real file)
    // ---------------------------------------------------------------------------------------------

    @Test
    void aMisspeltOrRefusedSettingIsReportedByName() {
        assertThat(variableProblems("x", "ONCEFLOW_KAFKA_PRODUCER_LINGER_MS", "5")).isEmpty();
        assertThat(variableProblems("x", "ONCEFLOW_ENGINE_GROUP_ID", "g")).isEmpty();
        assertThat(variableProblems("x", "ONCEFLOW_ENGINE_GROUP", "g"))
                .singleElement().asString().contains("ONCEFLOW_ENGINE_GROUP is not an Onceflow setting");
        assertThat(variableProblems("x", "ONCEFLOW_ENGINE_WORKERS", "0"))
                .singleElement().asString().contains("engine.workers").contains("between 1 and 256");
        assertThat(variableProblems("x", "ONCEFLOW_KAFKA_CONSUMER_ISOLATION_LEVEL", "read_uncommitted"))
                .singleElement().asString().contains("cannot be set");
        assertThat(namesInText("f", "set ONCEFLOW_KAFKA_BOOTSTRAP=kafka:9092 or ONCEFLOW_KAFKA_PRODUCER_*"))
                .singleElement().asString().contains("ONCEFLOW_KAFKA_BOOTSTRAP ").contains("ONCEFLOW_KAFKA_BOOTSTRAP_SERVERS");
    }

    @Test
    void aBrokenKubernetesManifestIsCaught() {
        DockerImage image = dockerImage(dockerfile());

        List<JsonNode> misspelt = kubernetes();
        ObjectNode data = (ObjectNode) find(misspelt, "ConfigMap").path("data");
        data.set("ONCEFLOW_ENGINE_GROUP", data.remove("ONCEFLOW_ENGINE_GROUP_ID"));
        assertThat(kubernetesProblems(misspelt, image)).anyMatch(p -> p.contains("ONCEFLOW_ENGINE_GROUP is not an Onceflow setting"));

        List<JsonNode> morePartitions = kubernetes();
        ((ObjectNode) find(morePartitions, "ConfigMap").path("data")).put("ONCEFLOW_TOPICS_PARTITIONS", "24");
        assertThat(kubernetesProblems(morePartitions, image))
                .anyMatch(p -> p.contains("maxReplicaCount 12") && p.contains("24 partitions"));

        List<JsonNode> wrongPath = kubernetes();
        ((ObjectNode) container(deployment(wrongPath, "engine")).path("readinessProbe").path("httpGet")).put("path", "/healthz");
        assertThat(kubernetesProblems(wrongPath, image)).anyMatch(p -> p.contains("/healthz") && p.contains(HttpPaths.HEALTH_READY));

        List<JsonNode> wrongPort = kubernetes();
        ((ObjectNode) container(deployment(wrongPort, "dispatcher")).path("ports").get(0)).put("containerPort", 9090);
        assertThat(kubernetesProblems(wrongPort, image)).anyMatch(p -> p.contains("8080") && p.contains("dispatcher"));

        List<JsonNode> otherGroup = kubernetes();
        ((ObjectNode) find(otherGroup, "ScaledObject").path("spec").path("triggers").get(0).path("metadata"))
                .put("consumerGroup", "onceflow-engines");
        assertThat(kubernetesProblems(otherGroup, image)).anyMatch(p -> p.contains("onceflow-engines") && p.contains("onceflow-engine'"));

        List<JsonNode> otherTopic = kubernetes();
        ((ObjectNode) find(otherTopic, "ScaledObject").path("spec").path("triggers").get(0).path("metadata"))
                .put("topic", "onceflow.triggers");
        assertThat(kubernetesProblems(otherTopic, image)).anyMatch(p -> p.contains("onceflow.triggers"));

        List<JsonNode> secretInConfigMap = kubernetes();
        ((ObjectNode) find(secretInConfigMap, "ConfigMap").path("data")).put("ONCEFLOW_API_TOKEN", "t0ken");
        assertThat(kubernetesProblems(secretInConfigMap, image)).anyMatch(p -> p.contains("ONCEFLOW_API_TOKEN") && p.contains("Secret"));
    }

    @Test
    void aBrokenComposeFileIsCaught() {
        JsonNode broken = compose();
        ObjectNode engineEnv = (ObjectNode) broken.path("services").path("engine").path("environment");
        engineEnv.put("ONCEFLOW_ENGINE_WORKERS", "0");
        engineEnv.put("ONCEFLOW_KAFKA_CONSUMER_ISOLATION_LEVEL", "read_uncommitted");
        engineEnv.put("ONCEFLOW_DB_PASSWORD", "secret");
        ((ArrayNode) broken.path("services").path("dispatcher-2").path("healthcheck").path("test"))
                .set(5, TextNode.valueOf("http://localhost:8081/health/ready"));
        ((ObjectNode) broken.path("services").path("kafka")).put("image", "apache/kafka:3.9.0");
        List<String> problems = composeProblems(broken);
        assertThat(problems)
                .anyMatch(p -> p.contains("engine.workers") && p.contains("between 1 and 256"))
                .anyMatch(p -> p.contains("isolation.level") && p.contains("cannot be set"))
                .anyMatch(p -> p.contains("ONCEFLOW_DB_PASSWORD") && p.contains("literal"))
                .anyMatch(p -> p.contains("dispatcher-2") && p.contains("8081") && p.contains("8080"))
                .anyMatch(p -> p.contains("apache/kafka:3.9.0") && p.contains("4.3.1"));
    }

    @Test
    void aDockerfileThatCopiesAnotherJarIsCaught() {
        List<String> lines = dockerfile().stream()
                .map(l -> l.replace("/deploy/target/onceflow.jar", "/deploy/target/onceflow-deploy.jar")).toList();
        assertThat(dockerfileProblems(lines)).anyMatch(p -> p.contains("onceflow-deploy.jar") && p.contains("/src/deploy/target/onceflow.jar"));

        List<String> asRoot = dockerfile().stream().map(l -> l.startsWith("USER ") ? "USER root" : l).toList();
        assertThat(dockerfileProblems(asRoot)).anyMatch(p -> p.contains("root"));

        List<String> elsewhere = dockerfile().stream().map(l -> l.replace(" /app/onceflow.jar", " /opt/onceflow.jar")).toList();
        assertThat(dockerfileProblems(elsewhere)).anyMatch(p -> p.contains("/opt/onceflow.jar") && p.contains("/app/onceflow.jar"));
    }

    @Test
    void aDockerfileThatBypassesOrBreaksTheLauncherIsCaught() {
        List<String> bareJava = dockerfile().stream().map(l -> l.startsWith("ENTRYPOINT ")
                ? "ENTRYPOINT [\"java\", \"-XX:MaxRAMPercentage=60\", \"-jar\", \"/app/onceflow.jar\"]" : l).toList();
        assertThat(dockerfileProblems(bareJava)).anyMatch(p -> p.contains("ENTRYPOINT") && p.contains("launcher"));

        List<String> noOomExit = dockerfile().stream().map(l -> l.replace(" -XX:+ExitOnOutOfMemoryError", "")).toList();
        assertThat(dockerfileProblems(noOomExit)).anyMatch(p -> p.contains("JAVA_OPTS") && p.contains("ExitOnOutOfMemoryError"));

        List<String> notExecutable = dockerfile().stream().map(l -> l.replace("--chmod=755 ", "")).toList();
        assertThat(dockerfileProblems(notExecutable)).anyMatch(p -> p.contains("bin/onceflow") && p.contains("--chmod"));

        String forking = launcher().replaceAll("(?m)^exec ", "");
        assertThat(dockerfileProblems(dockerfile(), forking)).anyMatch(p -> p.contains("exec"));

        String otherJar = launcher().replace("/app/onceflow.jar", "/srv/onceflow.jar");
        assertThat(dockerfileProblems(dockerfile(), otherJar)).anyMatch(p -> p.contains("/srv/onceflow.jar") && p.contains("/app/onceflow.jar"));
    }

    @Test
    void aDashboardWithAnotherMetricNameIsCaught() throws IOException {
        String renamed = read(ROOT.resolve("deploy/grafana/onceflow-dashboard.json"))
                .replace("onceflow_duplicates_absorbed_total", "onceflow_duplicates_total");
        assertThat(dashboardProblems(JSON.readTree(renamed)))
                .anyMatch(p -> p.contains("onceflow_duplicates_total") && p.contains("not a metric of the contract"))
                .anyMatch(p -> p.contains("onceflow_duplicates_absorbed_total") && p.contains("no panel"));
    }

    // ---------------------------------------------------------------------------------------------
    // Settings
    // ---------------------------------------------------------------------------------------------

    /**
     * Problems of one ONCEFLOW_* variable: its name must be a declared key's {@link OnceflowConfig.Key#envName()}
     * or a pass-through name (as {@link OnceflowConfig#load} maps it), and a literal value must be one the
     * configuration accepts. A value holding {@code ${...}} is filled in at deploy time and not checked here.
     */
    static List<String> variableProblems(String where, String name, String value) {
        if (name.equals("ONCEFLOW_CONFIG")) {
            return List.of(); // the configuration file's path: Onceflow's own, not a key
        }
        boolean declared = OnceflowConfig.KEYS.stream().anyMatch(k -> k.envName().equals(name));
        boolean literal = value != null && !value.contains("${");
        try {
            OnceflowConfig loaded = OnceflowConfig.load(null, Map.of(name, literal ? value : "1"), Map.of());
            if (!declared && loaded.asMap().keySet().equals(OnceflowConfig.defaults().asMap().keySet())) {
                return List.of(where + ": " + name + " is not an Onceflow setting" + nearest(name));
            }
        } catch (IllegalArgumentException e) {
            if (literal || !declared) {
                return List.of(where + ": " + name + "=" + (literal ? value : "...") + ": " + e.getMessage());
            }
        }
        return List.of();
    }

    /** Every ONCEFLOW_ name in a text (comments included); a name ending in '_' names a family of settings. */
    static List<String> namesInText(String where, String text) {
        List<String> problems = new ArrayList<>();
        Matcher m = Pattern.compile("\\bONCEFLOW_[A-Z0-9_]+").matcher(text);
        Set<String> seen = new LinkedHashSet<>();
        while (m.find()) {
            seen.add(m.group());
        }
        for (String name : seen) {
            if (name.endsWith("_")) {
                boolean family = OnceflowConfig.KEYS.stream().anyMatch(k -> k.envName().startsWith(name))
                        || OnceflowConfig.PASS_THROUGH.stream().anyMatch(p -> passThroughPrefix(p).startsWith(name));
                if (!family) {
                    problems.add(where + ": " + name + "* names no Onceflow setting");
                }
            } else {
                problems.addAll(variableProblems(where, name, null));
            }
        }
        return problems;
    }

    private static String passThroughPrefix(String prefix) {
        return "ONCEFLOW_" + prefix.toUpperCase(Locale.ROOT).replace('.', '_');
    }

    private static String nearest(String name) {
        return OnceflowConfig.KEYS.stream().map(OnceflowConfig.Key::envName)
                .max(Comparator.comparingInt(n -> commonPrefix(n, name)))
                .map(n -> " (did you mean " + n + "?)").orElse("");
    }

    private static int commonPrefix(String a, String b) {
        int i = 0;
        while (i < a.length() && i < b.length() && a.charAt(i) == b.charAt(i)) {
            i++;
        }
        return i;
    }

    private static OnceflowConfig.Key key(String envName) {
        return OnceflowConfig.KEYS.stream().filter(k -> k.envName().equals(envName)).findFirst().orElse(null);
    }

    /** The value of a key in an environment, else its default. */
    private static String effective(Map<String, String> env, OnceflowConfig.Key key) {
        String v = env.get(key.envName());
        return v == null || v.contains("${") ? key.defaultValue() : v.trim();
    }

    /**
     * The role a container runs (its command's first word) or null; a role must be one the command line
     * routes to RoleCommand, which is shown by its own usage error for an unknown option.
     */
    static String role(JsonNode command) {
        List<String> words = words(command);
        return words.isEmpty() || !ROLE_PORT.containsKey(words.get(0)) ? null : words.get(0);
    }

    private static final Map<String, String> COMMAND_CHECKS = new HashMap<>();

    /** Problems of a command word given to the image: it must be one the onceflow command knows. */
    static synchronized String commandProblem(String where, String command) {
        String known = COMMAND_CHECKS.computeIfAbsent(command, c -> {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            if (c.equals("help")) {
                int code = Onceflow.run(List.of(c), new PrintStream(out, true), new PrintStream(err, true));
                return code == 0 ? "" : "'help' exits " + code;
            }
            // An unknown option ends a role at argument parsing, before anything starts: exit 2 naming the option.
            int code = Onceflow.run(List.of(c, "--no-such-option"), new PrintStream(out, true), new PrintStream(err, true));
            String said = err.toString(StandardCharsets.UTF_8);
            return code == 2 && said.contains("--no-such-option") && !said.contains("unknown command")
                    ? "" : "'" + c + "' is not an onceflow command (" + said.lines().findFirst().orElse("exit " + code) + ")";
        });
        return known.isEmpty() ? null : where + ": " + known;
    }

    // ---------------------------------------------------------------------------------------------
    // Dockerfile
    // ---------------------------------------------------------------------------------------------

    record Instruction(String keyword, String args) {
    }

    record Stage(String image, String name, List<Instruction> instructions) {
        String workdir() {
            String dir = "/";
            for (Instruction i : instructions) {
                if (i.keyword().equals("WORKDIR")) {
                    dir = i.args().startsWith("/") ? i.args() : dir + (dir.endsWith("/") ? "" : "/") + i.args();
                }
            }
            return dir;
        }

        List<Instruction> all(String keyword) {
            return instructions.stream().filter(i -> i.keyword().equals(keyword)).toList();
        }
    }

    /** The image's facts other files depend on: its ONCEFLOW_* defaults and its user id (null when not numeric). */
    record DockerImage(Map<String, String> env, Integer uid) {
    }

    /** The instructions of a Dockerfile by stage: comments dropped, continuation lines joined. */
    static List<Stage> stages(List<String> lines) {
        List<Stage> stages = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        List<String> logical = new ArrayList<>();
        for (String raw : lines) {
            String line = raw.strip();
            if (line.startsWith("#") || (line.isEmpty() && current.length() == 0)) {
                continue;
            }
            if (line.endsWith("\\")) {
                current.append(line, 0, line.length() - 1).append(' ');
                continue;
            }
            current.append(line);
            logical.add(current.toString().strip());
            current.setLength(0);
        }
        for (String l : logical) {
            String[] parts = l.split("\\s+", 2);
            Instruction i = new Instruction(parts[0].toUpperCase(Locale.ROOT), parts.length > 1 ? parts[1].strip() : "");
            if (i.keyword().equals("FROM")) {
                String[] from = i.args().split("\\s+");
                String name = from.length >= 3 && from[1].equalsIgnoreCase("AS") ? from[2] : null;
                stages.add(new Stage(from[0], name, new ArrayList<>()));
            } else if (!stages.isEmpty()) {
                stages.get(stages.size() - 1).instructions().add(i);
            }
        }
        return stages;
    }

    static DockerImage dockerImage(List<String> lines) {
        List<Stage> stages = stages(lines);
        Stage last = stages.get(stages.size() - 1);
        Map<String, String> env = new LinkedHashMap<>();
        for (Instruction i : last.all("ENV")) {
            Matcher m = Pattern.compile("([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|\\S+)").matcher(i.args());
            while (m.find()) {
                env.put(m.group(1), m.group(2).replaceAll("^\"|\"$", ""));
            }
        }
        List<Instruction> users = last.all("USER");
        Integer uid = null;
        if (!users.isEmpty()) {
            String user = users.get(users.size() - 1).args().split(":")[0];
            uid = user.matches("\\d+") ? Integer.valueOf(user) : null;
        }
        return new DockerImage(env, uid);
    }

    static List<String> dockerfileProblems(List<String> lines) {
        return dockerfileProblems(lines, launcher());
    }

    /** Problems of a Dockerfile whose image runs the launcher {@code launcher} (the text of bin/onceflow). */
    static List<String> dockerfileProblems(List<String> lines, String launcher) {
        List<String> problems = new ArrayList<>();
        List<Stage> stages = stages(lines);
        if (stages.size() < 2) {
            return List.of("Dockerfile: a multi-stage build needs a build stage and a runtime stage, found " + stages.size());
        }
        Stage runtime = stages.get(stages.size() - 1);
        String release = rootPom("/project/properties/maven.compiler.release");
        Pattern javaRelease = Pattern.compile(".*\\b" + release + "\\b.*");

        // The runtime stage: a JRE of the project's release, a non-root user, the launcher with the role as command.
        if (!runtime.image().contains("jre") || !javaRelease.matcher(runtime.image()).matches()) {
            problems.add("Dockerfile: the runtime stage's image " + runtime.image() + " is not a JRE " + release);
        }
        List<Instruction> users = runtime.all("USER");
        String user = users.isEmpty() ? "root" : users.get(users.size() - 1).args().split(":")[0];
        if (user.equals("root") || user.equals("0")) {
            problems.add("Dockerfile: the runtime stage runs as root (USER " + user + "); give it a non-root user");
        } else if (!user.matches("\\d+")) {
            problems.add("Dockerfile: USER " + user + " is not numeric, so Kubernetes' runAsNonRoot cannot verify it");
        }
        String jar = launcherProblems(runtime, launcher, dockerImage(lines), problems);
        List<String> cmd = execForm(runtime, "CMD", problems);
        if (cmd != null && !cmd.isEmpty()) {
            String p = commandProblem("Dockerfile: CMD", cmd.get(0));
            if (p != null) {
                problems.add(p);
            }
        }

        // The jar comes from a build stage that builds the shaded jar of deploy/pom.xml.
        String shaded = "deploy/target/" + deployPom("//plugin[artifactId='maven-shade-plugin']//configuration/finalName") + ".jar";
        String shadePhase = deployPom("//plugin[artifactId='maven-shade-plugin']//execution/phase");
        List<Instruction> copies = runtime.all("COPY").stream().filter(i -> i.args().startsWith("--from=")).toList();
        if (copies.isEmpty()) {
            problems.add("Dockerfile: the runtime stage copies nothing from the build stage");
        }
        for (Instruction copy : copies) {
            String[] parts = copy.args().split("\\s+");
            String from = parts[0].substring("--from=".length());
            Stage build = stages.stream().filter(s -> from.equals(s.name())).findFirst().orElse(null);
            if (build == null) {
                problems.add("Dockerfile: COPY " + copy.args() + " names no stage");
                continue;
            }
            String source = parts[parts.length - 2];
            String dest = parts[parts.length - 1];
            String expected = (build.workdir().endsWith("/") ? build.workdir() : build.workdir() + "/") + shaded;
            String resolved = source.startsWith("/") ? source : build.workdir() + "/" + source;
            if (!resolved.equals(expected)) {
                problems.add("Dockerfile: the runtime stage copies " + resolved + ", but the shaded jar of deploy/pom.xml is "
                        + expected);
            }
            if (jar != null && !dest.equals(jar)) {
                problems.add("Dockerfile: the jar is copied to " + dest + " but the launcher bin/onceflow runs " + jar);
            }
            if (!build.image().contains("maven") || !javaRelease.matcher(build.image()).matches()) {
                problems.add("Dockerfile: the build stage's image " + build.image() + " is not Maven with JDK " + release);
            }
            boolean builds = build.all("RUN").stream()
                    .anyMatch(r -> r.args().matches(".*\\bmvn\\b.*") && r.args().matches(".*\\b" + shadePhase + "\\b.*"));
            if (!builds) {
                problems.add("Dockerfile: the build stage runs no 'mvn ... " + shadePhase + "' (the phase of the shade plugin)");
            }
            if (build.all("RUN").stream().anyMatch(r -> r.args().matches(".*\\bmvn\\b.*\\binstall\\b.*"))) {
                problems.add("Dockerfile: the build stage runs 'mvn install'; 'package' builds the jar");
            }
            Set<String> copied = new TreeSet<>();
            build.all("COPY").forEach(c -> {
                String[] p = c.args().split("\\s+");
                for (int k = 0; k < p.length - 1; k++) {
                    if (!p[k].startsWith("--")) {
                        copied.add(p[k].replaceAll("/+$", ""));
                    }
                }
            });
            List<String> needed = new ArrayList<>(rootPomList("/project/modules/module"));
            needed.add("pom.xml");
            for (String n : needed) {
                if (!copied.contains(n) && !copied.contains(".")) {
                    problems.add("Dockerfile: the build stage does not copy " + n + ", which the build needs");
                }
                if (dockerIgnored(n)) {
                    problems.add(".dockerignore excludes " + n + ", which the build needs");
                }
            }
        }

        // Ports and settings.
        Set<String> exposed = new TreeSet<>();
        runtime.all("EXPOSE").forEach(e -> exposed.addAll(List.of(e.args().split("\\s+"))));
        Set<String> rolePorts = new TreeSet<>();
        ROLE_PORT.values().forEach(k -> rolePorts.add(k.defaultValue()));
        if (!exposed.equals(rolePorts)) {
            problems.add("Dockerfile: EXPOSE " + exposed + " but the roles' HTTP ports are " + rolePorts);
        }
        dockerImage(lines).env().forEach((name, value) -> {
            if (name.startsWith("ONCEFLOW_")) {
                problems.addAll(variableProblems("Dockerfile ENV", name, value));
            }
        });
        return problems;
    }

    /** Where the launcher is in the repository, and so in the build context. */
    static final String LAUNCHER = "bin/onceflow";

    /**
     * Problems of the image's entrypoint: the launcher alone (so the command, the role, becomes onceflow's arguments),
     * copied from the build context with a mode its non-root user may execute, its last word {@code exec java
     * $JAVA_OPTS -jar "$jar" "$@"} (java replaces the shell: it is PID 1 and gets SIGTERM itself), and the image's
     * JAVA_OPTS sizing the heap from the container's limit and exiting on OutOfMemoryError. Returns the jar the
     * launcher runs in the image (its absolute fallback path), or null.
     */
    private static String launcherProblems(Stage runtime, String launcher, DockerImage image, List<String> problems) {
        List<String> entrypoint = execForm(runtime, "ENTRYPOINT", problems);
        Instruction copy = runtime.all("COPY").stream()
                .filter(c -> List.of(c.args().split("\\s+")).contains(LAUNCHER)).findFirst().orElse(null);
        if (copy == null) {
            problems.add("Dockerfile: the runtime stage does not copy the launcher " + LAUNCHER + " from the build context");
        } else {
            String[] parts = copy.args().split("\\s+");
            String dest = parts[parts.length - 1];
            if (entrypoint != null && !entrypoint.equals(List.of(dest))) {
                problems.add("Dockerfile: ENTRYPOINT " + entrypoint + " must be the launcher alone ([\"" + dest + "\"], where "
                        + LAUNCHER + " is copied), so that the command (the role) becomes onceflow's arguments");
            }
            Matcher mode = Pattern.compile("--chmod=0?([0-7])([0-7])([0-7])\\b").matcher(copy.args());
            if (!mode.find() || (Integer.parseInt(mode.group(3)) & 5) != 5) {
                problems.add("Dockerfile: COPY " + copy.args() + " must give " + LAUNCHER + " a mode its non-root user may run"
                        + " (--chmod=755): the build context's mode is not kept everywhere");
            }
        }
        if (dockerIgnored(LAUNCHER)) {
            problems.add(".dockerignore excludes " + LAUNCHER + ", which the image needs");
        }
        boolean execs = launcher.lines().map(String::strip)
                .anyMatch(l -> l.matches("exec \"?\\$\\{?java}?\"?\\s+\\$\\{?JAVA_OPTS(:-)?}?\\s+-jar \"\\$jar\" \"\\$@\""));
        if (!execs) {
            problems.add(LAUNCHER + ": no line 'exec \"$java\" ${JAVA_OPTS:-} -jar \"$jar\" \"$@\"': without exec, bash stays PID 1"
                    + " and java does not get the container's SIGTERM");
        }
        String opts = image.env().getOrDefault("JAVA_OPTS", "");
        for (String option : List.of("-XX:MaxRAMPercentage=", "-XX:+ExitOnOutOfMemoryError")) {
            if (!opts.contains(option)) {
                problems.add("Dockerfile: ENV JAVA_OPTS (" + opts + ") lacks " + option + ", which the launcher passes to java");
            }
        }
        Matcher jars = Pattern.compile("-f (/[^\\s\\]$]+\\.jar)").matcher(launcher);
        return jars.find() ? jars.group(1) : null;
    }

    private static String launcher() {
        return read(ROOT.resolve(LAUNCHER));
    }

    private static List<String> execForm(Stage stage, String keyword, List<String> problems) {
        List<Instruction> found = stage.all(keyword);
        if (found.isEmpty()) {
            problems.add("Dockerfile: the runtime stage has no " + keyword);
            return null;
        }
        String args = found.get(found.size() - 1).args();
        try {
            List<String> words = new ArrayList<>();
            JSON.readTree(args).forEach(w -> words.add(w.asText()));
            return words;
        } catch (IOException e) {
            problems.add("Dockerfile: " + keyword + " " + args + " is not in exec (JSON array) form: java must be PID 1 to get SIGTERM");
            return null;
        }
    }

    private static boolean dockerIgnored(String path) {
        Path ignore = ROOT.resolve(".dockerignore");
        if (!Files.exists(ignore)) {
            return false;
        }
        return read(ignore).lines().map(String::strip).filter(l -> !l.isEmpty() && !l.startsWith("#") && !l.startsWith("!"))
                .map(l -> l.replaceAll("^/+|/+$", ""))
                .anyMatch(p -> p.equals(path) || p.equals("*") || path.startsWith(p + "/"));
    }

    // ---------------------------------------------------------------------------------------------
    // Compose
    // ---------------------------------------------------------------------------------------------

    static List<String> composeProblems(JsonNode compose) {
        List<String> problems = new ArrayList<>();
        JsonNode services = compose.path("services");
        String kafkaVersion = rootPom("/project/properties/kafka.version");

        // Kafka in KRaft mode, on the version of the clients; PostgreSQL 15+ with logical decoding.
        String kafkaService = null;
        String postgresService = null;
        for (Iterator<Map.Entry<String, JsonNode>> it = services.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> s = it.next();
            String image = s.getValue().path("image").asText();
            if (image.startsWith("apache/kafka:")) {
                kafkaService = s.getKey();
                if (!image.equals("apache/kafka:" + kafkaVersion)) {
                    problems.add("compose: " + s.getKey() + " runs " + image + " but Onceflow's Kafka clients are " + kafkaVersion
                            + " (pom.xml kafka.version; broker, clients and Streams on one version)");
                }
                String roles = env(s.getValue(), problems, s.getKey()).getOrDefault("KAFKA_PROCESS_ROLES", "");
                if (!roles.contains("controller") || !roles.contains("broker")) {
                    problems.add("compose: " + s.getKey() + " is not a KRaft broker+controller (KAFKA_PROCESS_ROLES=" + roles + ")");
                }
            } else if (image.startsWith("postgres:")) {
                postgresService = s.getKey();
                Matcher major = Pattern.compile("postgres:(\\d+).*").matcher(image);
                if (!major.matches() || Integer.parseInt(major.group(1)) < 15) {
                    problems.add("compose: " + s.getKey() + " runs " + image + "; PostgreSQL 15 or later is needed");
                }
                if (!words(s.getValue().path("command")).contains("wal_level=logical")) {
                    problems.add("compose: " + s.getKey() + " does not set wal_level=logical (table triggers need it)");
                }
            }
        }
        if (kafkaService == null || postgresService == null) {
            problems.add("compose: needs an apache/kafka and a postgres service, found kafka=" + kafkaService + " postgres="
                    + postgresService);
            return problems;
        }
        JsonNode kafka = services.path(kafkaService);
        JsonNode postgres = services.path(postgresService);
        Map<String, String> postgresEnv = env(postgres, problems, postgresService);
        Set<String> advertised = new TreeSet<>();
        for (String l : env(kafka, problems, kafkaService).getOrDefault("KAFKA_ADVERTISED_LISTENERS", "").split(",")) {
            advertised.add(l.replaceFirst("^[A-Za-z_]+://", ""));
        }

        // The Onceflow services.
        Map<String, Map<String, String>> onceflowEnv = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = services.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> s = it.next();
            String name = s.getKey();
            JsonNode service = s.getValue();
            List<String> command = words(service.path("command"));
            if (service.path("image").asText().startsWith("onceflow") || service.has("build")) {
                if (command.isEmpty() || role(service.path("command")) == null) {
                    problems.add("compose: " + name + " runs the onceflow image without a role (command " + command + ")");
                    continue;
                }
                String build = service.path("build").path("context").asText(null);
                if (build != null) {
                    Path context = ROOT.resolve("deploy").resolve(build).normalize();
                    Path dockerfile = context.resolve(service.path("build").path("dockerfile").asText("Dockerfile"));
                    if (!dockerfile.normalize().equals(ROOT.resolve("Dockerfile"))) {
                        problems.add("compose: " + name + " builds " + dockerfile + ", not the repository's Dockerfile");
                    }
                }
            }
            String role = role(service.path("command"));
            if (role == null) {
                continue;
            }
            String where = "compose: " + name;
            String p = commandProblem(where, role);
            if (p != null) {
                problems.add(p);
            }
            Map<String, String> env = env(service, problems, name);
            onceflowEnv.put(name, env);
            env.forEach((k, v) -> {
                if (!k.startsWith("ONCEFLOW_")) {
                    problems.add(where + ": " + k + " is not an ONCEFLOW_* variable; configure Onceflow only through those");
                    return;
                }
                problems.addAll(variableProblems(where, k, v));
                OnceflowConfig.Key key = key(k);
                if (key != null && key.type() == OnceflowConfig.Type.PASSWORD && v != null && !v.contains("${")) {
                    problems.add(where + ": " + k + " is a literal; a secret comes from the environment (${...}), not from this file");
                }
            });
            String port = effective(env, ROLE_PORT.get(role));
            JsonNode test = service.path("healthcheck").path("test");
            Matcher url = Pattern.compile("http://(localhost|127\\.0\\.0\\.1):(\\d+)(/\\S*)").matcher(String.join(" ", words(test)));
            if (!url.find()) {
                problems.add(where + ": no HTTP healthcheck (test " + words(test) + ")");
            } else {
                if (!url.group(2).equals(port)) {
                    problems.add(where + ": the healthcheck calls port " + url.group(2) + " but the " + role + "'s HTTP port is " + port);
                }
                if (!Set.of(HttpPaths.HEALTH_LIVE, HttpPaths.HEALTH_READY).contains(url.group(3))) {
                    problems.add(where + ": the healthcheck calls " + url.group(3) + ", not " + HttpPaths.HEALTH_READY + " or "
                            + HttpPaths.HEALTH_LIVE);
                }
            }
            for (JsonNode published : service.path("ports")) {
                String target = published.isObject() ? published.path("target").asText()
                        : published.asText().replaceAll("/.*$", "").replaceAll("^.*:", "");
                if (!target.equals(port)) {
                    problems.add(where + ": publishes container port " + target + " but the " + role + " listens on " + port);
                }
            }
            JsonNode dependsOn = service.path("depends_on");
            for (String needed : List.of(kafkaService, postgresService)) {
                String condition = dependsOn.path(needed).path("condition").asText("");
                if (!condition.equals("service_healthy")) {
                    problems.add(where + ": depends_on " + needed + " needs condition service_healthy (found '" + condition + "')");
                }
                if (!services.path(needed).has("healthcheck")) {
                    problems.add("compose: " + needed + " has no healthcheck for depends_on to wait on");
                }
            }
            String bootstrap = effective(env, OnceflowConfig.KAFKA_BOOTSTRAP);
            for (String address : bootstrap.split(",")) {
                if (!address.startsWith(kafkaService + ":") || !advertised.contains(address.strip())) {
                    problems.add(where + ": bootstrap server " + address + " is not a listener " + kafkaService + " advertises "
                            + advertised);
                }
            }
            Matcher db = Pattern.compile("jdbc:postgresql://([^:/]+)(?::(\\d+))?/([^?]+).*").matcher(effective(env, OnceflowConfig.DB_URL));
            String pgUser = postgresEnv.getOrDefault("POSTGRES_USER", "postgres");
            if (!db.matches() || !db.group(1).equals(postgresService) || !(db.group(2) == null ? "5432" : db.group(2)).equals("5432")
                    || !db.group(3).equals(postgresEnv.getOrDefault("POSTGRES_DB", pgUser))) {
                problems.add(where + ": db.url " + effective(env, OnceflowConfig.DB_URL) + " is not the " + postgresService
                        + " service's database");
            }
            if (!effective(env, OnceflowConfig.DB_USER).equals(pgUser)) {
                problems.add(where + ": db.user " + effective(env, OnceflowConfig.DB_USER) + " is not " + postgresService
                        + "'s user " + pgUser);
            }
            String password = env.get(OnceflowConfig.DB_PASSWORD.envName());
            if (password == null || !password.equals(postgresEnv.get("POSTGRES_PASSWORD"))) {
                problems.add(where + ": " + OnceflowConfig.DB_PASSWORD.envName() + " is not what " + postgresService
                        + " gets as POSTGRES_PASSWORD");
            }
        }
        // The processes of one fleet agree on every setting they share (partitions, group, servers, token...).
        List<String> names = new ArrayList<>(onceflowEnv.keySet());
        for (int i = 0; i < names.size(); i++) {
            for (int j = i + 1; j < names.size(); j++) {
                Map<String, String> a = onceflowEnv.get(names.get(i));
                Map<String, String> b = onceflowEnv.get(names.get(j));
                for (String k : a.keySet()) {
                    if (b.containsKey(k) && !a.get(k).equals(b.get(k))) {
                        problems.add("compose: " + names.get(i) + " and " + names.get(j) + " disagree on " + k);
                    }
                }
            }
        }
        return problems;
    }

    /** A compose service's environment, map or list form. */
    private static Map<String, String> env(JsonNode service, List<String> problems, String name) {
        Map<String, String> env = new LinkedHashMap<>();
        JsonNode e = service.path("environment");
        if (e.isObject()) {
            e.fields().forEachRemaining(f -> env.put(f.getKey(), f.getValue().isNull() ? null : f.getValue().asText()));
        } else if (e.isArray()) {
            e.forEach(v -> {
                String[] kv = v.asText().split("=", 2);
                env.put(kv[0], kv.length > 1 ? kv[1] : null);
            });
        } else if (!e.isMissingNode()) {
            problems.add("compose: " + name + "'s environment is neither a map nor a list (a YAML alias? they are not resolved here)");
        }
        return env;
    }

    private static List<String> words(JsonNode command) {
        List<String> words = new ArrayList<>();
        if (command.isArray()) {
            command.forEach(w -> words.add(w.asText()));
        } else if (command.isTextual()) {
            words.addAll(List.of(command.asText().strip().split("\\s+")));
        }
        return words;
    }

    // ---------------------------------------------------------------------------------------------
    // Kubernetes
    // ---------------------------------------------------------------------------------------------

    static List<String> kubernetesProblems(List<JsonNode> docs, DockerImage image) {
        List<String> problems = new ArrayList<>();
        Map<String, JsonNode> configMaps = byName(docs, "ConfigMap");
        Map<String, JsonNode> secrets = byName(docs, "Secret");

        for (JsonNode cm : configMaps.values()) {
            String where = "k8s ConfigMap " + name(cm);
            cm.path("data").fields().forEachRemaining(f -> {
                problems.addAll(variableProblems(where, f.getKey(), f.getValue().asText()));
                OnceflowConfig.Key key = key(f.getKey());
                if (key != null && key.type() == OnceflowConfig.Type.PASSWORD) {
                    problems.add(where + ": " + f.getKey() + " is a secret; it belongs in the Secret");
                }
            });
        }
        for (JsonNode secret : secrets.values()) {
            String where = "k8s Secret " + name(secret);
            Set<String> keys = new TreeSet<>();
            for (String field : List.of("stringData", "data")) {
                secret.path(field).fields().forEachRemaining(f -> {
                    keys.add(f.getKey());
                    problems.addAll(variableProblems(where, f.getKey(), null));
                    if (!f.getValue().asText().isEmpty()) {
                        problems.add(where + ": " + f.getKey() + " has a value in the file; secrets do not go into git");
                    }
                });
            }
            for (OnceflowConfig.Key k : List.of(OnceflowConfig.DB_PASSWORD, OnceflowConfig.API_TOKEN)) {
                if (!keys.contains(k.envName())) {
                    problems.add(where + ": has no " + k.envName());
                }
            }
        }

        // The Deployments, one per role.
        Map<String, JsonNode> deployments = new LinkedHashMap<>();
        Map<String, Map<String, String>> roleEnv = new LinkedHashMap<>();
        Set<String> images = new TreeSet<>();
        for (JsonNode d : byName(docs, "Deployment").values()) {
            JsonNode c = container(d);
            String role = role(c.has("args") ? c.path("args") : c.path("command"));
            String where = "k8s Deployment " + name(d);
            if (role == null) {
                problems.add(where + ": its container runs no role (args " + words(c.path("args")) + ")");
                continue;
            }
            String p = commandProblem(where, role);
            if (p != null) {
                problems.add(p);
            }
            if (deployments.put(role, d) != null) {
                problems.add("k8s: two Deployments run the " + role + " role");
            }
            images.add(c.path("image").asText());
            Map<String, String> env = new LinkedHashMap<>(image.env());
            for (JsonNode from : c.path("envFrom")) {
                String cm = from.path("configMapRef").path("name").asText(null);
                String secret = from.path("secretRef").path("name").asText(null);
                if (cm != null) {
                    if (!configMaps.containsKey(cm)) {
                        problems.add(where + ": envFrom names ConfigMap " + cm + ", which is not in deploy/k8s");
                    } else {
                        configMaps.get(cm).path("data").fields().forEachRemaining(f -> env.put(f.getKey(), f.getValue().asText()));
                    }
                }
                if (secret != null) {
                    if (!secrets.containsKey(secret)) {
                        problems.add(where + ": envFrom names Secret " + secret + ", which is not in deploy/k8s");
                    } else {
                        for (String field : List.of("stringData", "data")) {
                            secrets.get(secret).path(field).fieldNames().forEachRemaining(n -> env.put(n, "${secret}"));
                        }
                    }
                }
            }
            for (JsonNode e : c.path("env")) {
                String value = e.has("value") ? e.path("value").asText() : "${valueFrom}";
                problems.addAll(variableProblems(where, e.path("name").asText(), value));
                env.put(e.path("name").asText(), value);
            }
            roleEnv.put(role, env);
            problems.addAll(podProblems(where, role, d, env, image));
        }
        if (!deployments.keySet().equals(ROLE_PORT.keySet())) {
            problems.add("k8s: Deployments for " + deployments.keySet() + " but the roles are " + ROLE_PORT.keySet());
        }
        if (images.size() > 1) {
            problems.add("k8s: the roles run different images " + images + "; one image runs every role");
        }

        // Services and disruption budgets select one role's pods each.
        for (String kind : List.of("Service", "PodDisruptionBudget")) {
            Set<String> covered = new TreeSet<>();
            for (JsonNode s : byName(docs, kind).values()) {
                String where = "k8s " + kind + " " + name(s);
                JsonNode selector = kind.equals("Service") ? s.path("spec").path("selector") : s.path("spec").path("selector").path("matchLabels");
                List<String> selected = deployments.entrySet().stream()
                        .filter(e -> selects(selector, e.getValue().path("spec").path("template").path("metadata").path("labels")))
                        .map(Map.Entry::getKey).toList();
                if (selected.size() != 1) {
                    problems.add(where + ": selects the pods of " + selected + "; it must select one role's");
                    continue;
                }
                String role = selected.get(0);
                covered.add(role);
                if (kind.equals("Service")) {
                    String port = effective(roleEnv.get(role), ROLE_PORT.get(role));
                    for (JsonNode sp : s.path("spec").path("ports")) {
                        String target = resolvePort(container(deployments.get(role)), sp.path("targetPort").isMissingNode()
                                ? sp.path("port") : sp.path("targetPort"));
                        if (!port.equals(target)) {
                            problems.add(where + ": targets port " + target + " but the " + role + " listens on " + port);
                        }
                    }
                }
            }
            if (!covered.equals(ROLE_PORT.keySet())) {
                problems.add("k8s: " + kind + "s cover " + covered + ", not every role " + ROLE_PORT.keySet());
            }
        }

        // KEDA scales the engines on their own group's lag of Onceflow's topics, capped at the partitions.
        Map<String, String> engineEnv = roleEnv.getOrDefault("engine", Map.of());
        JsonNode engine = deployments.get("engine");
        List<JsonNode> scaled = new ArrayList<>(byName(docs, "ScaledObject").values());
        if (scaled.size() != 1) {
            problems.add("k8s: expected one KEDA ScaledObject, found " + scaled.size());
            return problems;
        }
        JsonNode so = scaled.get(0);
        String where = "k8s ScaledObject " + name(so);
        if (!so.path("apiVersion").asText().equals("keda.sh/v1alpha1")) {
            problems.add(where + ": apiVersion " + so.path("apiVersion").asText() + " is not keda.sh/v1alpha1");
        }
        JsonNode target = so.path("spec").path("scaleTargetRef");
        if (engine == null || !target.path("name").asText().equals(name(engine))
                || !target.path("kind").asText("Deployment").equals("Deployment")) {
            problems.add(where + ": scales " + target.path("name").asText() + ", not the engine Deployment");
        }
        if (engine != null && engine.path("spec").has("replicas")) {
            problems.add("k8s Deployment " + name(engine) + ": sets replicas, which every 'kubectl apply' would reset under KEDA");
        }
        int partitions = Integer.parseInt(effective(engineEnv, OnceflowConfig.PARTITIONS));
        int workers = Integer.parseInt(effective(engineEnv, OnceflowConfig.ENGINE_WORKERS));
        int max = so.path("spec").path("maxReplicaCount").asInt(-1);
        int min = so.path("spec").path("minReplicaCount").asInt(0);
        if (max != partitions) {
            problems.add(where + ": maxReplicaCount " + max + " but the ConfigMap creates topics with " + partitions + " partitions ("
                    + OnceflowConfig.PARTITIONS.envName() + ")");
        }
        if ((long) max * workers > partitions) {
            problems.add(where + ": " + max + " pods of " + workers + " workers (" + OnceflowConfig.ENGINE_WORKERS.envName() + ") are "
                    + (long) max * workers + " consumers for " + partitions + " partitions; the cap would leave workers idle");
        }
        if (min < 1) {
            problems.add(where + ": minReplicaCount " + min + "; engines fire the due timers of their partitions, which no lag"
                    + " shows, so never scale them to zero");
        }
        String group = effective(engineEnv, OnceflowConfig.ENGINE_GROUP);
        String bootstrap = effective(engineEnv, OnceflowConfig.KAFKA_BOOTSTRAP);
        boolean events = false;
        int kafkaMajor = Integer.parseInt(rootPom("/project/properties/kafka.version").split("\\.")[0]);
        for (JsonNode trigger : so.path("spec").path("triggers")) {
            JsonNode m = trigger.path("metadata");
            if (!trigger.path("type").asText().equals("kafka")) {
                problems.add(where + ": a trigger of type " + trigger.path("type").asText() + ", not kafka");
                continue;
            }
            if (!m.path("consumerGroup").asText().equals(group)) {
                problems.add(where + ": reads the lag of group " + m.path("consumerGroup").asText() + ", but the engines' group is '"
                        + group + "' (" + OnceflowConfig.ENGINE_GROUP.envName() + ")");
            }
            String topic = m.path("topic").asText();
            events |= topic.equals(Topics.EVENTS);
            if (!Set.of(Topics.EVENTS, Topics.TASKS).contains(topic)) {
                problems.add(where + ": reads the lag of " + topic + ", which the engines do not consume (" + Topics.EVENTS + ", "
                        + Topics.TASKS + ")");
            }
            if (!m.path("bootstrapServers").asText().equals(bootstrap)) {
                problems.add(where + ": bootstrapServers " + m.path("bootstrapServers").asText() + " but the engines use " + bootstrap);
            }
            if (m.path("allowIdleConsumers").asText("false").equals("true")) {
                problems.add(where + ": allowIdleConsumers true lets KEDA scale past the partition count");
            }
            Matcher v = Pattern.compile("(\\d+)\\.(\\d+).*").matcher(m.path("version").asText("1.0.0"));
            if (kafkaMajor >= 4 && (!v.matches() || Integer.parseInt(v.group(1)) < 2
                    || (Integer.parseInt(v.group(1)) == 2 && Integer.parseInt(v.group(2)) < 1))) {
                problems.add(where + ": KEDA's Kafka protocol version " + m.path("version").asText("(default 1.0.0)")
                        + " is older than 2.1, which Kafka " + kafkaMajor + " brokers refuse");
            }
        }
        if (!events) {
            problems.add(where + ": no trigger reads the lag of " + Topics.EVENTS);
        }
        return problems;
    }

    /** Ports, probes, scrape annotations and the security context of one role's pod template. */
    private static List<String> podProblems(String where, String role, JsonNode deployment, Map<String, String> env, DockerImage image) {
        List<String> problems = new ArrayList<>();
        JsonNode pod = deployment.path("spec").path("template");
        JsonNode spec = pod.path("spec");
        JsonNode c = container(deployment);
        String port = effective(env, ROLE_PORT.get(role));
        boolean listens = false;
        for (JsonNode p : c.path("ports")) {
            listens |= p.path("containerPort").asText().equals(port);
        }
        if (!listens) {
            problems.add(where + ": no container port " + port + " (the " + role + "'s " + ROLE_PORT.get(role).name() + ")");
        }
        Map<String, Set<String>> probePaths = Map.of(
                "livenessProbe", Set.of(HttpPaths.HEALTH_LIVE),
                "readinessProbe", Set.of(HttpPaths.HEALTH_READY),
                "startupProbe", Set.of(HttpPaths.HEALTH_LIVE, HttpPaths.HEALTH_READY));
        probePaths.forEach((probe, paths) -> {
            JsonNode get = c.path(probe).path("httpGet");
            if (get.isMissingNode()) {
                problems.add(where + ": no HTTP " + probe);
                return;
            }
            if (!paths.contains(get.path("path").asText())) {
                problems.add(where + ": " + probe + " calls " + get.path("path").asText() + ", not " + String.join(" or ", paths));
            }
            String probed = resolvePort(c, get.path("port"));
            if (!port.equals(probed)) {
                problems.add(where + ": " + probe + " calls port " + probed + " but the " + role + " listens on " + port);
            }
        });
        JsonNode startup = c.path("startupProbe");
        long budget = startup.path("initialDelaySeconds").asLong(0)
                + startup.path("periodSeconds").asLong(10) * startup.path("failureThreshold").asLong(3);
        if (budget < RoleCommand.START_TIMEOUT_S) {
            problems.add(where + ": the startupProbe allows " + budget + " s, less than the " + RoleCommand.START_TIMEOUT_S
                    + " s a role waits for PostgreSQL and Kafka at start");
        }
        JsonNode annotations = pod.path("metadata").path("annotations");
        if (!annotations.path("prometheus.io/scrape").asText().equals("true")
                || !annotations.path("prometheus.io/port").asText().equals(port)
                || !annotations.path("prometheus.io/path").asText().equals(HttpPaths.METRICS)) {
            problems.add(where + ": the Prometheus annotations must scrape " + HttpPaths.METRICS + " on port " + port + " (found "
                    + annotations + ")");
        }
        if (!spec.path("enableServiceLinks").isBoolean() || spec.path("enableServiceLinks").asBoolean()) {
            problems.add(where + ": enableServiceLinks must be false: the onceflow-* Services would inject ONCEFLOW_<SERVICE>_..."
                    + " variables that are not settings (and could one day spell one)");
        }
        JsonNode security = spec.path("securityContext");
        if (!security.path("runAsNonRoot").asBoolean(false)) {
            problems.add(where + ": runAsNonRoot is not true");
        }
        if (security.has("runAsUser") && image.uid() != null && security.path("runAsUser").asInt() != image.uid()) {
            problems.add(where + ": runAsUser " + security.path("runAsUser").asInt() + " but the image's user is " + image.uid());
        }
        if (c.path("securityContext").path("readOnlyRootFilesystem").asBoolean(false)) {
            List<String> mounts = new ArrayList<>();
            c.path("volumeMounts").forEach(m -> mounts.add(m.path("mountPath").asText()));
            List<String> writable = new ArrayList<>(List.of("/tmp"));
            if (role.equals("dispatcher")) {
                String state = effective(env, OnceflowConfig.DISPATCHER_STATE_DIR);
                writable.add(state.isEmpty() ? "/tmp" : state);
            }
            for (String dir : writable) {
                if (mounts.stream().noneMatch(m -> dir.equals(m) || dir.startsWith(m.endsWith("/") ? m : m + "/"))) {
                    problems.add(where + ": the root filesystem is read-only and nothing is mounted at " + dir);
                }
            }
        }
        return problems;
    }

    private static boolean selects(JsonNode selector, JsonNode labels) {
        if (!selector.isObject() || selector.size() == 0) {
            return false;
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = selector.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!labels.path(e.getKey()).asText("\0").equals(e.getValue().asText())) {
                return false;
            }
        }
        return true;
    }

    /** A port given by number or by the container port's name, as a number. */
    private static String resolvePort(JsonNode container, JsonNode port) {
        if (port.isInt() || port.asText().matches("\\d+")) {
            return port.asText();
        }
        for (JsonNode p : container.path("ports")) {
            if (p.path("name").asText().equals(port.asText())) {
                return p.path("containerPort").asText();
            }
        }
        return "(no port named " + port.asText() + ")";
    }

    private static JsonNode container(JsonNode deployment) {
        return deployment.path("spec").path("template").path("spec").path("containers").path(0);
    }

    private static Map<String, JsonNode> byName(List<JsonNode> docs, String kind) {
        Map<String, JsonNode> out = new LinkedHashMap<>();
        docs.stream().filter(d -> d.path("kind").asText().equals(kind)).forEach(d -> out.put(name(d), d));
        return out;
    }

    private static String name(JsonNode doc) {
        return doc.path("metadata").path("name").asText();
    }

    private static JsonNode find(List<JsonNode> docs, String kind) {
        return docs.stream().filter(d -> d.path("kind").asText().equals(kind)).findFirst().orElseThrow();
    }

    private static JsonNode deployment(List<JsonNode> docs, String role) {
        return docs.stream().filter(d -> d.path("kind").asText().equals("Deployment"))
                .filter(d -> role.equals(role(container(d).path("args")))).findFirst().orElseThrow();
    }

    // ---------------------------------------------------------------------------------------------
    // Grafana dashboard
    // ---------------------------------------------------------------------------------------------

    /** PromQL functions, aggregations and keywords the dashboard may use; every other name must be a contract metric. */
    private static final Set<String> PROMQL = Set.of("sum", "max", "min", "avg", "count", "topk", "bottomk", "rate", "irate",
            "increase", "histogram_quantile", "clamp_min", "clamp_max", "abs", "delta", "deriv", "absent", "vector", "scalar",
            "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or", "unless");

    static List<String> dashboardProblems(JsonNode dashboard) {
        List<String> problems = new ArrayList<>();
        Set<String> allowed = new TreeSet<>(COUNTERS_AND_GAUGES);
        HISTOGRAMS.forEach(h -> allowed.add(h + "_bucket"));
        Set<String> used = new TreeSet<>();
        Set<String> variables = new TreeSet<>();
        for (JsonNode v : dashboard.path("templating").path("list")) {
            variables.add(v.path("name").asText());
            JsonNode q = v.path("query");
            String query = q.isObject() ? q.path("query").asText() : q.asText();
            Matcher m = Pattern.compile("label_values\\(\\s*([A-Za-z_:][A-Za-z0-9_:]*)\\s*,").matcher(query);
            while (m.find()) {
                used.add(m.group(1));
                if (!allowed.contains(m.group(1))) {
                    problems.add("dashboard variable " + v.path("name").asText() + ": " + m.group(1) + " is not a metric of the contract");
                }
            }
        }
        List<JsonNode> panels = new ArrayList<>();
        collectPanels(dashboard.path("panels"), panels);
        Set<Integer> ids = new TreeSet<>();
        for (JsonNode panel : panels) {
            String where = "dashboard panel '" + panel.path("title").asText() + "'";
            if (!ids.add(panel.path("id").asInt())) {
                problems.add(where + ": id " + panel.path("id").asInt() + " is used twice");
            }
            if (panel.path("type").asText().equals("row")) {
                continue;
            }
            List<JsonNode> datasources = new ArrayList<>(List.of(panel.path("datasource")));
            if (panel.path("targets").isEmpty()) {
                problems.add(where + ": no query");
            }
            for (JsonNode t : panel.path("targets")) {
                datasources.add(t.path("datasource"));
                String expr = t.path("expr").asText();
                for (String metric : metricNames(expr, problems, where)) {
                    used.add(metric);
                    if (!allowed.contains(metric)) {
                        problems.add(where + ": " + metric + " is not a metric of the contract (" + expr + ")");
                    }
                }
            }
            for (JsonNode ds : datasources) {
                Matcher var = Pattern.compile("\\$\\{?(\\w+)}?").matcher(ds.path("uid").asText());
                if (var.matches() && !variables.contains(var.group(1))) {
                    problems.add(where + ": datasource variable " + var.group(1) + " is not defined");
                }
            }
        }
        for (String metric : allowed) {
            if (!used.contains(metric)) {
                problems.add("dashboard: no panel shows " + metric);
            }
        }
        // The headline: the first panel shows the duplicates absorbed, one value per layer.
        JsonNode first = panels.stream().filter(p -> !p.path("type").asText().equals("row"))
                .min(Comparator.comparingInt((JsonNode p) -> p.path("gridPos").path("y").asInt())
                        .thenComparingInt(p -> p.path("gridPos").path("x").asInt())).orElse(null);
        String headline = first == null ? "" : first.path("targets").path(0).path("expr").asText();
        if (!headline.contains("onceflow_duplicates_absorbed_total") || !headline.matches(".*\\bby\\s*\\(\\s*layer\\s*\\).*")) {
            problems.add("dashboard: the first panel must show onceflow_duplicates_absorbed_total by layer (found '" + headline + "')");
        }
        for (JsonNode p : panels) {
            for (JsonNode o : p.path("fieldConfig").path("overrides")) {
                String matched = o.path("matcher").path("options").asText();
                if (p.toString().contains("onceflow_duplicates_absorbed_total") && !ABSORBED_LAYERS.contains(matched)) {
                    problems.add("dashboard panel '" + p.path("title").asText() + "': an override for layer '" + matched
                            + "', which is none of " + ABSORBED_LAYERS);
                }
            }
        }
        return problems;
    }

    private static void collectPanels(JsonNode list, List<JsonNode> out) {
        for (JsonNode p : list) {
            out.add(p);
            collectPanels(p.path("panels"), out);
        }
    }

    /** The metric names of a PromQL expression: what is left once strings, matchers, ranges and grouping labels are removed. */
    static Set<String> metricNames(String expr, List<String> problems, String where) {
        String s = expr.replaceAll("\"(?:[^\"\\\\]|\\\\.)*\"", "\"\"")
                .replaceAll("\\{[^}]*\\}", " ")
                .replaceAll("\\[[^\\]]*\\]", " ")
                .replaceAll("\\b(by|without|on|ignoring|group_left|group_right)\\s*\\([^)]*\\)", " ");
        Set<String> names = new TreeSet<>();
        Matcher m = Pattern.compile("[A-Za-z_:][A-Za-z0-9_:]*(\\s*\\()?").matcher(s);
        while (m.find()) {
            String word = m.group().replaceAll("[\\s(]", "");
            boolean call = m.group(1) != null;
            if (PROMQL.contains(word)) {
                continue;
            }
            if (call) {
                problems.add(where + ": " + word + "(...) is not a PromQL function this check knows");
            } else {
                names.add(word);
            }
        }
        return names;
    }

    // ---------------------------------------------------------------------------------------------
    // Files
    // ---------------------------------------------------------------------------------------------

    private static Path repositoryRoot() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.exists(p.resolve("deploy/pom.xml")) && Files.exists(p.resolve("pom.xml"))) {
                return p;
            }
        }
        throw new IllegalStateException("no repository root above " + Path.of("").toAbsolutePath());
    }

    private static List<Path> deployFiles() {
        List<Path> files = new ArrayList<>(List.of(ROOT.resolve("Dockerfile"), ROOT.resolve("deploy/compose.yaml"),
                ROOT.resolve("deploy/grafana/onceflow-dashboard.json")));
        try (Stream<Path> k8s = Files.list(ROOT.resolve("deploy/k8s"))) {
            k8s.filter(f -> f.toString().endsWith(".yaml")).sorted().forEach(files::add);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return files;
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static List<String> dockerfile() {
        return read(ROOT.resolve("Dockerfile")).lines().toList();
    }

    private static JsonNode compose() {
        try {
            return YAML.readTree(read(ROOT.resolve("deploy/compose.yaml")));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static List<JsonNode> kubernetes() {
        List<JsonNode> docs = new ArrayList<>();
        for (Path f : deployFiles()) {
            if (f.getParent().endsWith("k8s")) {
                try (var it = YAML.readerFor(JsonNode.class).<JsonNode>readValues(read(f))) {
                    while (it.hasNext()) {
                        JsonNode doc = it.next();
                        if (doc != null && !doc.isNull() && !doc.isEmpty()) {
                            docs.add(doc);
                        }
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException(f + ": " + e.getMessage(), e);
                }
            }
        }
        return docs;
    }

    private static JsonNode dashboard() {
        try {
            return JSON.readTree(read(ROOT.resolve("deploy/grafana/onceflow-dashboard.json")));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String rootPom(String xpath) {
        return xpath(ROOT.resolve("pom.xml"), xpath).get(0);
    }

    private static List<String> rootPomList(String xpath) {
        return xpath(ROOT.resolve("pom.xml"), xpath);
    }

    private static String deployPom(String xpath) {
        List<String> found = xpath(ROOT.resolve("deploy/pom.xml"), xpath);
        if (found.size() != 1) {
            throw new IllegalStateException("deploy/pom.xml: " + xpath + " gives " + found);
        }
        return found.get(0);
    }

    private static List<String> xpath(Path pom, String expression) {
        try {
            DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
            factory.setNamespaceAware(false);
            Document doc = factory.newDocumentBuilder().parse(pom.toFile());
            NodeList nodes = (NodeList) XPathFactory.newInstance().newXPath().evaluate(expression, doc, XPathConstants.NODESET);
            List<String> values = new ArrayList<>();
            for (int i = 0; i < nodes.getLength(); i++) {
                values.add(nodes.item(i).getTextContent().strip());
            }
            if (values.isEmpty()) {
                throw new IllegalStateException(pom + ": nothing at " + expression);
            }
            return values;
        } catch (Exception e) {
            throw new IllegalStateException(pom + ": " + e.getMessage(), e);
        }
    }
}
