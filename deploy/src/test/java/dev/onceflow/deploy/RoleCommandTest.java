package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.dispatcher.CaptureStatus;
import java.util.List;
import org.junit.jupiter.api.Test;

class RoleCommandTest {

    @Test
    void statusLineShowsTheCaptureOnlyWhereThereIsSomethingToSay() {
        assertThat(RoleCommand.captureLine(null)).isEmpty();
        assertThat(RoleCommand.captureLine(new CaptureStatus("STANDBY", "onceflow", List.of(), false, 0, 0, null))).isEmpty();
        assertThat(RoleCommand.captureLine(new CaptureStatus("LEADING", "onceflow", List.of("public.orders"), true, 12, 10, null)))
                .isEqualTo("; row-change capture LEADING slot=onceflow tables=[public.orders] changes=12 events=10");
        assertThat(RoleCommand.captureLine(new CaptureStatus("LEADING", "onceflow", List.of(), false, 0, 0,
                "table public.x does not exist"))).endsWith("PROBLEM: table public.x does not exist");
    }
}
