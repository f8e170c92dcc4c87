package dev.onceflow.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.workflow.Trigger;
import dev.onceflow.common.workflow.Workflow;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code onceflow workflow deploy FILE...} and {@code onceflow workflow list}, through the
 * dispatcher's admin API ({@code POST /api/workflows}, {@code GET /api/workflows}). Every file is
 * validated here first, with the same code the dispatcher runs, so a typo in one file deploys
 * nothing and the message names the file; only then is each posted, as the next version.
 * {@code --check} validates only (no server).
 */
final class WorkflowDeploy {

    private WorkflowDeploy() {
    }

    @Command(name = "deploy", mixinStandardHelpOptions = true,
            description = "Validate workflow definitions and deploy each as the next version through the API "
                    + "(none is deployed when any file is invalid).")
    static final class Deploy implements Callable<Integer> {
        @Mixin
        AdminCli.Api api;
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;
        @Option(names = "--check", description = "Only validate the files; contact no server.")
        boolean check;
        @Parameters(paramLabel = "FILE", arity = "1..*", description = "Workflow definition files (JSON).")
        List<Path> files;

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut();
            ByteArrayOutputStream problems = new ByteArrayOutputStream();
            List<Workflow> parsed = WorkflowCommand.parse(files, new PrintStream(problems, true, StandardCharsets.UTF_8));
            if (parsed == null) {
                spec.commandLine().getErr().print(problems.toString(StandardCharsets.UTF_8));
                spec.commandLine().getErr().flush();
                return AdminCli.FAILED;
            }
            if (check) {
                parsed.forEach(w -> out.println("valid: " + w.id()));
                return AdminCli.OK;
            }
            AdminCli.Client client = api.client();
            for (int i = 0; i < parsed.size(); i++) {
                Workflow wf = parsed.get(i);
                JsonNode answer;
                try {
                    // The file as written (it parsed above), so the dispatcher validates exactly what the user wrote.
                    answer = client.post("/api/workflows", Json.MAPPER.readTree(java.nio.file.Files.readAllBytes(files.get(i))));
                } catch (java.io.IOException e) {
                    throw new AdminCli.ApiError(AdminCli.FAILED, files.get(i) + ": cannot read: " + e.getMessage());
                } catch (AdminCli.ApiError e) {
                    // The dispatcher names its input "request body"; the user knows it by its file.
                    throw new AdminCli.ApiError(e.code, e.getMessage().replace("request body", files.get(i).toString()));
                }
                out.println("deployed " + answer.path("id").asText(wf.id()) + " version " + answer.path("version").asInt()
                        + (wf.trigger() instanceof Trigger.Kafka k && k.userTopic()
                        ? " (reads topic " + k.topic() + ", which must exist: onceflow dev creates it, elsewhere create it"
                        + " with your Kafka tools)" : ""));
            }
            return AdminCli.OK;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Deployed workflows: the latest version of each and whether it is enabled.")
    static final class ListWorkflows implements Callable<Integer> {
        @Mixin
        AdminCli.Api api;
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            JsonNode body = api.client().get("/api/workflows");
            PrintWriter out = spec.commandLine().getOut();
            if (api.output.equals("json")) {
                out.println(Json.text(body));
                return AdminCli.OK;
            }
            for (JsonNode w : body.path("items")) {
                out.printf("%-32s version %-4d %-8s %s%n", w.path("id").asText(), w.path("latest").asInt(),
                        w.path("enabled").asBoolean() ? "enabled" : "disabled", w.path("trigger").asText(""));
            }
            return AdminCli.OK;
        }
    }
}
