package dev.onceflow.dispatcher;

import dev.onceflow.common.workflow.ScheduleRules;
import dev.onceflow.common.workflow.Trigger;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * Which ticks of one schedule to fire now. A tick that came due while this source was running is
 * fired however late the source is (it is latency, not a misfire). A tick that came due before
 * the source started — while no dispatcher was running, as far as this one knows — is a misfire
 * and follows the schedule's policy. Pure; one per (source, workflow).
 */
final class SchedulePlan {

    private final ScheduleRules rules;
    private final Instant sourceStarted;
    private Instant lastFired;
    /** Misfired ticks the policy did not fire, since the last {@link #takeMissed()}. */
    private long missed;

    /**
     * @param lastFired the latest tick already fired (from PostgreSQL, or any replica), or the time
     *                  the workflow was first seen when it never fired: no backfill before that
     */
    SchedulePlan(ScheduleRules rules, Instant sourceStarted, Instant lastFired) {
        this.rules = rules;
        this.sourceStarted = sourceStarted;
        this.lastFired = lastFired;
    }

    /** The ticks to fire at {@code now}, oldest first; remembers them as fired. */
    List<Instant> due(Instant now) {
        List<Instant> fire = new ArrayList<>();
        Trigger.Schedule s = rules.schedule();
        Instant missedUntil = sourceStarted.isBefore(now) ? sourceStarted : now;
        if (lastFired.isBefore(missedUntil)) {
            long misfired = count(lastFired, missedUntil);
            switch (s.misfire()) {
                case Trigger.Schedule.FIRE_ALL:
                    fire.addAll(rules.between(lastFired, missedUntil, s.maxMisfires()));
                    break;
                case Trigger.Schedule.FIRE_ONCE:
                    fire.addAll(rules.between(lastFired, missedUntil, 1));
                    break;
                default:
                    break; // skip
            }
            missed += Math.max(0, misfired - fire.size());
            lastFired = missedUntil;
        }
        List<Instant> onTime = rules.between(lastFired, now, Integer.MAX_VALUE);
        fire.addAll(onTime);
        if (!onTime.isEmpty()) {
            lastFired = onTime.get(onTime.size() - 1);
        }
        if (!fire.isEmpty() && fire.get(fire.size() - 1).isAfter(lastFired)) {
            lastFired = fire.get(fire.size() - 1);
        }
        return fire;
    }

    /** Ticks that came due while no dispatcher ran and that the misfire policy did not fire, since the last call. */
    long takeMissed() {
        long n = missed;
        missed = 0;
        return n;
    }

    /** The fire times in (after, until]: walked one by one, as {@link ScheduleRules#between} walks them, without keeping them. */
    private long count(Instant after, Instant until) {
        long n = 0;
        Instant t = after;
        for (java.util.Optional<Instant> next = rules.next(t); next.isPresent() && !next.get().isAfter(until);
             next = rules.next(t)) {
            t = next.get();
            n++;
        }
        return n;
    }

    /** When the next tick is due, for sleeping until then. */
    java.util.Optional<Instant> next() {
        return rules.next(lastFired);
    }

    ScheduleRules rules() {
        return rules;
    }
}
