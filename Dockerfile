# syntax=docker/dockerfile:1
#
# The onceflow image: the product jar (every role and the operator commands) and the onceflow launcher.
# The role is the command:
#   docker build -t onceflow:local .
#   docker run --rm onceflow:local dispatcher      (HTTP API, health and metrics on 8080)
#   docker run --rm onceflow:local engine          (health and metrics on 8081)
# Configuration comes from ONCEFLOW_* environment variables (see 'onceflow config' and the README's
# Configuration and Deploy sections). DeployFilesTest checks this file against the code.

# Build stage: Maven and JDK 17, as the project builds (maven.compiler.release 17). Tests run in CI
# ('mvn -B verify'), not in the image build; -Dmaven.test.skip=true does not even compile them, and
# -Dassembly.skipAssembly=true skips onceflow-dev.jar (the embedded broker and PostgreSQL of 'onceflow dev',
# which the image does not ship).
FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /src
COPY .mvn .mvn
COPY pom.xml pom.xml
COPY common common
COPY dispatcher dispatcher
COPY engine engine
COPY deploy deploy
RUN --mount=type=cache,target=/root/.m2 mvn -B -q -Dmaven.test.skip=true -Dassembly.skipAssembly=true package

# Runtime stage: JRE 17 on Ubuntu (glibc: the product jar carries the natives of the dispatcher's RocksDB
# dedupe store and of the Kafka compression codecs for linux x86_64 and aarch64 with glibc only, not musl).
FROM eclipse-temurin:17-jre-noble
# curl for container health checks (compose); the base image has it today, this keeps it if it goes.
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 onceflow \
    && useradd --system --uid 10001 --gid onceflow --home-dir /var/lib/onceflow --no-create-home \
        --shell /usr/sbin/nologin onceflow \
    && mkdir -p /app /var/lib/onceflow/streams \
    && chown -R onceflow:onceflow /var/lib/onceflow
COPY --from=build /src/deploy/target/onceflow.jar /app/onceflow.jar
# The launcher finds /app/onceflow.jar (it is not in a clone), so 'onceflow ...' works in the container as on
# a laptop: docker exec <container> onceflow fleet --url http://localhost:8080.
COPY --chmod=755 bin/onceflow /usr/local/bin/onceflow
# The dispatcher's Kafka Streams state (dedupe store): a fixed directory, so that a restarted
# container (or a pod with an emptyDir here) reuses it instead of restoring it from the changelog.
ENV ONCEFLOW_DISPATCHER_STATE_DIR=/var/lib/onceflow/streams
# The heap is sized from the container's memory limit, leaving room for RocksDB, direct buffers, metaspace
# and thread stacks; an out-of-memory error ends the process (the orchestrator restarts it) rather than
# leaving it half alive. Setting JAVA_OPTS replaces these; JAVA_TOOL_OPTIONS adds to them.
ENV JAVA_OPTS="-XX:MaxRAMPercentage=60 -XX:+ExitOnOutOfMemoryError"
USER 10001:10001
WORKDIR /var/lib/onceflow
# dispatcher.http.port (API, health, metrics) and engine.http.port (health, metrics), their defaults.
EXPOSE 8080 8081
# The launcher ends in 'exec java', so java is PID 1 and gets SIGTERM itself: a role then stops cleanly
# (engine workers finish or abort their open transaction and leave the group).
ENTRYPOINT ["/usr/local/bin/onceflow"]
# No default role: 'docker run onceflow:local' prints the commands; give 'dispatcher' or 'engine'.
CMD ["help"]
