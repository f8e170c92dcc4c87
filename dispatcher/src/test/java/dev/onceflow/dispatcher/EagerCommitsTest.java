package dev.onceflow.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class EagerCommitsTest {

    @Test
    void aQuietRecordCommitsAtOnceAndABusyStreamAtMostOncePerGap() {
        EagerCommits commits = new EagerCommits(50);
        assertThat(commits.request(1_000)).as("the first record after a pause").isTrue();
        assertThat(commits.request(1_010)).as("10 ms later: left to the next commit").isFalse();
        assertThat(commits.request(1_049)).isFalse();
        assertThat(commits.request(1_050)).isTrue();
        int requested = 0;
        for (long t = 2_000; t < 3_000; t++) { // 1,000 records a second
            requested += commits.request(t) ? 1 : 0;
        }
        assertThat(requested).as("at most 1000 / 50 a second").isEqualTo(20);
    }

    @Test
    void aBusyProcessorLeavesItsCommitsToTheInterval() {
        EagerCommits commits = new EagerCommits(50, 500);
        assertThat(commits.request(1_000)).as("the first record after a pause").isTrue();
        int requested = 0;
        for (long t = 1_001; t < 3_000; t++) { // 1,000 records a second: above 500/s
            requested += commits.request(t) ? 1 : 0;
        }
        assertThat(requested).as("busy: no extra commit").isZero();
        requested = 0;
        for (long t = 3_000; t < 4_000; t += 10) { // 100 records a second: quiet again
            requested += commits.request(t) ? 1 : 0;
        }
        assertThat(requested).as("quiet again: one request per gap").isBetween(19, 20);
        assertThat(commits.request(60_000)).as("a record after a pause").isTrue();
    }

    @Test
    void zeroMeansIntervalOnly() {
        EagerCommits commits = new EagerCommits(0);
        assertThat(commits.request(0)).isFalse();
        assertThat(commits.request(1_000_000)).isFalse();
    }
}
