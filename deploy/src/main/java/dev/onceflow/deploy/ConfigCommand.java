package dev.onceflow.deploy;

import dev.onceflow.common.OnceflowConfig;
import java.io.PrintStream;

/** {@code onceflow config}: every declared configuration key, its environment name, default and meaning. */
final class ConfigCommand {

    static final Args.Spec SPEC = new Args.Spec("config", "Every configuration key with its environment variable, default and meaning.",
            java.util.List.of());

    private ConfigCommand() {
    }

    static int run(PrintStream out) {
        for (OnceflowConfig.Key key : OnceflowConfig.KEYS) {
            out.printf("%-32s %-36s default: %s%n    %s%n", key.name(), key.envName(),
                    key.defaultValue().isEmpty() ? "(empty)" : key.defaultValue(), key.doc());
        }
        out.println();
        out.println("Pass-through client settings: " + String.join(", ", OnceflowConfig.PASS_THROUGH)
                + " (e.g. kafka.producer.linger.ms=5)");
        return 0;
    }
}
