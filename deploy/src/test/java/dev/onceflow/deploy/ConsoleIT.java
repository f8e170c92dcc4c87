package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.Topics;
import dev.onceflow.common.TriggerRecord;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.dispatcher.Dispatcher;
import java.io.File;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The web console in a real browser (Debian's chromium, headless, through chromedriver) against a
 * real dispatcher and engine on the real broker and PostgreSQL: executions appear as events are
 * published, a failed execution shows its failed node and error and succeeds after a fix and a
 * retry, a waiting execution is cancelled, a dead letter is redriven, the workflows and the fleet
 * with its figures are shown, and the API refuses a request without the token while the console
 * says so. Explicit waits only. Screenshots of each page go to {@code target/console-screenshots/}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ConsoleIT {

    static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    static final Path SCREENSHOTS = Path.of("target", "console-screenshots");

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());
    private final HttpClient http = HttpClient.newHttpClient();
    private WebDriver browser;
    private WebDriverWait wait;
    private String base;

    @BeforeAll
    void start() throws Exception {
        boolean installed = Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER);
        if (!installed && System.getenv("CI") != null) {
            throw new IllegalStateException("CI must install chromium and chromium-driver (.ci/run does)");
        }
        Assumptions.assumeTrue(installed, "chromium and chromedriver are not installed: apt-get install -y chromium chromium-driver");
        fleet.startEngine(2);
        Dispatcher dispatcher = fleet.startDispatcher();
        base = "http://localhost:" + dispatcher.httpPort();
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1440,1100", "--user-data-dir=" + Files.createTempDirectory("console-it-chromium"));
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile()).usingAnyFreePort()
                .build();
        browser = new ChromeDriver(service, options);
        wait = new WebDriverWait(browser, Duration.ofSeconds(45), Duration.ofMillis(100));
        Files.createDirectories(SCREENSHOTS);
        dispatcher.awaitRunning(Duration.ofSeconds(60));
    }

    @AfterAll
    void stop() {
        if (browser != null) {
            browser.quit();
        }
    }

    private void open(String fragment) {
        browser.get(base + "/console/" + fragment);
    }

    /** Moves to another page of the console in the same tab (the token stays in its sessionStorage). */
    private void go(String route) {
        ((JavascriptExecutor) browser).executeScript("location.hash = arguments[0]", route);
    }

    private void screenshot(String name) throws Exception {
        Files.write(SCREENSHOTS.resolve(name + ".png"), ((org.openqa.selenium.TakesScreenshot) browser).getScreenshotAs(OutputType.BYTES));
    }

    private WebElement visible(String css) {
        return wait.until(ExpectedConditions.visibilityOfElementLocated(By.cssSelector(css)));
    }

    private void confirm() {
        visible("#confirm-yes").click();
    }

    private static String enc(String key) {
        return URLEncoder.encode(key, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private static String eventKey(Workflow wf, String id) {
        return wf.id() + "@1700000000000#" + id;
    }

    @Test
    @Order(1)
    void aRequestWithoutTheTokenIsRefusedAndTheConsoleSaysSo() throws Exception {
        HttpResponse<String> bare = http.send(HttpRequest.newBuilder(URI.create(base + "/api/executions")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(bare.statusCode()).isEqualTo(401);
        assertThat(http.send(HttpRequest.newBuilder(URI.create(base + "/console/")).build(), HttpResponse.BodyHandlers.ofString())
                .statusCode()).as("the page itself holds no data and needs no token").isEqualTo(200);

        open("#token=wrong-token");

        wait.until(ExpectedConditions.textToBe(By.id("token-state"), "token refused (401)"));
        assertThat(visible("#auth-message").getText()).contains("Token refused (401)").contains("wrong bearer token");
        assertThat(browser.getCurrentUrl()).as("the token leaves the address bar").doesNotContain("wrong-token");
        screenshot("token-refused");

        visible("#token-input").sendKeys(TestInfra.TOKEN);
        browser.findElement(By.cssSelector("#login button")).click();
        wait.until(ExpectedConditions.textToBe(By.id("token-state"), "token set"));
        wait.until(ExpectedConditions.invisibilityOfElementLocated(By.id("auth")));
    }

    @Test
    @Order(2)
    void executionsAppearAsEventsArePublishedAndAFailedOneSucceedsAfterTheFixAndARetry() throws Exception {
        Workflow ok = fleet.deployThreeNode(Fleet.uniqueId("console-ok"));
        String table = "console_fix_" + Fleet.uniqueId("t").replace('-', '_');
        Workflow failing = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "sql", "id": "before", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'before')",
                   "params": ["event.key"], "next": "write"},
                  {"type": "sql", "id": "write", "sql": "INSERT INTO %s (event_key) VALUES (?)", "params": ["event.key"], "next": "after"},
                  {"type": "sql", "id": "after", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'after')",
                   "params": ["event.key"]}
                ]}""".formatted(Fleet.uniqueId("console-retry"), table));
        open("#token=" + TestInfra.TOKEN + "&/executions?workflow=" + ok.id());
        visible("#executions tbody");
        wait.until(d -> d.findElements(By.cssSelector("#executions tr[data-key]")).isEmpty());

        for (int i = 1; i <= 3; i++) {
            fleet.publish(ok.id(), "o-" + i, Fleet.data(i));
        }
        fleet.publish(ok.id(), "o-1", Fleet.data(1)); // a publisher's retry: absorbed by the dispatcher's dedupe
        fleet.publish(failing.id(), "f-1", Fleet.data(1));
        fleet.flush();

        wait.until(d -> d.findElements(By.cssSelector("#executions tr[data-key][data-status=succeeded]")).size() == 3);
        assertThat(browser.findElements(By.cssSelector("#executions tr[data-key]"))).as("one execution per event").hasSize(3);
        go("#/executions");
        String failedKey = eventKey(failing, "f-1");
        By failedRow = By.cssSelector("#executions tr[data-key='" + failedKey + "'][data-status=failed]");
        wait.until(ExpectedConditions.presenceOfElementLocated(failedRow));
        // The first page's counts by status per workflow (refreshed every 10 s).
        wait.until(ExpectedConditions.textToBe(By.cssSelector("#workflow-counts tr[data-workflow='" + ok.id() + "'] td[data-status=succeeded]"), "3"));
        wait.until(ExpectedConditions.textToBe(By.cssSelector("#workflow-counts tr[data-workflow='" + failing.id() + "'] td[data-status=failed]"), "1"));
        assertThat(browser.findElement(By.cssSelector("#workflow-counts tr[data-workflow='" + ok.id() + "'] td[data-status=failed]")).getText())
                .isEqualTo("0");
        screenshot("executions");

        browser.findElement(failedRow).findElement(By.cssSelector("a.exec-link")).click();
        wait.until(ExpectedConditions.textToBe(By.cssSelector("#exec-status .status"), "failed"));
        assertThat(visible("#exec-error").getText()).contains("node 'write' failed").contains(table);
        WebElement failedRun = visible("#timeline tr[data-node=write][data-status=failed]");
        assertThat(failedRun.getText()).contains(table);
        wait.until(ExpectedConditions.attributeContains(By.id("graph"), "data-statuses", "\"write\":\"failed\""));
        assertThat(browser.findElement(By.id("graph")).getAttribute("data-statuses"))
                .contains("\"before\":\"ran\"").contains("\"after\":\"not reached\"");
        assertThat(visible("#trigger").getText()).contains("\"n\": 1");
        screenshot("execution-failed");

        try (var c = fleet.ds.getConnection(); var s = c.createStatement()) {
            s.execute("CREATE TABLE " + table + " (event_key text PRIMARY KEY)"); // the fix
        }
        visible("#btn-retry").click();
        assertThat(visible("#confirm-text").getText()).contains("continues from its failed node");
        confirm();

        wait.until(ExpectedConditions.textToBe(By.cssSelector("#exec-status .status"), "succeeded"));
        visible("#timeline tr[data-node=write][data-attempt='2'][data-status=succeeded]");
        wait.until(ExpectedConditions.attributeContains(By.id("graph"), "data-statuses", "\"after\":\"ran\""));
        assertThat(browser.findElement(By.id("graph")).getAttribute("data-statuses")).contains("\"write\":\"ran\"");
        assertThat(fleet.count("SELECT count(*) FROM it_effects WHERE event_key = ? AND node = 'before'", failedKey))
                .as("the node before the failure did not run again").isEqualTo(1);
        screenshot("execution-retried");
    }

    @Test
    @Order(3)
    void aWaitingExecutionIsCancelled() throws Exception {
        Workflow wf = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "sql", "id": "first", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'first')",
                   "params": ["event.key"], "next": "wait"},
                  {"type": "delay", "id": "wait", "ms": 600000, "next": "after"},
                  {"type": "sql", "id": "after", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'after')",
                   "params": ["event.key"]}
                ]}""".formatted(Fleet.uniqueId("console-cancel")));
        fleet.publish(wf.id(), "w-1", Fleet.data(1));
        fleet.flush();
        String key = eventKey(wf, "w-1");
        await().atMost(Duration.ofMinutes(1)).until(() -> fleet.count("SELECT count(*) FROM timers WHERE key = ?", key + "/wait") == 1);

        go("#/executions?workflow=" + wf.id() + "&status=waiting");
        wait.until(ExpectedConditions.presenceOfElementLocated(By.cssSelector("#executions tr[data-key='" + key + "'][data-status=waiting]")));
        go("#/executions/" + enc(key));
        wait.until(ExpectedConditions.textToBe(By.cssSelector("#exec-status .status"), "waiting"));
        visible("#timeline tr[data-node=wait][data-status=waiting]");
        wait.until(ExpectedConditions.attributeContains(By.id("graph"), "data-statuses", "\"wait\":\"waiting\""));
        screenshot("execution-waiting");
        visible("#btn-cancel").click();
        confirm();

        wait.until(ExpectedConditions.textToBe(By.cssSelector("#exec-status .status"), "cancelled"));
        assertThat(visible("#exec-error").getText()).contains("cancelled by operator (command ").contains("through the console");
        visible("#timeline tr[data-node=wait][data-status=cancelled]");
        wait.until(ExpectedConditions.attributeContains(By.id("graph"), "data-statuses", "\"wait\":\"cancelled\""));
        assertThat(browser.findElement(By.id("btn-cancel")).isEnabled()).isFalse();
        assertThat(fleet.count("SELECT count(*) FROM executions WHERE event_key = ? AND status = 'cancelled'", key)).isEqualTo(1);
    }

    @Test
    @Order(4)
    void aDeadLetterIsRedrivenAfterTheFix() throws Exception {
        String id = Fleet.uniqueId("console-late");
        String recordId = "d-" + id;
        fleet.publishRaw(Topics.TRIGGERS, recordId, new TriggerRecord(id, recordId, Instant.ofEpochMilli(1_700_000_000_000L),
                Fleet.data(1)).toBytes()).get();
        await().atMost(Duration.ofMinutes(1)).until(() -> fleet.dlq().stream().anyMatch(r -> r.key() != null && recordId.equals(
                new String(r.key(), StandardCharsets.UTF_8))));
        fleet.deploy("{\"id\": \"" + id + "\", \"trigger\": {\"type\": \"kafka\"}, \"nodes\": " + Fleet.effectNode("effect") + "}");

        go("#/dlq?reason=UNKNOWN_WORKFLOW");
        By row = By.cssSelector("#dlq tr[data-key='" + recordId + "']");
        wait.until(ExpectedConditions.presenceOfElementLocated(row));
        assertThat(browser.findElement(row).getText()).contains("UNKNOWN_WORKFLOW").contains(id);
        assertThat(new org.openqa.selenium.support.ui.Select(browser.findElement(By.id("f-reason"))).getFirstSelectedOption().getText())
                .isEqualTo("UNKNOWN_WORKFLOW");
        // The dispatcher's catalog refreshes every 500 ms: it knows the workflow deployed above by now or very soon.
        await().pollDelay(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(2)).until(() -> true);
        browser.findElement(row).findElement(By.cssSelector("input.dl-select")).click();
        wait.until(ExpectedConditions.textToBe(By.id("btn-redrive"), "Redrive selected (1)"));
        screenshot("dead-letters");
        browser.findElement(By.id("btn-redrive")).click();
        confirm();

        wait.until(ExpectedConditions.textMatches(By.id("flash"), java.util.regex.Pattern.compile("Redriven: .*" + Topics.TRIGGERS)));
        await().atMost(Duration.ofMinutes(1)).until(() -> fleet.succeeded(id) == 1);
        assertThat(fleet.effects(id)).isEqualTo(1);
    }

    @Test
    @Order(5)
    void theRowsOfAGoneProcessAreFoldedAndItsDuplicatesStillCountOnce() throws Exception {
        String gone = Fleet.uniqueId("gone-engine");
        long before = dev.onceflow.common.metrics.AbsorbedDuplicatesReport.sums(fleet.ds).get("processed_key");
        try (var c = fleet.ds.getConnection(); var s = c.prepareStatement("INSERT INTO absorbed_duplicates (process, layer, absorbed, "
                + "updated_at) VALUES (?, 'processed_key', 7, now() - interval '2 hours')")) {
            s.setString(1, gone);
            s.executeUpdate();
        }

        long after = dev.onceflow.common.metrics.AbsorbedDuplicatesReport.sums(fleet.ds).get("processed_key");

        assertThat(after - before).as("counted once, folded or not").isEqualTo(7);
        assertThat(fleet.count("SELECT count(*) FROM absorbed_duplicates WHERE process = ?", gone)).as("folded into 'retired'").isZero();
        assertThat(dev.onceflow.common.metrics.AbsorbedDuplicatesReport.sums(fleet.ds).get("processed_key")).isEqualTo(after);
    }

    @Test
    @Order(6)
    void workflowsAndTheFleetWithItsFiguresAreShown() throws Exception {
        String id = Fleet.uniqueId("console-wf");
        fleet.deployThreeNode(id);
        fleet.deploy("{\"id\": \"" + id + "\", \"trigger\": {\"type\": \"kafka\"}, \"nodes\": " + Fleet.effectNode("v2") + "}");

        go("#/workflows/" + id + "/1");
        wait.until(ExpectedConditions.attributeContains(By.id("wf-graph"), "data-statuses", "\"check\":\"none\""));
        assertThat(visible("#wf-title").getText()).contains(id + " v1").contains("kafka");
        assertThat(visible("#wf-definition").getText()).contains("\"then\": \"even\"");
        By wfRow = By.cssSelector("#workflows tr[data-id='" + id + "']");
        assertThat(browser.findElement(wfRow).getText()).contains("enabled").contains("v1").contains("v2");
        screenshot("workflows");
        browser.findElement(wfRow).findElement(By.cssSelector("button[data-act=disable]")).click();
        confirm();
        wait.until(ExpectedConditions.textToBePresentInElementLocated(wfRow, "disabled"));
        assertThat(fleet.count("SELECT count(*) FROM workflows WHERE id = ? AND enabled", id)).isZero();

        // Figures: the executions of the earlier tests finished; the dispatcher absorbed a publisher's retry.
        JsonNode figures = await().atMost(Duration.ofSeconds(40)).pollInterval(Duration.ofSeconds(1)).until(() -> Json.tree(http.send(
                HttpRequest.newBuilder(URI.create(base + "/api/figures?minutes=10")).header("Authorization", "Bearer " + TestInfra.TOKEN)
                        .build(), HttpResponse.BodyHandlers.ofString()).body()), f -> f.path("duplicatesTotal").path("dispatcher").asLong() >= 1);
        long succeeded = 0;
        boolean latency = false;
        for (JsonNode b : figures.get("buckets")) {
            succeeded += b.get("succeeded").asLong();
            latency |= b.has("latencyMs") && b.get("latencyMs").get("p50").asDouble() > 0;
        }
        assertThat(succeeded).isGreaterThanOrEqualTo(5);
        assertThat(latency).as("latency percentiles of the finished executions").isTrue();
        assertThat(figures.get("buckets")).hasSize(60);

        go("#/fleet?minutes=15");
        wait.until(d -> d.findElements(By.cssSelector(".chart .uplot")).size() == 3);
        wait.until(ExpectedConditions.presenceOfElementLocated(By.id("total-lag")));
        assertThat(visible("#engines").getText()).contains(fleet.group).contains("onceflow.events-");
        assertThat(visible("#capture").getText()).contains("Slot");
        wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("figures-note"), "dispatcher"));
        screenshot("fleet");
        List<String> pages = List.of("token-refused", "executions", "execution-failed", "execution-retried", "execution-waiting",
                "dead-letters", "workflows", "fleet");
        for (String p : pages) {
            assertThat(SCREENSHOTS.resolve(p + ".png")).isNotEmptyFile();
        }
    }
}
