package dev.onceflow.common.workflow;

import com.cronutils.model.Cron;
import com.cronutils.model.definition.CronDefinition;
import com.cronutils.model.definition.CronDefinitionBuilder;
import com.cronutils.model.time.ExecutionTime;
import com.cronutils.parser.CronParser;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The fire times of a {@link Trigger.Schedule}: cron expressions through cron-utils (5 fields, or
 * 6 with seconds first, Quartz-like semantics such as {@code ?} and {@code L} accepted in the
 * Spring 5.3 dialect), evaluated in the schedule's time zone, so a daylight-saving change neither
 * skips nor doubles a tick in that zone; or a fixed interval aligned to the epoch. Pure and
 * thread-safe.
 */
public final class ScheduleRules {

    private static final CronParser SIX_FIELDS = new CronParser(CronDefinitionBuilder.instanceDefinitionFor(
            com.cronutils.model.CronType.SPRING53));
    private static final CronDefinition UNIX = CronDefinitionBuilder.instanceDefinitionFor(com.cronutils.model.CronType.UNIX);
    private static final CronParser FIVE_FIELDS = new CronParser(UNIX);

    private final Trigger.Schedule schedule;
    private final ExecutionTime cron;
    private final ZoneId zone;
    /** The {@code limit}-th tick at or after {@code start}, the last one that fires; null without a limit. */
    private final Instant lastTick;

    public ScheduleRules(Trigger.Schedule schedule) {
        List<String> problems = problems(schedule);
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(String.join("; ", problems));
        }
        this.schedule = schedule;
        this.zone = ZoneId.of(schedule.zone());
        this.cron = schedule.cron() == null ? null : ExecutionTime.forCron(parse(schedule.cron()));
        this.lastTick = schedule.limit() == null ? null : lastTick(schedule.start(), schedule.limit());
    }

    /**
     * The {@code limit}-th tick at or after {@code start} (or the last one before {@code end}): the
     * ticks are a pure function of the definition, so every replica computes the same last tick,
     * whenever it starts and whatever it fired before.
     */
    private Instant lastTick(Instant start, int limit) {
        Instant t = start.minusMillis(1);
        if (cron == null) {
            long interval = schedule.intervalMs();
            long first = Math.floorDiv(t.toEpochMilli(), interval) * interval + interval;
            return Instant.ofEpochMilli(first + (limit - 1) * interval);
        }
        Instant last = t;
        for (int i = 0; i < limit; i++) {
            Optional<Instant> n = unlimitedNext(last);
            if (n.isEmpty()) {
                break;
            }
            last = n.get();
        }
        return last;
    }

    static Cron parse(String expression) {
        String[] fields = expression.trim().split("\\s+");
        return fields.length == 6 ? SIX_FIELDS.parse(expression.trim()) : FIVE_FIELDS.parse(expression.trim());
    }

    /** Problems of a definition, each naming the field; empty when valid. */
    public static List<String> problems(Trigger.Schedule s) {
        List<String> problems = new ArrayList<>();
        if ((s.cron() == null) == (s.intervalMs() == null)) {
            problems.add("trigger field 'cron' / 'intervalMs': give exactly one of them");
        }
        if (s.cron() != null) {
            int fields = s.cron().trim().split("\\s+").length;
            if (fields != 5 && fields != 6) {
                problems.add("trigger field 'cron': expected 5 fields (minute hour day month weekday) or 6 (seconds first), got "
                        + fields + " in '" + s.cron() + "'");
            } else {
                try {
                    parse(s.cron());
                } catch (IllegalArgumentException e) {
                    problems.add("trigger field 'cron': '" + s.cron() + "' does not parse: " + e.getMessage());
                }
            }
        }
        if (s.intervalMs() != null && s.intervalMs() < 100) {
            problems.add("trigger field 'intervalMs': must be at least 100, got " + s.intervalMs());
        }
        try {
            ZoneId.of(s.zone());
        } catch (DateTimeException e) {
            problems.add("trigger field 'zone': unknown time zone '" + s.zone() + "'");
        }
        if (!List.of(Trigger.Schedule.FIRE_ONCE, Trigger.Schedule.FIRE_ALL, Trigger.Schedule.SKIP).contains(s.misfire())) {
            problems.add("trigger field 'misfire': must be fire-once, fire-all or skip, got '" + s.misfire() + "'");
        }
        if (s.maxMisfires() < 1) {
            problems.add("trigger field 'maxMisfires': must be at least 1");
        }
        if (s.start() != null && s.end() != null && !s.start().isBefore(s.end())) {
            problems.add("trigger field 'end': must be after 'start'");
        }
        if (s.limit() != null) {
            if (s.limit() < 1 || s.limit() > Trigger.Schedule.MAX_LIMIT) {
                problems.add("trigger field 'limit': must be between 1 and " + Trigger.Schedule.MAX_LIMIT + ", got " + s.limit());
            }
            if (s.start() == null) {
                problems.add("trigger field 'limit': needs 'start' (the limit counts the ticks at or after it)");
            }
        }
        return problems;
    }

    /** The first fire time strictly after {@code after}, within the window and the limit; empty when there is none. */
    public Optional<Instant> next(Instant after) {
        return unlimitedNext(after).filter(t -> lastTick == null || !t.isAfter(lastTick));
    }

    /** The first fire time strictly after {@code after}, within [start, end). */
    private Optional<Instant> unlimitedNext(Instant after) {
        Instant from = after;
        if (schedule.start() != null && from.isBefore(schedule.start())) {
            from = schedule.start().minusMillis(1);
        }
        Optional<Instant> next;
        if (cron == null) {
            long interval = schedule.intervalMs();
            long t = Math.floorDiv(from.toEpochMilli(), interval) * interval + interval;
            next = Optional.of(Instant.ofEpochMilli(t));
        } else {
            next = cron.nextExecution(ZonedDateTime.ofInstant(from.truncatedTo(java.time.temporal.ChronoUnit.SECONDS), zone))
                    .map(ZonedDateTime::toInstant);
            Optional<Instant> shifted = gapTick(from, next.orElse(from.plus(java.time.Duration.ofDays(400))));
            if (shifted.isPresent() && (next.isEmpty() || shifted.get().isBefore(next.get()))) {
                next = shifted;
            }
        }
        return next.filter(t -> schedule.end() == null || t.isBefore(schedule.end()));
    }

    /**
     * A tick whose local time falls in a daylight-saving gap (02:30 on a spring-forward night) does
     * not exist in the zone; cron libraries skip it. Onceflow fires it shifted by the gap, as
     * {@code java.time} resolves such a local time (02:30 → 03:30), so the day still has its tick.
     * A shifted tick equal to a real one (hourly 02:00 → 03:00) is the same instant, not a double.
     */
    private Optional<Instant> gapTick(Instant after, Instant before) {
        java.time.zone.ZoneRules zoneRules = zone.getRules();
        java.time.zone.ZoneOffsetTransition t = zoneRules.nextTransition(after.minus(java.time.Duration.ofHours(3)));
        boolean seconds = schedule.cron().trim().split("\\s+").length == 6;
        while (t != null && !t.getInstant().isAfter(before)) {
            if (t.isGap()) {
                java.time.LocalDateTime lt = t.getDateTimeBefore();
                while (lt.isBefore(t.getDateTimeAfter())) {
                    if (cron.isMatch(ZonedDateTime.ofLocal(lt, t.getOffsetBefore(), null))) {
                        Instant shifted = ZonedDateTime.of(lt, zone).toInstant();
                        if (shifted.isAfter(after)) {
                            return Optional.of(shifted);
                        }
                    }
                    lt = seconds ? lt.plusSeconds(1) : lt.plusMinutes(1);
                }
            }
            t = zoneRules.nextTransition(t.getInstant());
        }
        return Optional.empty();
    }

    /** Every fire time in (after, until], at most {@code limit} of them, the latest ones kept. */
    public List<Instant> between(Instant after, Instant until, int limit) {
        java.util.ArrayDeque<Instant> out = new java.util.ArrayDeque<>();
        Instant t = after;
        while (true) {
            Optional<Instant> n = next(t);
            if (n.isEmpty() || n.get().isAfter(until)) {
                break;
            }
            out.addLast(n.get());
            if (out.size() > limit) {
                out.removeFirst();
            }
            t = n.get();
        }
        return new ArrayList<>(out);
    }

    public Trigger.Schedule schedule() {
        return schedule;
    }
}
