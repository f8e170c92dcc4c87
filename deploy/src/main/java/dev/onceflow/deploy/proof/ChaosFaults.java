package dev.onceflow.deploy.proof;

import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.apache.kafka.common.TopicPartition;

/**
 * The chaos run's faults: a schedule drawn from the run's seed (same seed, same kinds in the same
 * order at the same offsets, the same targets and down times), carried out one at a time on the
 * {@link ChaosFleet}. Keeps a record of each fault for the summary and the spans in which no
 * dispatcher was up, which the schedule check must know about.
 *
 * <p>Owned by {@link ChaosCommand}; {@link #inject()} runs on its main thread. Not thread-safe,
 * except that {@link #faults()} and {@link #outages()} copy synchronized lists.
 */
final class ChaosFaults {

    private final ChaosFleet fleet;
    private final ChaosRowWriter rowWriter;
    private final Random random;
    private final long startedAt;
    private final int durationS;
    private final PrintStream out;
    private final Runnable progress;
    private final List<Map<String, Object>> faults = Collections.synchronizedList(new ArrayList<>());
    /** Spans with no dispatcher up (a kill of the last one up; with 2 or more the faults avoid it): ticks may be missed then. */
    private final List<ChaosTriggerCheck.Outage> outages = Collections.synchronizedList(new ArrayList<>());
    /** Roles that exited by themselves and were restarted (see {@link ChaosFleet#restartExited}). */
    private final List<Map<String, Object>> exits = Collections.synchronizedList(new ArrayList<>());
    /** The explicit schedule of {@code --faults}; null: {@link ChaosSchedule#plan} of the seed and duration. */
    private final List<ChaosSchedule.Planned> plan;
    private long outageFrom = -1;
    private long addedAt;

    /** {@code progress} prints a progress line; it is called about every 10 s while waiting for the next fault. */
    ChaosFaults(ChaosFleet fleet, ChaosRowWriter rowWriter, long seed, long startedAt, int durationS, PrintStream out,
                Runnable progress, List<ChaosSchedule.Planned> plan) {
        this.fleet = fleet;
        this.plan = plan;
        this.rowWriter = rowWriter;
        this.random = new Random(seed);
        this.startedAt = startedAt;
        this.durationS = durationS;
        this.out = out;
        this.progress = progress;
    }

    /** The faults carried out so far, in order, each as the summary shows it. */
    List<Map<String, Object>> faults() {
        return new ArrayList<>(faults);
    }

    List<ChaosTriggerCheck.Outage> outages() {
        return List.copyOf(outages);
    }

    /**
     * Carries out the explicit schedule if one was given, else the {@link ChaosSchedule} of the run's duration: every fault kind, more of each
     * as the run is longer, spread over 10–90 % of the run in a seeded order. One fault at a time
     * (a fault that takes longer than planned delays the next), and a dispatcher is killed or
     * frozen only once another one is up (not merely booting), so with two or more dispatchers one
     * always fires the schedule's ticks: the schedule check relies on it. Returns at the end of the
     * run's duration, or after the last fault if that is later.
     */
    void inject() throws Exception {
        for (ChaosSchedule.Planned planned : plan != null ? plan : ChaosSchedule.plan(durationS, random)) {
            progressUntil(startedAt + planned.atMs());
            superviseRoles();
            fault(planned.kind());
        }
        progressUntil(startedAt + durationS * 1000L);
    }

    /** Roles that exited by themselves during the run, each restarted. */
    List<Map<String, Object>> exits() {
        return new ArrayList<>(exits);
    }

    /** Restarts the roles that exited by themselves; prints and records each. */
    void superviseRoles() throws IOException, InterruptedException {
        for (Map<String, Object> e : fleet.restartExited(startedAt)) {
            exits.add(e);
            out.printf("[%6.1f s] %s exited by itself (exit code %s: %s); restarted%n", (System.currentTimeMillis() - startedAt) / 1000.0,
                    e.get("role"), e.get("exit_code"), e.get("last_log_line"));
        }
        // A load race whose sign came after the watch that followed the broker's restart.
        for (ChildProcess broker : fleet.brokers()) {
            if (broker.alive()) {
                try {
                    healCoordinatorLoadRace(broker, null, 0);
                } catch (IOException | InterruptedException e) {
                    throw e;
                } catch (Exception e) {
                    out.printf("[%6.1f s] %s: restarting it after the load race failed: %s%n",
                            (System.currentTimeMillis() - startedAt) / 1000.0, broker.name(), e);
                }
            }
        }
    }

    /** How many faults of each kind were carried out. */
    Map<String, Long> countsByKind() {
        Map<String, Long> n = new java.util.TreeMap<>();
        for (Map<String, Object> f : faults()) {
            n.merge((String) f.get("kind"), 1L, Long::sum);
        }
        return n;
    }

    private void fault(String kind) throws Exception {
        long t = System.currentTimeMillis();
        Map<String, Object> f = new LinkedHashMap<>();
        String target = carryOut(kind, f);
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("at_s", Math.round((t - startedAt) / 100.0) / 10.0);
        record.put("kind", kind);
        record.put("target", target);
        record.put("took_ms", System.currentTimeMillis() - t);
        record.putAll(f);
        faults.add(record);
        out.printf("[%6.1f s] fault: %s %s (%d ms)%s%n", (t - startedAt) / 1000.0, kind, target, System.currentTimeMillis() - t,
                f.isEmpty() ? "" : " " + f);
    }

    /** Carries out one fault; returns its target. Notes in {@code f} what the summary should say about it. */
    private String carryOut(String kind, Map<String, Object> f) throws Exception {
        switch (kind) {
            case ChaosSchedule.FREEZE_ENGINE:
                return freezeEngine(f);
            case ChaosSchedule.FREEZE_DISPATCHER:
                return freezeDispatcher(f);
            case "kill-engine":
                return killEngine();
            case ChaosSchedule.CRASH_BETWEEN_COMMITS:
                return crashBetweenCommits(f);
            case "kill-dispatcher":
                return killAndRestartDispatcher(f);
            case "kill-capture-leader":
                return killCaptureLeader(f);
            case "kill-broker":
                return fleet.brokerCount() == 1 ? killBroker(f) : killLeadingBroker(f);
            case "restart-postgres":
                fleet.postgres().restartImmediate(1000);
                return "postgres";
            case "add-engine":
                return addEngine();
            case "remove-engine":
                return removeEngine();
            default:
                throw new IllegalStateException(kind);
        }
    }

    private String killEngine() throws Exception {
        List<ChildProcess> engineProcs = fleet.engines();
        ChildProcess e = engineProcs.get(random.nextInt(engineProcs.size()));
        e.kill9();
        Thread.sleep(500 + random.nextInt(2500));
        e.start();
        return e.name();
    }

    /**
     * An engine that dies between its two commits: the next batch any engine commits to PostgreSQL
     * halts its process before the batch's Kafka transaction ({@link HaltBetweenCommits}: one
     * trigger file, taken by the first worker to commit), so the batch's records are certainly
     * delivered again. Waits up to 90 s for a batch (a fleet still booting has none yet; then the
     * schedule ticks every second); restarts the halted engine after 0.5–3 s, as a kill does. Notes
     * whether one halted; if none did, an ordinary kill of a random engine is made instead.
     */
    private String crashBetweenCommits(Map<String, Object> f) throws Exception {
        List<ChildProcess> up = new ArrayList<>(fleet.engines().stream().filter(ChildProcess::alive).toList());
        if (fleet.extraEngine().alive()) {
            up.add(fleet.extraEngine());
        }
        if (up.isEmpty()) {
            f.put("halted_between_commits", false);
            return "none (no engine running)";
        }
        java.nio.file.Path trigger = fleet.haltTrigger();
        java.nio.file.Files.writeString(trigger, "halt");
        long started = System.currentTimeMillis();
        long deadline = started + 90_000;
        ChildProcess halted = null;
        while (halted == null && System.currentTimeMillis() < deadline) {
            Thread.sleep(20);
            halted = up.stream().filter(p -> !p.alive()).findFirst().orElse(null);
        }
        java.nio.file.Files.deleteIfExists(trigger);
        f.put("halted_between_commits", halted != null && Integer.valueOf(HaltBetweenCommits.EXIT_STATUS).equals(halted.exitCode()));
        ChildProcess e = halted;
        if (halted != null) {
            f.put("exit_code", halted.exitCode());
            f.put("waited_for_a_batch_ms", System.currentTimeMillis() - started);
        } else {
            e = up.get(random.nextInt(up.size()));
            e.kill9(); // no batch came in 90 s: an ordinary kill instead
        }
        Thread.sleep(500 + random.nextInt(2500));
        e.start();
        return e.name();
    }

    /**
     * SIGSTOP of an engine for 15–20 s, longer than its consumer session timeout (10 s): the group
     * evicts its workers and the other engines take their partitions, while the frozen one keeps
     * its PostgreSQL connections, its place in any open Kafka transaction and its batch in
     * memory; then SIGCONT, and it carries on as a zombie. See {@link ChaosFreeze} for what is
     * measured.
     */
    private String freezeEngine(Map<String, Object> f) throws Exception {
        List<ChildProcess> up = fleet.engines().stream().filter(ChildProcess::alive).toList();
        if (up.isEmpty()) {
            return "none (no engine running)";
        }
        ChildProcess e = up.get(random.nextInt(up.size()));
        long frozenMs = 15_000 + random.nextInt(5001);
        try (ChaosKafka kafka = new ChaosKafka(fleet.bootstrap())) {
            int members = fleet.config().getInt(OnceflowConfig.ENGINE_WORKERS) * (up.size()
                    + (fleet.extraEngine().alive() ? 1 : 0));
            new ChaosFreeze(kafka, fleet.config().get(OnceflowConfig.ENGINE_GROUP), List.of(Topics.EVENTS, Topics.TASKS))
                    .freeze(e, frozenMs, members, f);
        }
        return e.name();
    }

    /**
     * SIGSTOP of a dispatcher for 15–20 s, longer than its Kafka Streams session timeout (10 s):
     * its stream tasks move to the other dispatcher, its schedule source misses ticks (the other
     * one fires them), and if it leads the row-change capture, the capture waits (its session
     * still holds the lock); then SIGCONT. Like a kill, only while another dispatcher is up; with
     * one dispatcher the freeze is an outage of the schedule.
     */
    private String freezeDispatcher(Map<String, Object> f) throws Exception {
        List<ChildProcess> dispatcherProcs = fleet.dispatchers();
        ChildProcess d = dispatcherProcs.get(random.nextInt(dispatcherProcs.size()));
        long frozenMs = 15_000 + random.nextInt(5001);
        awaitAnotherDispatcher(d, f);
        if (!d.alive()) {
            return "none (" + d.name() + " is not running)";
        }
        f.put("capture_leader", CaptureLeader.pid(fleet.dataSource()) == d.pid());
        long at = System.currentTimeMillis();
        boolean othersUp = anotherDispatcherUp(d);
        try (ChaosKafka kafka = new ChaosKafka(fleet.bootstrap())) {
            int members = fleet.config().getInt(OnceflowConfig.DISPATCHER_THREADS)
                    * (int) dispatcherProcs.stream().filter(ChildProcess::alive).count();
            new ChaosFreeze(kafka, fleet.config().get(OnceflowConfig.DISPATCHER_APP_ID), List.of(Topics.TRIGGERS, Topics.BY_KEY))
                    .freeze(d, frozenMs, members, f);
        }
        if (!othersUp) {
            outages.add(new ChaosTriggerCheck.Outage(at, at + ((Number) f.get("freeze_ms")).longValue()));
        }
        return d.name();
    }

    private String killAndRestartDispatcher(Map<String, Object> f) throws Exception {
        List<ChildProcess> dispatcherProcs = fleet.dispatchers();
        ChildProcess d = dispatcherProcs.get(random.nextInt(dispatcherProcs.size()));
        long down = 500 + random.nextInt(2500);
        awaitAnotherDispatcher(d, f);
        killDispatcher(d);
        Thread.sleep(down);
        restartDispatcher(d);
        return d.name();
    }

    private String killBroker(Map<String, Object> f) throws Exception {
        fleet.broker().kill9();
        Thread.sleep(1000);
        fleet.broker().start();
        fleet.awaitBroker();
        healCoordinatorLoadRace(fleet.broker(), f, LOAD_RACE_WATCH_MS);
        return "broker";
    }

    /** How long after a broker's restart its log is watched for the group coordinator load race before the run goes on. */
    static final long LOAD_RACE_WATCH_MS = 15_000;
    private static final int LOAD_RACE_RESTARTS = 3;
    private final List<Map<String, Object>> loadRaceRestarts = new ArrayList<>();

    /** The clean broker restarts made because a broker's log showed the group coordinator load race. */
    synchronized List<Map<String, Object>> loadRaceRestarts() {
        return new ArrayList<>(loadRaceRestarts);
    }

    /**
     * The operator's remedy for Kafka 4.3.1's group coordinator load race (ADR 0009, addendum of
     * session 6): when a restarted broker's log shows that a {@code __consumer_offsets} load's
     * completion was ignored because its coordinator was already active (a coordinator serving a
     * partly loaded state: committed offsets gone back, transactional offset commits pending for
     * ever), the broker is stopped cleanly and started again, so that it loads the log whole; at
     * most {@value #LOAD_RACE_RESTARTS} times in a row. Onceflow cannot repair a broker's state
     * from a client; the chaos run does what a runbook would, and the summary lists each restart.
     * Watches the log for {@code watchMs} first (0: looks once).
     */
    private void healCoordinatorLoadRace(ChildProcess broker, Map<String, Object> f, long watchMs) throws Exception {
        for (int i = 1; i <= LOAD_RACE_RESTARTS; i++) {
            String sign = ChaosKafka.awaitIgnoredLoad(broker.currentLog(), watchMs);
            if (sign == null) {
                return;
            }
            long at = System.currentTimeMillis();
            out.printf("[%6.1f s] %s: group coordinator load race (Kafka 4.3.1, ADR 0009); restarting it cleanly: %s%n",
                    (at - startedAt) / 1000.0, broker.name(), sign);
            broker.stop(60);
            broker.start();
            fleet.awaitBroker();
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("at_s", Math.round((at - startedAt) / 100.0) / 10.0);
            r.put("broker", broker.name());
            r.put("took_ms", System.currentTimeMillis() - at);
            r.put("line", sign);
            synchronized (this) {
                loadRaceRestarts.add(r);
            }
            if (f != null) {
                f.put("coordinator_load_race_restarts", i);
            }
            watchMs = LOAD_RACE_WATCH_MS;
        }
    }

    /** The topics whose partition leaders choose the broker to kill. */
    static final List<String> LED_TOPICS = List.of(Topics.EVENTS, Topics.TRIGGERS);
    /** The topics whose leaders and replicas are watched around a broker kill: Onceflow's and the coordinators'. */
    static final List<String> WATCHED_TOPICS = List.of(Topics.TRIGGERS, Topics.BY_KEY, Topics.EVENTS, Topics.TASKS, Topics.OUTCOMES,
            Topics.DLQ, "__consumer_offsets", "__transaction_state");

    /**
     * With several brokers: kill -9 of the broker leading the most partitions of {@link #LED_TOPICS}
     * (the Admin API's answer; on a tie the lowest node id), then a restart once every partition of
     * {@link #WATCHED_TOPICS} has a leader again and 2–5 s more of traffic on the new leaders.
     * Only when every broker runs and every replica is in sync (waits up to 60 s for it), so that a
     * second broker is never down while one is: with {@code min.insync.replicas} 2 of 3, one may be.
     * Notes in {@code f} the broker, the partitions it led, how long until every partition had a
     * leader that is not the killed broker ({@code leaders_elected_ms}), its down time, how long its
     * restart took until the cluster listed it again (not within 90 s: noted, and the run goes on
     * with two brokers), and how long after that every replica was in sync again (null: not within
     * 120 s).
     */
    private String killLeadingBroker(Map<String, Object> f) throws Exception {
        long afterElection = 2000 + random.nextInt(3001);
        List<ChildProcess> brokers = fleet.brokers();
        try (ChaosKafka kafka = new ChaosKafka(fleet.bootstrap())) {
            long from = System.currentTimeMillis();
            Map<TopicPartition, ChaosKafka.Replicas> before = null;
            String notReady = null;
            while (System.currentTimeMillis() < from + 60_000) {
                superviseRoles(); // a broker that exited by itself is restarted, not left down
                List<String> down = brokers.stream().filter(b -> !b.alive()).map(ChildProcess::name).toList();
                try {
                    before = kafka.replicas(WATCHED_TOPICS);
                    long behind = outOfSync(before);
                    notReady = !down.isEmpty() ? "not running: " + String.join(", ", down)
                            : behind > 0 ? behind + " partitions with replicas out of sync" : null;
                } catch (Exception e) {
                    notReady = "the brokers did not describe the topics: " + e;
                }
                if (notReady == null) {
                    break;
                }
                Thread.sleep(500);
            }
            if (System.currentTimeMillis() - from >= 500) {
                f.put("waited_for_replicas_in_sync_ms", System.currentTimeMillis() - from);
            }
            if (notReady != null) {
                return "none (not every broker up and in sync within 60 s: " + notReady + ")";
            }
            Map<TopicPartition, ChaosKafka.Replicas> described = before;
            Map<Integer, Integer> led = ledBy(described, LED_TOPICS);
            int node = mostLeading(led);
            ChildProcess victim = brokers.get(node - 1);
            f.put("node_id", node);
            f.put("partitions_led", led.getOrDefault(node, 0));
            f.put("partitions_of", LED_TOPICS.stream().mapToLong(t -> described.keySet().stream().filter(tp -> tp.topic().equals(t)).count()).sum());
            f.put("leaders_by_node", new java.util.TreeMap<>(led));
            long killedAt = System.currentTimeMillis();
            victim.kill9();
            long elected = -1;
            while (System.currentTimeMillis() < killedAt + 60_000) {
                try {
                    Map<TopicPartition, ChaosKafka.Replicas> now = kafka.replicas(WATCHED_TOPICS);
                    if (now.values().stream().allMatch(r -> r.leader() != -1 && r.leader() != node)) {
                        elected = System.currentTimeMillis();
                        break;
                    }
                } catch (Exception e) {
                    // the admin client may have asked the killed broker: ask again
                }
                Thread.sleep(100);
            }
            f.put("leaders_elected_ms", elected < 0 ? null : elected - killedAt);
            Thread.sleep(Math.max(0, Math.max(killedAt + 1000, (elected < 0 ? System.currentTimeMillis() : elected) + afterElection)
                    - System.currentTimeMillis()));
            long restartedAt = System.currentTimeMillis();
            f.put("down_ms", restartedAt - killedAt);
            victim.start();
            try {
                fleet.awaitBroker();
            } catch (IllegalStateException e) {
                // Two brokers still serve every partition: the run goes on, the restarted one may register later,
                // and the next broker kill waits for it (or is skipped). A finding for the summary, not the end of the run.
                f.put("registered_after_restart_ms", null);
                f.put("not_registered", e.getMessage());
                out.printf("[%6.1f s] %s restarted but not registered: %s; going on with two brokers%n",
                        (System.currentTimeMillis() - startedAt) / 1000.0, victim.name(), e.getMessage());
                return victim.name();
            }
            healCoordinatorLoadRace(victim, f, LOAD_RACE_WATCH_MS);
            long registered = System.currentTimeMillis();
            f.put("registered_after_restart_ms", registered - restartedAt);
            long inSync = -1;
            while (System.currentTimeMillis() < registered + 120_000) {
                try {
                    if (outOfSync(kafka.replicas(WATCHED_TOPICS)) == 0) {
                        inSync = System.currentTimeMillis();
                        break;
                    }
                } catch (Exception e) {
                    // ask again
                }
                Thread.sleep(200);
            }
            f.put("back_in_sync_after_restart_ms", inSync < 0 ? null : inSync - restartedAt);
            return victim.name();
        }
    }

    /** How many partitions have fewer in-sync replicas than replicas, or no leader. */
    static long outOfSync(Map<TopicPartition, ChaosKafka.Replicas> replicas) {
        return replicas.values().stream().filter(r -> r.leader() == -1 || r.isr().size() < r.replicas()).count();
    }

    /** Broker id → how many partitions of {@code topics} it leads. */
    static Map<Integer, Integer> ledBy(Map<TopicPartition, ChaosKafka.Replicas> replicas, List<String> topics) {
        Map<Integer, Integer> led = new java.util.HashMap<>();
        replicas.forEach((tp, r) -> {
            if (topics.contains(tp.topic()) && r.leader() != -1) {
                led.merge(r.leader(), 1, Integer::sum);
            }
        });
        return led;
    }

    /** The broker leading the most partitions; on a tie, the lowest id. */
    static int mostLeading(Map<Integer, Integer> led) {
        return led.entrySet().stream().max(java.util.Comparator.<Map.Entry<Integer, Integer>>comparingInt(Map.Entry::getValue)
                .thenComparing(Map.Entry::getKey, java.util.Comparator.reverseOrder())).map(Map.Entry::getKey)
                .orElseThrow(() -> new IllegalStateException("no partition of " + LED_TOPICS + " has a leader"));
    }

    private String addEngine() throws IOException {
        ChildProcess extraEngine = fleet.extraEngine();
        extraEngine.start();
        addedAt = System.currentTimeMillis();
        return extraEngine.name();
    }

    private String removeEngine() throws InterruptedException {
        ChildProcess extraEngine = fleet.extraEngine();
        // Give the added engine time to join and take partitions, so both moves are real rebalances.
        Thread.sleep(Math.max(0, addedAt + 10_000 - System.currentTimeMillis()));
        extraEngine.stop(30);
        return extraEngine.name();
    }

    /**
     * kill -9 of the dispatcher whose session holds the capture lock — PostgreSQL's answer, not a
     * guess — while rows are being written and captured, then, like any dispatcher kill, a restart
     * 0.5–3 s later. Waits up to 60 s for the capture to run and for a leader (there is none for a
     * moment after a PostgreSQL restart). Notes in {@code f} the leader's pid, which process took
     * over and how long after the kill PostgreSQL showed it holding the lock.
     */
    private String killCaptureLeader(Map<String, Object> f) throws Exception {
        long down = 500 + random.nextInt(2500);
        long deadline = System.currentTimeMillis() + 60_000;
        while (rowWriter.captureReadyAt() < 0 && System.currentTimeMillis() < deadline) {
            Thread.sleep(200);
        }
        long leader = CaptureLeader.awaitOther(fleet.dataSource(), -1, deadline);
        ChildProcess d = fleet.dispatchers().stream().filter(p -> p.alive() && p.pid() == leader).findFirst().orElse(null);
        if (d == null) {
            return leader == -1 ? "none (no session held the capture lock for 60 s)"
                    : "none (pid " + leader + " holds the capture lock but is no dispatcher of this run)";
        }
        f.put("leader_pid", leader);
        awaitAnotherDispatcher(d, f);
        long killedAt = killDispatcher(d);
        long restartAt = killedAt + down;
        long next = CaptureLeader.awaitOther(fleet.dataSource(), leader, restartAt);
        long tookOver = next == -1 ? -1 : System.currentTimeMillis();
        Thread.sleep(Math.max(0, restartAt - System.currentTimeMillis()));
        restartDispatcher(d);
        if (next == -1) {
            next = CaptureLeader.awaitOther(fleet.dataSource(), leader, System.currentTimeMillis() + 30_000);
            tookOver = next == -1 ? -1 : System.currentTimeMillis();
        }
        long newLeader = next;
        f.put("new_leader", next == -1 ? "none within 30 s of the restart"
                : fleet.dispatchers().stream().filter(p -> p.pid() == newLeader).map(ChildProcess::name).findFirst().orElse("pid " + next));
        f.put("takeover_ms", tookOver == -1 ? null : tookOver - killedAt);
        return d.name();
    }

    /**
     * Waits up to 60 s until a dispatcher other than {@code victim} is up, so that killing the
     * victim leaves one firing the schedule's ticks (and standing by for the capture). Right after a
     * restart, or at the start of the run, the others may still be booting: killing then would
     * stop every schedule source at once, which the fire-once misfire policy answers by skipping
     * ticks — correct behaviour, but not the fault meant here. Notes the wait in {@code f}.
     */
    private void awaitAnotherDispatcher(ChildProcess victim, Map<String, Object> f) throws InterruptedException, IOException {
        if (fleet.dispatchers().size() < 2) {
            return; // nothing to wait for: the kill is an outage, and the check accounts for it
        }
        long from = System.currentTimeMillis();
        while (!anotherDispatcherUp(victim) && System.currentTimeMillis() < from + 60_000) {
            superviseRoles(); // the other one may have exited by itself: it is not coming up unless restarted
            Thread.sleep(200);
        }
        if (System.currentTimeMillis() - from >= 200) {
            f.put("waited_for_another_dispatcher_ms", System.currentTimeMillis() - from);
        }
    }

    private boolean anotherDispatcherUp(ChildProcess victim) {
        Set<Long> up = CaptureLeader.running(fleet.dataSource());
        return fleet.dispatchers().stream().anyMatch(p -> p != victim && p.alive() && up.contains(p.pid()));
    }

    /** kill -9; returns when it was sent. Killing the last dispatcher that is up starts an outage. */
    private long killDispatcher(ChildProcess d) throws InterruptedException {
        long at = System.currentTimeMillis();
        boolean othersUp = anotherDispatcherUp(d);
        d.kill9();
        if (outageFrom < 0 && !othersUp) {
            outageFrom = at;
        }
        return at;
    }

    private void restartDispatcher(ChildProcess d) throws IOException {
        d.start();
        if (outageFrom >= 0) {
            outages.add(new ChaosTriggerCheck.Outage(outageFrom, System.currentTimeMillis()));
            outageFrom = -1;
        }
    }

    private void progressUntil(long deadline) throws InterruptedException, IOException {
        while (System.currentTimeMillis() < deadline) {
            Thread.sleep(Math.min(5000, Math.max(1, deadline - System.currentTimeMillis())));
            superviseRoles();
            if (System.currentTimeMillis() - startedAt >= 0 && (System.currentTimeMillis() - startedAt) % 10_000 < 5000) {
                progress.run();
            }
        }
    }
}
