package dev.onceflow.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * The operator's commands, speaking to a dispatcher's admin API (picocli):
 * {@code onceflow executions list|show|cancel|retry}, {@code onceflow dlq list|redrive},
 * {@code onceflow workflow deploy|list|versions|enable|disable|rollback} ({@link WorkflowDeploy}),
 * {@code onceflow publish} ({@link PublishCommand}), {@code onceflow fleet}. URL and token: see
 * {@link CliTarget}. Exit codes: {@value #OK} ok, {@value #USAGE} usage,
 * {@value #FAILED} the API refused the request (400, 409), {@value #NOT_FOUND} not found,
 * {@value #UNAUTHORIZED} a missing or wrong token, {@value #UNAVAILABLE} the API could not be
 * reached or failed (5xx), {@value #PENDING} an operator command was published but the engine had
 * not applied it within {@code --wait}.
 */
final class AdminCli {

    static final int OK = 0;
    static final int FAILED = 1;
    static final int USAGE = 2;
    static final int NOT_FOUND = 3;
    static final int UNAUTHORIZED = 4;
    static final int UNAVAILABLE = 5;
    /** An operator command was published, but its result did not show within {@code --wait}. */
    static final int PENDING = 6;

    private AdminCli() {
    }

    /** Runs {@code argv} (the command family first) in the whole {@code onceflow} tree; returns the exit code. */
    static int run(List<String> argv, PrintStream out, PrintStream err, Map<String, String> env) {
        CommandLine cl = Onceflow.tree();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        cl.setExecutionExceptionHandler((e, line, parsed) -> {
            if (e instanceof ApiError a) {
                line.getErr().println(line.getCommandSpec().qualifiedName() + ": " + a.getMessage());
                return a.code;
            }
            if (e instanceof CliTarget.BadTarget || e instanceof Args.UsageException) {
                line.getErr().println(line.getCommandSpec().qualifiedName() + ": " + e.getMessage());
                return USAGE;
            }
            if (e instanceof CommandLine.ParameterException p) {
                line.getErr().println(line.getCommandSpec().qualifiedName() + ": " + p.getMessage());
                return USAGE;
            }
            line.getErr().println(line.getCommandSpec().qualifiedName() + " failed: " + e);
            return FAILED;
        });
        cl.setExitCodeExceptionMapper(e -> USAGE);
        Client.env = env;
        return cl.execute(argv.toArray(new String[0]));
    }

    /** Adds the commands that speak to the admin API to the {@code onceflow} tree. */
    static void addCommands(CommandLine cl) {
        cl.addSubcommand(new CommandLine(new WorkflowAdmin()).addSubcommand(new WorkflowDeploy.Deploy())
                .addSubcommand(new WorkflowDeploy.ListWorkflows()).addSubcommand(new WorkflowVersions())
                .addSubcommand("enable", new WorkflowEnable(true)).addSubcommand("disable", new WorkflowEnable(false))
                .addSubcommand(new WorkflowRollback()));
        cl.addSubcommand(new PublishCommand());
        cl.addSubcommand(new CommandLine(new Executions()).addSubcommand(new ExecutionsList()).addSubcommand(new ExecutionsShow())
                .addSubcommand(new ExecutionsCancel()).addSubcommand(new ExecutionsRetry()));
        cl.addSubcommand(new CommandLine(new Dlq()).addSubcommand(new DlqList()).addSubcommand(new DlqRedrive()));
        cl.addSubcommand(new Fleet());
        cl.addSubcommand(new CommandLine(new ImportCommand.Import()).addSubcommand(new ImportCommand.Nocobase()));
    }

    /** The options every command that calls the API takes (where they come from: {@link CliTarget}). */
    static final class Api {
        @Option(names = "--url", paramLabel = "URL", description = "The dispatcher's HTTP API, e.g. http://localhost:8080 (default: $ONCEFLOW_URL, "
                + "else url= in the CLI file that onceflow dev writes, else http://localhost:8080).")
        String url;

        @Option(names = "--token", paramLabel = "TOKEN", description = "The API's bearer token (default: $ONCEFLOW_API_TOKEN, else token= in the CLI file).")
        String token;

        @Option(names = "--token-env", defaultValue = CliTarget.TOKEN_ENV, paramLabel = "NAME",
                description = "Environment variable holding the bearer token (default: ${DEFAULT-VALUE}).")
        String tokenEnv;

        @Option(names = {"-o", "--output"}, paramLabel = "FORMAT", defaultValue = "table", description = "table or json (default: ${DEFAULT-VALUE}).")
        String output;

        Client client() {
            if (!output.equals("table") && !output.equals("json")) {
                throw new CliTarget.BadTarget("--output must be table or json, not '" + output + "'");
            }
            CliTarget target = CliTarget.resolve(url, token, tokenEnv, Client.env);
            if (target.token() == null) {
                throw new ApiError(UNAUTHORIZED, "no token: give --token, set " + tokenEnv + " to the dispatcher's api.token, or run"
                        + " onceflow dev, which writes " + CliTarget.file(Client.env));
            }
            return new Client(target.url(), target.token());
        }
    }

    /** An answer that ends the command with an exit code. */
    static final class ApiError extends RuntimeException {
        final int code;

        ApiError(int code, String message) {
            super(message);
            this.code = code;
        }
    }

    static final class Client {
        static Map<String, String> env = System.getenv();
        /** A person is waiting: an address where nothing answers fails in seconds, not after the OS's minute. */
        static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(3);
        private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(CONNECT_TIMEOUT).build();
        final String base;
        final String token;

        Client(String base, String token) {
            this.base = base;
            this.token = token;
        }

        JsonNode get(String path) {
            return send(HttpRequest.newBuilder(URI.create(base + path)).GET());
        }

        JsonNode post(String path, Object body) {
            return send(HttpRequest.newBuilder(URI.create(base + path)).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofByteArray(body == null ? new byte[0] : Json.bytes(body))));
        }

        private JsonNode send(HttpRequest.Builder b) {
            HttpResponse<String> r;
            try {
                r = HTTP.send(b.header("Authorization", "Bearer " + token).timeout(Duration.ofSeconds(60)).build(),
                        HttpResponse.BodyHandlers.ofString());
            } catch (java.net.http.HttpConnectTimeoutException e) {
                throw new ApiError(UNAVAILABLE, "cannot reach the Onceflow API at " + base + " (no answer within "
                        + CONNECT_TIMEOUT.toSeconds() + " s); is a dispatcher running there? (--url, $ONCEFLOW_URL)");
            } catch (ConnectException e) {
                throw new ApiError(UNAVAILABLE, "cannot reach the Onceflow API at " + base + " (connection refused)"
                        + "; is a dispatcher running there? (--url, $ONCEFLOW_URL)");
            } catch (java.io.IOException e) {
                throw new ApiError(UNAVAILABLE, "the request to the Onceflow API at " + base + " failed: " + e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ApiError(UNAVAILABLE, "interrupted");
            }
            JsonNode body;
            try {
                body = r.body().isBlank() ? Json.MAPPER.createObjectNode() : Json.tree(r.body());
            } catch (RuntimeException notJson) {
                body = Json.MAPPER.createObjectNode().put("error", r.body());
            }
            int s = r.statusCode();
            if (s >= 200 && s < 300) {
                return body;
            }
            String message = body.path("error").asText(r.body()) + " (HTTP " + s + ")";
            throw new ApiError(s == 404 ? NOT_FOUND : s == 401 || s == 403 ? UNAUTHORIZED : s >= 500 ? UNAVAILABLE : FAILED, message);
        }
    }

    static String q(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    /** Prints {@code body} as JSON, or as a table of {@code items} with these columns. */
    static void print(PrintWriter out, Api api, JsonNode body, String itemsField, List<String> columns) {
        if (api.output.equals("json")) {
            out.println(Json.text(body));
            return;
        }
        JsonNode items = itemsField == null ? null : body.get(itemsField);
        if (items == null || !items.isArray()) {
            printObject(out, body, "");
            return;
        }
        List<List<String>> rows = new ArrayList<>();
        rows.add(columns);
        for (JsonNode item : items) {
            List<String> row = new ArrayList<>();
            for (String c : columns) {
                JsonNode v = item.get(c);
                String text = v == null || v.isNull() ? "" : v.isValueNode() ? v.asText() : Json.text(v);
                row.add(text.length() > 60 ? text.substring(0, 59) + "…" : text.replace('\n', ' '));
            }
            rows.add(row);
        }
        int[] width = new int[columns.size()];
        for (List<String> row : rows) {
            for (int i = 0; i < row.size(); i++) {
                width[i] = Math.max(width[i], row.get(i).length());
            }
        }
        for (List<String> row : rows) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < row.size(); i++) {
                line.append(String.format("%-" + width[i] + "s", row.get(i))).append(i < row.size() - 1 ? "  " : "");
            }
            out.println(line.toString().stripTrailing());
        }
        if (body.hasNonNull("nextCursor")) {
            out.println("(more: --cursor " + body.get("nextCursor").asText() + ")");
        }
    }

    private static void printObject(PrintWriter out, JsonNode node, String indent) {
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode v = e.getValue();
            if (v.isObject()) {
                out.println(indent + e.getKey() + ":");
                printObject(out, v, indent + "  ");
            } else if (v.isArray() && v.size() > 0 && v.get(0).isObject()) {
                out.println(indent + e.getKey() + ":");
                for (JsonNode item : v) {
                    out.println(indent + "  - " + Json.text(item));
                }
            } else {
                out.println(indent + e.getKey() + ": " + (v.isValueNode() ? v.asText() : Json.text(v)));
            }
        }
    }

    // ---- executions ---------------------------------------------------------------------------

    @Command(name = "executions", mixinStandardHelpOptions = true, description = "List, show, cancel and retry executions.")
    static final class Executions {
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Executions, newest first, a page at a time.")
    static final class ExecutionsList implements Callable<Integer> {
        @Mixin
        Api api;
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;
        @Option(names = "--workflow", description = "Only this workflow.")
        String workflow;
        @Option(names = "--status", description = "Only executions with this status: running, waiting (on a timer: a delay, "
                + "or the backoff before a retry), succeeded, failed, cancelled, queued (behind another execution of its ordering key) or "
                + "superseded (replaced by a later event within the workflow's debounce); "
                + "the words the list shows.")
        String status;
        @Option(names = "--since", description = "Created at or after this ISO instant.")
        String since;
        @Option(names = "--limit", defaultValue = "50", description = "Page size, 1 to 1000 (default: ${DEFAULT-VALUE}).")
        int limit;
        @Option(names = "--cursor", description = "The nextCursor of the previous page.")
        String cursor;

        @Override
        public Integer call() {
            StringBuilder path = new StringBuilder("/api/executions?limit=" + limit);
            Map<String, String> params = new LinkedHashMap<>();
            params.put("workflow", workflow);
            params.put("status", status);
            params.put("since", since);
            params.put("cursor", cursor);
            params.forEach((k, v) -> {
                if (v != null) {
                    path.append('&').append(k).append('=').append(q(v));
                }
            });
            if (status != null && dev.onceflow.common.executions.ShownStatus.parse(status).isEmpty()) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--status must be "
                        + dev.onceflow.common.executions.ShownStatus.words() + ", not '" + status + "'");
            }
            JsonNode body = api.client().get(path.toString());
            PrintWriter out = spec.commandLine().getOut();
            if (api.output.equals("json")) {
                out.println(Json.text(body));
            } else {
                ExecutionView.printList(body, out);
            }
            return OK;
        }
    }

    @Command(name = "show", mixinStandardHelpOptions = true,
            description = "One execution with its node runs in the order they ran, each with its output (cut) or error.")
    static final class ExecutionsShow implements Callable<Integer> {
        @Mixin
        Api api;
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;
        @Parameters(paramLabel = "EVENT_KEY", description = "The execution's event key, whole, as executions list and publish print it.")
        String key;

        @Override
        public Integer call() {
            JsonNode body = api.client().get("/api/executions/" + q(key));
            PrintWriter out = spec.commandLine().getOut();
            if (api.output.equals("json")) {
                out.println(Json.text(body));
            } else {
                ExecutionView.printExecution(body, out);
            }
            return OK;
        }
    }

    /**
     * A command that posts an operator command to {@code /api/executions/{key}/<action>}. The API
     * answers 202 once the command is published; the engine applies it in its own batch (ADR 0025),
     * so the command then reads the execution until its status shows the result, for at most
     * {@code --wait} seconds, and prints it ({@code status:}); with {@code --no-wait} it prints the
     * answer only. Exit {@value #PENDING} when the result did not show in time (the command stays
     * published: the engine applies it when it reaches it), {@value #FAILED} when the execution
     * ended otherwise first (a cancel that came after its end).
     */
    abstract static class ExecutionAction implements Callable<Integer> {
        @Mixin
        Api api;
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;
        @Parameters(paramLabel = "EVENT_KEY", description = "The execution's event key, whole, as executions list and publish print it.")
        String key;
        @Option(names = "--wait", paramLabel = "SECONDS", defaultValue = "10",
                description = "How long to wait for the engine to apply the command (default: ${DEFAULT-VALUE}).")
        int waitSeconds;
        @Option(names = "--no-wait", description = "Return once the command is published; do not wait for the engine to apply it.")
        boolean noWait;

        /** The request body, or null. */
        Object body() {
            return null;
        }

        /** Whether {@code execution} shows the result of the command {@code answer} describes. */
        abstract boolean applied(JsonNode answer, JsonNode execution);

        /** Whether the result shown is the one asked for. */
        abstract boolean asked(JsonNode answer, JsonNode execution);

        @Override
        public Integer call() throws InterruptedException {
            Client client = api.client();
            JsonNode answer = client.post("/api/executions/" + q(key) + "/" + spec.name(), body());
            com.fasterxml.jackson.databind.node.ObjectNode shown = answer.deepCopy();
            PrintWriter out = spec.commandLine().getOut();
            if (noWait) {
                shown.put("status", "requested");
                print(out, api, shown, null, List.of());
                return OK;
            }
            long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(Math.max(0, waitSeconds));
            JsonNode execution = client.get("/api/executions/" + q(key));
            // Polling an HTTP API a person waits on: no clock to drive, so a short pause between reads.
            while (!applied(answer, execution) && System.nanoTime() < deadline) {
                Thread.sleep(200);
                execution = client.get("/api/executions/" + q(key));
            }
            shown.put("status", execution.path("status").asText());
            print(out, api, shown, null, List.of());
            if (!applied(answer, execution)) {
                spec.commandLine().getErr().println(spec.qualifiedName() + ": the " + spec.name() + " command is published, but the "
                        + "engine had not applied it within " + waitSeconds + " s (it applies it when it reaches it on the "
                        + "execution's partition); see onceflow executions show " + key);
                return PENDING;
            }
            if (!asked(answer, execution)) {
                spec.commandLine().getErr().println(spec.qualifiedName() + ": execution " + key + " is "
                        + execution.path("status").asText() + ": it ended before the " + spec.name() + " reached it");
                return FAILED;
            }
            return OK;
        }
    }

    @Command(name = "cancel", mixinStandardHelpOptions = true, description = "Cancel a running, waiting or queued execution "
            + "(the engine applies it: a node running now finishes, nothing after it runs).")
    static final class ExecutionsCancel extends ExecutionAction {
        @Option(names = "--reason", description = "Why, kept in the execution's error.")
        String reason;

        @Override
        Object body() {
            return reason == null ? null : Map.of("reason", reason);
        }

        @Override
        boolean applied(JsonNode answer, JsonNode execution) {
            return !UNFINISHED.contains(execution.path("status").asText());
        }

        @Override
        boolean asked(JsonNode answer, JsonNode execution) {
            return execution.path("status").asText().equals("cancelled");
        }
    }

    /** The statuses as shown of an execution that has not ended. */
    static final java.util.Set<String> UNFINISHED = java.util.Set.of("running", "waiting", "queued");

    @Command(name = "retry", mixinStandardHelpOptions = true,
            description = "Continue a failed execution from its failed node (a new attempt; nodes that succeeded do not run again).")
    static final class ExecutionsRetry extends ExecutionAction {
        @Override
        boolean applied(JsonNode answer, JsonNode execution) {
            if (!execution.path("status").asText().equals("failed")) {
                return true;
            }
            for (JsonNode n : execution.path("nodes")) {
                if (n.path("processedKey").asText().equals(answer.path("processedKey").asText())) {
                    return true; // the retried attempt ran (and failed again)
                }
            }
            return false;
        }

        @Override
        boolean asked(JsonNode answer, JsonNode execution) {
            return true;
        }
    }

    // ---- dead letters -------------------------------------------------------------------------

    @Command(name = "dlq", mixinStandardHelpOptions = true, description = "The dead-letter topic: list and redrive.")
    static final class Dlq {
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Dead letters with their reasons, newest first.")
    static final class DlqList implements Callable<Integer> {
        @Mixin
        Api api;
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;
        @Option(names = "--reason", description = "Only this reason (the onceflow.error.class header, e.g. UNKNOWN_WORKFLOW).")
        String reason;
        @Option(names = "--limit", defaultValue = "50", description = "At most this many (default: ${DEFAULT-VALUE}).")
        int limit;

        @Override
        public Integer call() {
            JsonNode body = api.client().get("/api/dlq?limit=" + limit + (reason == null ? "" : "&reason=" + q(reason)));
            print(spec.commandLine().getOut(), api, body, "items", List.of("partition", "offset", "time", "key", "reason", "message"));
            return OK;
        }
    }

    @Command(name = "redrive", mixinStandardHelpOptions = true,
            description = "Publish dead letters again to the topic they came from (same key: nothing runs twice).")
    static final class DlqRedrive implements Callable<Integer> {
        @Mixin
        Api api;
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;
        @Option(names = "--partition", description = "The dead letter's partition (with --offset).")
        Integer partition;
        @Option(names = "--offset", description = "The dead letter's offset (with --partition).")
        Long offset;
        @Option(names = "--reason", description = "Every dead letter with this reason.")
        String reason;

        @Override
        public Integer call() {
            Map<String, Object> body = new LinkedHashMap<>();
            if (reason != null && partition == null && offset == null) {
                body.put("reason", reason);
            } else if (reason == null && partition != null && offset != null) {
                body.put("partition", partition);
                body.put("offset", offset);
            } else {
                throw new CommandLine.ParameterException(spec.commandLine(), "give --partition and --offset, or --reason");
            }
            JsonNode answer = api.client().post("/api/dlq/redrive", body);
            print(spec.commandLine().getOut(), api, answer, "redriven", List.of("from", "to", "key"));
            return OK;
        }
    }

    // ---- workflows ----------------------------------------------------------------------------

    @Command(name = "workflow", mixinStandardHelpOptions = true,
            description = "Deploy, list, enable, disable or roll back workflows through the API.")
    static final class WorkflowAdmin {
    }

    @Command(mixinStandardHelpOptions = true, description = "Enable or disable every version of a workflow for new events.")
    static final class WorkflowEnable implements Callable<Integer> {
        private final boolean enable;
        @Mixin
        Api api;
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;
        @Parameters(paramLabel = "WORKFLOW_ID", description = "The workflow's id.")
        String id;

        WorkflowEnable(boolean enable) {
            this.enable = enable;
        }

        @Override
        public Integer call() {
            JsonNode body = api.client().post("/api/workflows/" + q(id) + (enable ? "/enable" : "/disable"), null);
            print(spec.commandLine().getOut(), api, body, null, List.of());
            return OK;
        }
    }

    @Command(name = "rollback", mixinStandardHelpOptions = true,
            description = "Deploy an earlier version's definition again, as the next version.")
    static final class WorkflowRollback implements Callable<Integer> {
        @Mixin
        Api api;
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;
        @Parameters(paramLabel = "WORKFLOW_ID", description = "The workflow's id.")
        String id;
        // Not --version: that is picocli's own (print the version), which made 'rollback --help' fail.
        @Option(names = "--to", required = true, paramLabel = "N", description = "The version whose definition to deploy again.")
        int version;

        @Override
        public Integer call() {
            JsonNode body = api.client().post("/api/workflows/" + q(id) + "/rollback?version=" + version, null);
            print(spec.commandLine().getOut(), api, body, null, List.of());
            return OK;
        }
    }

    @Command(name = "versions", mixinStandardHelpOptions = true, description = "Every workflow with its versions and whether it is enabled.")
    static final class WorkflowVersions implements Callable<Integer> {
        @Mixin
        Api api;
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            print(spec.commandLine().getOut(), api, api.client().get("/api/workflows"), "items",
                    List.of("id", "latest", "enabled", "trigger", "versions"));
            return OK;
        }
    }

    // ---- fleet --------------------------------------------------------------------------------

    @Command(name = "fleet", mixinStandardHelpOptions = true,
            description = "Engines and their partitions with consumer lag, dispatcher replicas, the capture and its slot lag.")
    static final class Fleet implements Callable<Integer> {
        @Mixin
        Api api;
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            print(spec.commandLine().getOut(), api, api.client().get("/api/fleet"), null, List.of());
            return OK;
        }
    }
}
