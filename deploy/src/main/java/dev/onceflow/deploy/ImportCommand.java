package dev.onceflow.deploy;

import dev.onceflow.deploy.nocobase.NocoSource;
import dev.onceflow.deploy.nocobase.NocoWorkflow;
import dev.onceflow.deploy.nocobase.NocobaseImport;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Clock;
import java.time.ZoneId;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code onceflow import nocobase}: NocoBase's workflows, read as NocoBase stores them, written as
 * Onceflow workflow files with a report ({@link NocobaseImport}). Contacts no Onceflow server: the
 * files are deployed with {@code onceflow workflow deploy} once read (see docs/nocobase.md).
 */
final class ImportCommand {

    private ImportCommand() {
    }

    @Command(name = "import", mixinStandardHelpOptions = true, synopsisSubcommandLabel = "SOURCE",
            description = "Import workflows from another engine.")
    static final class Import {
    }

    @Command(name = "nocobase", mixinStandardHelpOptions = true, sortOptions = false,
            description = {"Translate NocoBase's workflows (the current version of each) into Onceflow workflow files, one per workflow,"
                    + " plus import-report.md: per workflow imported, imported with approximations (each listed) or not importable (why).",
                    "Every file is validated as 'workflow deploy' validates it. Exit 0 when every workflow is importable, 1 otherwise."})
    static final class Nocobase implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @CommandLine.ArgGroup(exclusive = true, multiplicity = "1")
        Source source;

        static final class Source {
            @Option(names = "--from-db", paramLabel = "JDBC_URL", required = true,
                    description = "NocoBase's PostgreSQL database, e.g. jdbc:postgresql://localhost:5432/nocobase (read only).")
            String db;

            @Option(names = "--from-json", paramLabel = "FILE", required = true,
                    description = "The answer of NocoBase's REST API to GET /api/workflows:list?appends=nodes&paginate=false.")
            Path json;
        }

        @Option(names = "--user", paramLabel = "NAME", defaultValue = "postgres", description = "Database user for --from-db (default: ${DEFAULT-VALUE}).")
        String user;

        @Option(names = "--password", paramLabel = "PASSWORD", description = "Database password for --from-db (default: $NOCOBASE_DB_PASSWORD, "
                + "or the variable --password-env names).")
        String password;

        @Option(names = "--password-env", paramLabel = "NAME", defaultValue = "NOCOBASE_DB_PASSWORD",
                description = "Environment variable holding the database password (default: ${DEFAULT-VALUE}).")
        String passwordEnv;

        @Option(names = "--db-schema", paramLabel = "SCHEMA", defaultValue = "public",
                description = "Schema of NocoBase's tables workflows and flow_nodes (NocoBase's DB_SCHEMA; default: ${DEFAULT-VALUE}).")
        String schema;

        @Option(names = "--out", paramLabel = "DIR", description = "Directory for the workflow files and import-report.md (required unless --check).")
        Path out;

        @Option(names = "--check", description = "Write nothing: print the report; exit 1 when any workflow is not importable.")
        boolean check;

        @Option(names = "--zone", paramLabel = "ZONE", defaultValue = "UTC",
                description = "Time zone for cron schedules (NocoBase used its server's; default: ${DEFAULT-VALUE}).")
        String zone;

        @Override
        public Integer call() throws Exception {
            if (!check && out == null) {
                throw new Args.UsageException("give --out DIR (or --check to write nothing)");
            }
            try {
                ZoneId.of(zone);
            } catch (java.time.DateTimeException e) {
                throw new Args.UsageException("--zone: unknown time zone '" + zone + "'");
            }
            List<NocoWorkflow> read;
            String sourceName;
            try {
                if (source.json != null) {
                    read = NocoSource.fromJson(source.json);
                    sourceName = source.json.toString();
                } else {
                    String pw = password != null ? password : AdminCli.Client.env.get(passwordEnv);
                    read = NocoSource.fromDb(source.db, user, pw, schema);
                    sourceName = source.db + " (schema " + schema + ")";
                }
            } catch (IllegalArgumentException | java.io.IOException | java.sql.SQLException e) {
                throw new AdminCli.ApiError(AdminCli.FAILED, "cannot read NocoBase's workflows: " + e.getMessage());
            }
            List<NocobaseImport.Outcome> outcomes = NocobaseImport.translate(read,
                    new NocobaseImport.Settings(zone, Clock.systemUTC().instant()));
            PrintWriter o = spec.commandLine().getOut();
            if (check) {
                o.print(NocobaseImport.report(outcomes, sourceName));
            } else {
                NocobaseImport.write(outcomes, out, sourceName);
                for (NocobaseImport.Outcome r : outcomes) {
                    o.println(switch (r.status()) {
                        case IMPORTED -> "imported " + r.source().describe() + " -> " + out.resolve(r.fileName());
                        case APPROXIMATED -> "imported " + r.source().describe() + " -> " + out.resolve(r.fileName()) + " with "
                                + r.approximations().size() + " approximation(s)";
                        case NOT_IMPORTABLE -> "not importable " + r.source().describe() + ": " + String.join("; ", r.reasons());
                    });
                }
                o.println("report: " + out.resolve("import-report.md"));
            }
            o.flush();
            boolean all = outcomes.stream().noneMatch(r -> r.status() == NocobaseImport.Status.NOT_IMPORTABLE);
            return all ? AdminCli.OK : AdminCli.FAILED;
        }
    }
}
