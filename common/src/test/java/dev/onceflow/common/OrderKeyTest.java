package dev.onceflow.common;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

class OrderKeyTest {

    private static final JsonNode ORDER = Json.tree("{\"customer\":{\"id\":\"c-7\"},\"n\":42,\"empty\":\"\",\"none\":null,"
            + "\"pair\":[1,2]}");

    @Test
    void aTableChangeIsOrderedByWorkflowTableAndPrimaryKey() {
        assertThat(OrderKey.table("sync", true, "public.orders", "42")).isEqualTo("sync/public.orders/42");
        assertThat(OrderKey.table("sync", true, "public.lines", "42,7")).isEqualTo("sync/public.lines/42,7");
    }

    @Test
    void aTableWithoutPrimaryKeyIsOneSequence() {
        assertThat(OrderKey.table("sync", true, "public.log", "")).isEqualTo("sync/public.log/");
        assertThat(OrderKey.table("sync", true, "public.log", null)).isEqualTo("sync/public.log/");
    }

    @Test
    void aKafkaRecordIsOrderedByThePointerValueBeforeItsKey() {
        byte[] key = "k-1".getBytes(StandardCharsets.UTF_8);
        assertThat(OrderKey.kafka("wf", true, "/customer/id", ORDER, key)).isEqualTo("wf/c-7");
        assertThat(OrderKey.kafka("wf", true, "/n", ORDER, key)).isEqualTo("wf/42");
        assertThat(OrderKey.kafka("wf", true, "/pair", ORDER, key)).isEqualTo("wf/[1,2]");
    }

    @Test
    void aKafkaRecordFallsBackToItsRecordKeyWhenThePointerLeadsNowhere() {
        byte[] key = "k-1".getBytes(StandardCharsets.UTF_8);
        assertThat(OrderKey.kafka("wf", true, null, ORDER, key)).isEqualTo("wf/k-1");
        assertThat(OrderKey.kafka("wf", true, "/missing", ORDER, key)).isEqualTo("wf/k-1");
        assertThat(OrderKey.kafka("wf", true, "/none", ORDER, key)).isEqualTo("wf/k-1");
        assertThat(OrderKey.kafka("wf", true, "/empty", ORDER, key)).isEqualTo("wf/k-1");
    }

    @Test
    void aRecordKeyThatIsNotUtf8IsBase64() {
        byte[] key = {(byte) 0xff, (byte) 0xfe, 0x00, 0x41};
        assertThat(OrderKey.kafka("wf", true, null, ORDER, key))
                .isEqualTo("wf/b64:" + Base64.getEncoder().encodeToString(key));
    }

    @Test
    void nothingDerivableIsASequenceOfOne() {
        assertThat(OrderKey.kafka("wf", true, null, ORDER, null)).isNull();
        assertThat(OrderKey.kafka("wf", true, "/missing", ORDER, new byte[0])).isNull();
        assertThat(OrderKey.api("wf", true, null, null, ORDER)).isNull();
        assertThat(OrderKey.api("wf", true, null, "/missing", ORDER)).isNull();
    }

    @Test
    void anApiCallIsOrderedByItsHeaderBeforeThePointer() {
        assertThat(OrderKey.api("wf", true, "account-9", "/customer/id", ORDER)).isEqualTo("wf/account-9");
        assertThat(OrderKey.api("wf", true, null, "/customer/id", ORDER)).isEqualTo("wf/c-7");
        assertThat(OrderKey.api("wf", true, "", "/customer/id", ORDER)).isEqualTo("wf/c-7");
    }

    @Test
    void aScheduleIsOneSequencePerWorkflow() {
        assertThat(OrderKey.schedule("nightly", true)).isEqualTo("nightly");
    }

    @Test
    void aWorkflowThatIsNotOrderedHasNoOrderingKey() {
        assertThat(OrderKey.table("sync", false, "public.orders", "42")).isNull();
        assertThat(OrderKey.kafka("wf", false, "/n", ORDER, "k".getBytes(StandardCharsets.UTF_8))).isNull();
        assertThat(OrderKey.api("wf", false, "account-9", null, ORDER)).isNull();
        assertThat(OrderKey.schedule("nightly", false)).isNull();
    }

    @Test
    void aKeyOverTheLimitIsHashedUnderItsWorkflow() throws Exception {
        String part = "x".repeat(OrderKey.MAX_CHARS);
        String whole = "wf/" + part;
        String expected = "wf/sha256:" + HexFormat.of().formatHex(
                MessageDigest.getInstance("SHA-256").digest(whole.getBytes(StandardCharsets.UTF_8)));
        assertThat(OrderKey.api("wf", true, part, null, ORDER)).isEqualTo(expected).hasSize(3 + 7 + 64);
        assertThat(OrderKey.api("wf", true, part + "y", null, ORDER)).isNotEqualTo(expected).startsWith("wf/sha256:");
    }

    @Test
    void aKeyAtTheLimitIsKeptAsIs() {
        String part = "x".repeat(OrderKey.MAX_CHARS - 3);
        assertThat(OrderKey.api("wf", true, part, null, ORDER)).isEqualTo("wf/" + part).hasSize(OrderKey.MAX_CHARS);
    }

    @Test
    void twoWorkflowsOnOneRowNeverShareASequence() {
        assertThat(OrderKey.table("a", true, "public.t", "1")).isNotEqualTo(OrderKey.table("b", true, "public.t", "1"));
    }

    @Test
    void anEnvelopeIsPartitionedByItsOrderingKeyAndTheByKeyRecordCarriesTheEventKey() {
        EventEnvelope event = new EventEnvelope("wf@5#p", "wf", 1, 5, null, "s", 5).withOrderKey("wf/k");
        var record = ByKeyRecord.of(event);
        assertThat(new String(record.key(), StandardCharsets.UTF_8)).isEqualTo("wf/k");
        assertThat(ByKeyRecord.eventKey(record.key(), record.headers())).isEqualTo("wf@5#p");
        assertThat(ByKeyRecord.eventKey("wf@5#p".getBytes(StandardCharsets.UTF_8), null)).isEqualTo("wf@5#p");
    }
}
