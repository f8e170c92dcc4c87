package dev.onceflow.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.onceflow.common.InvalidInputException.Reason;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class TriggerRecordTest {

    private static TriggerRecord parse(String json) throws InvalidInputException {
        return TriggerRecord.parse(json.getBytes(StandardCharsets.UTF_8));
    }

    private static InvalidInputException rejection(String json) {
        return catchThrowableOfType(InvalidInputException.class, () -> parse(json));
    }

    @Test
    void parsesTheFullRecordOfTheDesign() throws Exception {
        TriggerRecord r = parse("{\"workflow\":\"order-sync\",\"id\":\"ord-42\",\"time\":\"2026-01-10T01:00:00Z\",\"data\":{\"a\":1}}");
        assertThat(r.workflow()).isEqualTo("order-sync");
        assertThat(r.id()).isEqualTo("ord-42");
        assertThat(r.time()).isEqualTo(Instant.parse("2026-01-10T01:00:00Z"));
        assertThat(r.data().get("a").asInt()).isEqualTo(1);
    }

    @Test
    void idTimeAndDataAreOptional() throws Exception {
        TriggerRecord r = parse("{\"workflow\":\"wf\"}");
        assertThat(r.id()).isNull();
        assertThat(r.time()).isNull();
    }

    @Test
    void epochMillisecondsAreATime() throws Exception {
        assertThat(parse("{\"workflow\":\"wf\",\"time\":1736442000000}").time().toEpochMilli()).isEqualTo(1736442000000L);
    }

    @Test
    void withAnIdTheIdIsTheDiscriminatorAndTheTimeTheTimestamp() throws Exception {
        TriggerRecord r = parse("{\"workflow\":\"wf\",\"id\":\"x\",\"time\":1000}");
        assertThat(r.eventKey(555, "t-0-9")).hasToString("wf@1000#x");
        // The record's own timestamp and position do not matter: every copy maps to one key.
        assertThat(r.eventKey(777, "t-1-3")).isEqualTo(r.eventKey(555, "t-0-9"));
    }

    @Test
    void withAnIdButNoTimeTheTimestampIsZero() throws Exception {
        assertThat(parse("{\"workflow\":\"wf\",\"id\":\"x\"}").eventKey(555, "t-0-9")).hasToString("wf@0#x");
    }

    @Test
    void withoutAnIdTheSourcePositionDiscriminates() throws Exception {
        TriggerRecord r = parse("{\"workflow\":\"wf\"}");
        assertThat(r.eventKey(555, "t-0-9")).hasToString("wf@555#t-0-9");
        assertThat(r.eventKey(555, "t-0-10")).isNotEqualTo(r.eventKey(555, "t-0-9"));
        assertThat(parse("{\"workflow\":\"wf\",\"time\":1000}").eventKey(555, "t-0-9")).hasToString("wf@1000#t-0-9");
    }

    @Test
    void malformedJsonIsNamed() {
        InvalidInputException e = rejection("{not json");
        assertThat(e.reason()).isEqualTo(Reason.MALFORMED_JSON);
        assertThat(e.getMessage()).contains("malformed JSON");
        assertThat(rejection("[1,2]").reason()).isEqualTo(Reason.MALFORMED_JSON);
        assertThat(catchThrowableOfType(InvalidInputException.class, () -> TriggerRecord.parse(new byte[0])).reason())
                .isEqualTo(Reason.MALFORMED_JSON);
    }

    @Test
    void missingWorkflowIsNamed() {
        InvalidInputException e = rejection("{\"data\":{}}");
        assertThat(e.reason()).isEqualTo(Reason.MISSING_FIELD);
        assertThat(e.getMessage()).contains("'workflow'");
    }

    @Test
    void wrongTypesNameTheField() {
        assertThat(rejection("{\"workflow\":7}").getMessage()).contains("'workflow'");
        assertThat(rejection("{\"workflow\":\"bad id\"}").reason()).isEqualTo(Reason.INVALID_FIELD);
        InvalidInputException time = rejection("{\"workflow\":\"wf\",\"time\":\"yesterday\"}");
        assertThat(time.reason()).isEqualTo(Reason.INVALID_FIELD);
        assertThat(time.getMessage()).contains("'time'").contains("yesterday");
        assertThat(rejection("{\"workflow\":\"wf\",\"data\":[1]}").getMessage()).contains("'data'");
        assertThat(rejection("{\"workflow\":\"wf\",\"id\":\"\"}").getMessage()).contains("'id'");
        assertThat(rejection("{\"workflow\":\"wf\",\"id\":{}}").reason()).isEqualTo(Reason.INVALID_FIELD);
    }

    @Test
    void roundTripsThroughBytes() throws Exception {
        TriggerRecord r = parse("{\"workflow\":\"wf\",\"id\":\"x\",\"time\":\"2026-01-10T01:00:00Z\",\"data\":{\"a\":[1,2]}}");
        assertThat(TriggerRecord.parse(r.toBytes())).isEqualTo(r);
    }
}
