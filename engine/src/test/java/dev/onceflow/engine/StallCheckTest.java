package dev.onceflow.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.engine.StallCheck.Offsets;
import dev.onceflow.engine.StallCheck.OpenTransaction;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

class StallCheckTest {

    private final TopicPartition p0 = new TopicPartition("onceflow.events", 0);
    private final TopicPartition p1 = new TopicPartition("onceflow.events", 1);

    @Test
    void aPartitionWhoseOffsetsDoNotMoveWhileRecordsWaitIsStalledAfterTheThreshold() {
        StallCheck check = new StallCheck(60_000);
        Offsets held = new Offsets(5_000, 362, 362);
        assertThat(check.offsets(Map.of(p0, held), 0)).isEmpty();
        assertThat(check.offsets(Map.of(p0, held), 59_999)).isEmpty();
        var stalled = check.offsets(Map.of(p0, held), 60_000);
        assertThat(stalled).singleElement().satisfies(s -> {
            assertThat(s.partition()).isEqualTo(p0);
            assertThat(s.describe(95_000)).contains("onceflow.events-0", "95 s", "4638 records wait", "open transaction");
        });
    }

    @Test
    void progressOrAnIdlePartitionIsNotAStall() {
        StallCheck check = new StallCheck(10_000);
        check.offsets(Map.of(p0, new Offsets(100, 100, 10), p1, new Offsets(50, 50, 50)), 0);
        // p0 committed moves; p1 has nothing waiting
        assertThat(check.offsets(Map.of(p0, new Offsets(200, 200, 20), p1, new Offsets(50, 50, 50)), 20_000)).isEmpty();
        assertThat(check.offsets(Map.of(p0, new Offsets(300, 300, 30), p1, new Offsets(50, 50, 50)), 40_000)).isEmpty();
        // p0 stops: committed stuck at 30 while the end grows, but the stable offset follows the end
        check.offsets(Map.of(p0, new Offsets(400, 400, 30)), 50_000);
        assertThat(check.offsets(Map.of(p0, new Offsets(400, 400, 30)), 61_000)).singleElement()
                .satisfies(s -> assertThat(s.describe(61_000)).contains("committed offset 30 is not moving"));
    }

    @Test
    void aQuietPartitionRestingOnACommitMarkerIsNotStalled() {
        StallCheck check = new StallCheck(1_000);
        check.offsets(Map.of(p0, new Offsets(12, 12, 11)), 0);
        assertThat(check.offsets(Map.of(p0, new Offsets(12, 12, 11)), 60_000)).isEmpty();
        check.offsets(Map.of(p0, new Offsets(14, 14, 11)), 61_000);
        assertThat(check.offsets(Map.of(p0, new Offsets(14, 14, 11)), 62_000)).hasSize(1);
    }

    @Test
    void aTransactionIsHangingOnlyWhenSeenOpenAtTheSameStartForTheWholeThreshold() {
        StallCheck check = new StallCheck(10_000);
        OpenTransaction t = new OpenTransaction(p0, 7, 0, 3, 362);
        OpenTransaction later = new OpenTransaction(p0, 7, 0, 3, 900);
        assertThat(check.transactions(Set.of(t), 0, 120_000)).isEmpty();
        assertThat(check.transactions(Set.of(t), 119_000, 120_000)).isEmpty();
        assertThat(check.transactions(Set.of(t), 120_000, 120_000)).containsExactly(t);
        // committed in time, then a new transaction of the same producer: counted from its own start
        assertThat(check.transactions(Set.of(), 121_000, 120_000)).isEmpty();
        assertThat(check.transactions(Set.of(later), 122_000, 120_000)).isEmpty();
        assertThat(check.transactions(Set.of(later), 200_000, 120_000)).isEmpty();
        assertThat(check.transactions(Set.of(later), 242_000, 120_000)).containsExactly(later);
    }
}
