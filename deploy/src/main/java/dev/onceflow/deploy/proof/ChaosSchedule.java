package dev.onceflow.deploy.proof;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

/**
 * The chaos run's fault schedule, drawn from the run's seed and scaled with its duration: which
 * faults, in which order, at which offsets from the start. Pure logic (no clock, no processes), so
 * the soak's schedule can be checked without running it.
 *
 * <p>Each kind's count grows with the duration (see {@link #counts(int)}): 12 faults of 8 kinds at
 * 60 s, 14 of 10 kinds at 100 or 120 s, 61 at 600 s. The faults are shuffled, except that {@code remove-engine} always
 * follows its {@code add-engine} (there is one extra engine to add and remove). The schedule
 * fills 10–90 % of the run: each fault gets its expected cost ({@link #costMs(String)}, what it
 * takes to carry out, such as a 15–20 s freeze) and the rest of that span is spread as seeded
 * gaps between them, so a long fault does not push the following ones into a burst. When the
 * costs exceed the span (very short runs), the gaps are zero and the run ends a little late.
 *
 * <p>Immutable and stateless; thread-safe.
 */
final class ChaosSchedule {

    static final String KILL_ENGINE = "kill-engine";
    static final String CRASH_BETWEEN_COMMITS = "crash-between-commits";
    static final String KILL_DISPATCHER = "kill-dispatcher";
    static final String KILL_CAPTURE_LEADER = "kill-capture-leader";
    static final String KILL_BROKER = "kill-broker";
    static final String RESTART_POSTGRES = "restart-postgres";
    static final String ADD_ENGINE = "add-engine";
    static final String REMOVE_ENGINE = "remove-engine";
    static final String FREEZE_ENGINE = "freeze-engine";
    static final String FREEZE_DISPATCHER = "freeze-dispatcher";

    /** One planned fault: its kind and its offset from the run's start. */
    record Planned(String kind, long atMs) {
    }

    private ChaosSchedule() {
    }

    /**
     * How many faults of each kind a run of {@code durationS} seconds gets: at least one of each
     * (four engine kills and two dispatcher kills; no freeze below 90 s), and more as the run grows — an engine kill per
     * 40 s, an engine halted between its two commits per 100 s, a dispatcher kill per 60 s, a capture-leader kill, a broker kill and a PostgreSQL
     * restart per 120 s, an engine added and removed and an engine frozen per 150 s, a dispatcher
     * frozen per 200 s.
     */
    static Map<String, Integer> counts(int durationS) {
        Map<String, Integer> n = new TreeMap<>();
        n.put(KILL_ENGINE, Math.max(4, durationS / 40));
        n.put(CRASH_BETWEEN_COMMITS, Math.max(1, durationS / 100));
        n.put(KILL_DISPATCHER, Math.max(2, durationS / 60));
        n.put(KILL_CAPTURE_LEADER, Math.max(1, durationS / 120));
        n.put(KILL_BROKER, Math.max(1, durationS / 120));
        n.put(RESTART_POSTGRES, Math.max(1, durationS / 120));
        n.put(ADD_ENGINE, Math.max(1, durationS / 150));
        n.put(REMOVE_ENGINE, Math.max(1, durationS / 150));
        // A freeze takes 15-20 s: runs shorter than 90 s (the 60 s negative control) have none.
        if (durationS >= 90) {
            n.put(FREEZE_ENGINE, Math.max(1, durationS / 150));
            n.put(FREEZE_DISPATCHER, Math.max(1, durationS / 200));
        }
        return n;
    }

    /**
     * What a fault is expected to take, in ms, so the schedule can leave room for it: the down
     * time of a kill and restart (0.5–3 s), the broker's restart (~6 s after a 1 s down time),
     * PostgreSQL's (2–4 s), a freeze (15–20 s) with the wait for its partitions to move.
     */
    static long costMs(String kind) {
        return switch (kind) {
            case KILL_ENGINE -> 2_500;
            case CRASH_BETWEEN_COMMITS -> 3_000;
            case KILL_DISPATCHER -> 3_500;
            case KILL_CAPTURE_LEADER -> 4_000;
            case KILL_BROKER -> 8_000;
            case RESTART_POSTGRES -> 5_000;
            case ADD_ENGINE -> 500;
            case REMOVE_ENGINE -> 3_000;
            case FREEZE_ENGINE, FREEZE_DISPATCHER -> 19_000;
            default -> throw new IllegalArgumentException(kind);
        };
    }

    /**
     * An explicit schedule, as {@code --faults} gives it: comma-separated {@code kind@seconds}
     * (for example {@code kill-engine@30,kill-broker@32.5}), to replay the tail of a failing soak in
     * a short run. Offsets must ascend; every {@code remove-engine} needs an earlier
     * {@code add-engine} not yet removed.
     *
     * @throws IllegalArgumentException naming the entry that is not understood
     */
    static List<Planned> parse(String spec) {
        List<Planned> plan = new ArrayList<>();
        int added = 0;
        long last = -1;
        for (String entry : spec.split(",")) {
            String e = entry.trim();
            int at = e.lastIndexOf('@');
            if (at <= 0) {
                throw new IllegalArgumentException("--faults entry '" + e + "' is not kind@seconds (for example kill-engine@30)");
            }
            String kind = e.substring(0, at).trim();
            try {
                costMs(kind);
            } catch (IllegalArgumentException unknown) {
                throw new IllegalArgumentException("--faults entry '" + e + "': unknown fault kind '" + kind + "'; known: "
                        + String.join(", ", KINDS));
            }
            long ms;
            try {
                ms = Math.round(Double.parseDouble(e.substring(at + 1).trim()) * 1000);
            } catch (NumberFormatException nan) {
                throw new IllegalArgumentException("--faults entry '" + e + "': '" + e.substring(at + 1) + "' is not a number of seconds");
            }
            if (ms < 0 || ms < last) {
                throw new IllegalArgumentException("--faults entry '" + e + "': offsets must be 0 or more and ascending");
            }
            if (kind.equals(ADD_ENGINE) && ++added > 1) {
                throw new IllegalArgumentException("--faults entry '" + e + "': there is one extra engine; remove it before adding it again");
            }
            if (kind.equals(REMOVE_ENGINE) && added-- < 1) {
                throw new IllegalArgumentException("--faults entry '" + e + "': remove-engine needs an earlier add-engine");
            }
            last = ms;
            plan.add(new Planned(kind, ms));
        }
        return plan;
    }

    /** Every fault kind, as {@code --faults} names them. */
    static final List<String> KINDS = List.of(KILL_ENGINE, CRASH_BETWEEN_COMMITS, KILL_DISPATCHER, KILL_CAPTURE_LEADER, KILL_BROKER, RESTART_POSTGRES,
            ADD_ENGINE, REMOVE_ENGINE, FREEZE_ENGINE, FREEZE_DISPATCHER);

    /** The schedule of a run of {@code durationS} seconds, drawn from {@code random}; offsets ascending. */
    static List<Planned> plan(int durationS, Random random) {
        List<String> kinds = new ArrayList<>();
        Map<String, Integer> counts = counts(durationS);
        counts.forEach((kind, n) -> {
            if (!kind.equals(REMOVE_ENGINE)) {
                kinds.addAll(Collections.nCopies(n, kind));
            }
        });
        Collections.shuffle(kinds, random);
        // Each add-engine is followed, before the next add-engine, by its remove-engine.
        List<String> order = new ArrayList<>();
        for (int i = 0; i < kinds.size(); i++) {
            order.add(kinds.get(i));
            if (kinds.get(i).equals(ADD_ENGINE)) {
                int next = kinds.subList(i + 1, kinds.size()).indexOf(ADD_ENGINE);
                int until = next < 0 ? kinds.size() : i + 1 + next; // exclusive: the next add-engine, or the end
                int removeBefore = i + 1 + random.nextInt(until - i); // in (i, until]
                kinds.add(removeBefore, REMOVE_ENGINE);
            }
        }
        long from = durationS * 100L;
        long span = durationS * 800L;
        long cost = order.stream().mapToLong(ChaosSchedule::costMs).sum();
        long slack = Math.max(0, span - cost);
        double[] weights = new double[order.size()];
        double total = 0;
        for (int i = 0; i < weights.length; i++) {
            weights[i] = 0.5 + random.nextDouble();
            total += weights[i];
        }
        List<Planned> plan = new ArrayList<>();
        long at = from;
        for (int i = 0; i < order.size(); i++) {
            plan.add(new Planned(order.get(i), at));
            at += costMs(order.get(i)) + Math.round(slack * weights[i] / total);
        }
        return plan;
    }
}
