package dev.onceflow.deploy.proof;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Which workloads one {@code onceflow bench} run measures: all of them by default, or those named by
 * {@code --only} (comma-separated), or the latency workload alone ({@code --latency-only}). The
 * warm-up runs whenever the engine does (any workload but {@code limits}); the ratios are computed
 * from whatever was measured. {@code profile} (the cost per execution, {@link BenchProfile}) is not
 * part of the default run, which keeps its duration: name it in {@code --only}, or add it with
 * {@code --profile}.
 */
record BenchPlan(Set<Workload> workloads) {

    /** A workload of {@code bench}, by the name {@code --only} takes; in the order a run measures them. */
    enum Workload {
        LATENCY("latency"),
        W1("w1"),
        W1_ENGINE("w1-engine"),
        W1_ORDER("w1-order"),
        W2("w2"),
        W3("w3"),
        SLOW_KEY("slow-key"),
        PROFILE("profile"),
        SCALING("scaling"),
        LIMITS("limits"),
        BROKERS_3("brokers-3");

        final String label;

        Workload(String label) {
            this.label = label;
        }

        static String known() {
            return Arrays.stream(values()).map(w -> w.label).collect(Collectors.joining(", "));
        }
    }

    BenchPlan {
        workloads = workloads.isEmpty() ? EnumSet.noneOf(Workload.class) : EnumSet.copyOf(workloads);
    }

    /**
     * The default run: every workload but {@code scaling}, which is asked for by name. Its
     * {@code profile} and {@code brokers-3} run apart, each on infrastructure of its own, after the
     * others: see {@link #apart}.
     */
    static BenchPlan all() {
        return new BenchPlan(EnumSet.complementOf(EnumSet.of(Workload.SCALING)));
    }

    /**
     * The workloads of this plan that run on infrastructure of their own after the rest, in that
     * order: {@code profile} when the plan times anything else through the engine (its PostgreSQL
     * preloads {@code pg_stat_statements}, which the timed figures must not pay for), and
     * {@code brokers-3} (w1 and the bare limits on 3 brokers) unless the whole run is on 3 brokers.
     */
    List<Workload> apart(int brokers) {
        List<Workload> apart = new ArrayList<>();
        boolean timed = workloads.stream().anyMatch(w -> w != Workload.PROFILE && w != Workload.LIMITS && w != Workload.SCALING
                && w != Workload.BROKERS_3);
        if (runs(Workload.PROFILE) && timed) {
            apart.add(Workload.PROFILE);
        }
        if (runs(Workload.BROKERS_3) && brokers == 1) {
            apart.add(Workload.BROKERS_3);
        }
        return apart;
    }

    /** This plan without {@code these}. */
    BenchPlan without(List<Workload> these) {
        EnumSet<Workload> rest = workloads.isEmpty() ? EnumSet.noneOf(Workload.class) : EnumSet.copyOf(workloads);
        these.forEach(rest::remove);
        return new BenchPlan(rest);
    }

    /** Whether the run needs the shared broker and database ({@code scaling} and {@code brokers-3} start their own). */
    boolean needsSharedInfra() {
        return workloads.stream().anyMatch(w -> w != Workload.SCALING && w != Workload.BROKERS_3);
    }

    /**
     * A comma-separated list of positive counts, as {@code --scaling-partitions 6,12,24} takes.
     *
     * @throws IllegalArgumentException naming the option when an entry is not a whole number from 1 to {@code max}
     */
    static List<Integer> counts(String option, String list, int max) {
        List<Integer> counts = new ArrayList<>();
        for (String part : list.split(",")) {
            String p = part.trim();
            if (p.isEmpty()) {
                continue;
            }
            int n;
            try {
                n = Integer.parseInt(p);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--" + option + ": '" + p + "' is not a number");
            }
            if (n < 1 || n > max) {
                throw new IllegalArgumentException("--" + option + ": " + n + " is not from 1 to " + max);
            }
            counts.add(n);
        }
        if (counts.isEmpty()) {
            throw new IllegalArgumentException("--" + option + ": name at least one count");
        }
        return List.copyOf(counts);
    }

    /** The plan of {@code --only LIST}, {@code --latency-only} and {@code --profile} (which adds {@code profile}). */
    static BenchPlan of(String only, boolean latencyOnly, boolean profile) {
        BenchPlan plan = of(only, latencyOnly);
        if (!profile) {
            return plan;
        }
        Set<Workload> chosen = EnumSet.copyOf(plan.workloads().isEmpty() ? EnumSet.of(Workload.PROFILE) : plan.workloads());
        chosen.add(Workload.PROFILE);
        return new BenchPlan(chosen);
    }

    /**
     * The plan of {@code --only LIST} and {@code --latency-only}.
     *
     * @param only        the value of {@code --only} (null when not given)
     * @throws IllegalArgumentException naming an unknown workload, an empty list, or both options at once
     */
    static BenchPlan of(String only, boolean latencyOnly) {
        if (only != null && latencyOnly) {
            throw new IllegalArgumentException("--only and --latency-only exclude each other (--latency-only is --only latency)");
        }
        if (latencyOnly) {
            return new BenchPlan(EnumSet.of(Workload.LATENCY));
        }
        if (only == null) {
            return all();
        }
        Set<Workload> chosen = EnumSet.noneOf(Workload.class);
        for (String part : only.split(",")) {
            String name = part.trim().toLowerCase(Locale.ROOT);
            if (name.isEmpty()) {
                continue;
            }
            Workload w = Arrays.stream(Workload.values()).filter(x -> x.label.equals(name)).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("--only: unknown workload '" + part.trim() + "'; known: "
                            + Workload.known()));
            chosen.add(w);
        }
        if (chosen.isEmpty()) {
            throw new IllegalArgumentException("--only: name at least one workload of " + Workload.known());
        }
        return new BenchPlan(chosen);
    }

    boolean runs(Workload w) {
        return workloads.contains(w);
    }

    /** Whether the engine runs any workload after the latency one (so that its CPU time is worth reporting). */
    boolean runsThroughput() {
        return workloads.stream().anyMatch(w -> w != Workload.LATENCY && w != Workload.LIMITS && w != Workload.SCALING
                && w != Workload.BROKERS_3);
    }

    /** The labels of the chosen workloads, in the order a run measures them. */
    List<String> labels() {
        List<String> labels = new ArrayList<>();
        workloads.forEach(w -> labels.add(w.label));
        return labels;
    }

    /**
     * The rounds of the ordering comparison (w1 with {@code order: key}, then {@code none}): ABBA,
     * so that a machine that speeds up or slows down during the run treats both sides alike.
     */
    static List<String> orderRounds() {
        return List.of("key", "none", "none", "key");
    }
}
