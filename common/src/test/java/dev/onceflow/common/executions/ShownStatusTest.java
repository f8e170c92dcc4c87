package dev.onceflow.common.executions;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ShownStatusTest {

    @Test
    void oneVocabularyForExecutionsAndNodesWithWaitingAmongIt() {
        assertThat(ShownStatus.words()).isEqualTo("running, waiting, succeeded, failed, cancelled, queued or superseded");
        assertThat(ShownStatus.parse("waiting")).contains(ShownStatus.WAITING);
        assertThat(ShownStatus.parse("started")).as("the engine's word for a claimed node is not shown").isEmpty();
        assertThat(ShownStatus.parse("Waiting")).isEmpty();
    }

    @Test
    void aRunningExecutionOnATimerIsWaitingAndTheOthersKeepTheirStoredStatus() {
        assertThat(ShownStatus.ofExecution(ExecutionStatus.RUNNING, true)).isEqualTo(ShownStatus.WAITING);
        assertThat(ShownStatus.ofExecution(ExecutionStatus.RUNNING, false)).isEqualTo(ShownStatus.RUNNING);
        assertThat(ShownStatus.ofExecution(ExecutionStatus.CANCELLED, true)).isEqualTo(ShownStatus.CANCELLED);
        assertThat(ShownStatus.ofExecution(ExecutionStatus.SUCCEEDED, false)).isEqualTo(ShownStatus.SUCCEEDED);
    }

    @Test
    void aCancelledExecutionsUnfinishedNodesShowCancelledItsFinishedOnesKeepTheirOutcome() {
        assertThat(ShownStatus.ofNode(NodeStatus.WAITING, ExecutionStatus.CANCELLED)).isEqualTo(ShownStatus.CANCELLED);
        assertThat(ShownStatus.ofNode(NodeStatus.STARTED, ExecutionStatus.CANCELLED)).isEqualTo(ShownStatus.CANCELLED);
        assertThat(ShownStatus.ofNode(NodeStatus.SUCCEEDED, ExecutionStatus.CANCELLED)).isEqualTo(ShownStatus.SUCCEEDED);
        assertThat(ShownStatus.ofNode(NodeStatus.FAILED, ExecutionStatus.CANCELLED)).isEqualTo(ShownStatus.FAILED);
        assertThat(ShownStatus.ofNode(NodeStatus.WAITING, ExecutionStatus.RUNNING)).isEqualTo(ShownStatus.WAITING);
        assertThat(ShownStatus.ofNode(NodeStatus.STARTED, ExecutionStatus.RUNNING)).isEqualTo(ShownStatus.RUNNING);
    }
}
