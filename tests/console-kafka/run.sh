#!/usr/bin/env bash
# Runs the console's API tests against Apache Kafka 4.1.1 (from Maven Central,
# via bench/pom.xml) to prove the console is not Takhin-only: the same test
# files that run against an in-process Takhin broker in `cargo test` run here
# with TAKHIN_CONSOLE_TEST_BOOTSTRAP pointing at a single-node KRaft Kafka.
#
# Usage: tests/console-kafka/run.sh   (from anywhere; cleans up after itself)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="$(mktemp -d /tmp/takhin-console-kafka.XXXXXX)"
KAFKA_PID=""
cleanup() {
  if [ -n "$KAFKA_PID" ] && kill -0 "$KAFKA_PID" 2>/dev/null; then
    kill "$KAFKA_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$KAFKA_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$KAFKA_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

echo "== resolving Apache Kafka's classpath (bench/pom.xml)"
timeout 900 mvn -q -B -f "$ROOT/bench/pom.xml" dependency:build-classpath \
  -Dmdep.outputFile="$WORK/classpath.txt" >/dev/null
CP="$(cat "$WORK/classpath.txt")"

PORT="$(free_port)"
CONTROLLER_PORT="$(free_port)"
cat >"$WORK/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$WORK/data
num.partitions=1
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
cat >"$WORK/log4j2.yaml" <<'YAML'
Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
YAML

echo "== formatting and starting Kafka on 127.0.0.1:$PORT"
CLUSTER_ID="$(java -cp "$CP" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
java -Dlog4j2.configurationFile="$WORK/log4j2.yaml" -cp "$CP" kafka.tools.StorageTool \
  format -t "$CLUSTER_ID" -c "$WORK/server.properties" >/dev/null
java -Xmx512m -Dlog4j2.configurationFile="$WORK/log4j2.yaml" -cp "$CP" kafka.Kafka \
  "$WORK/server.properties" >"$WORK/kafka.log" 2>&1 &
KAFKA_PID=$!
for _ in $(seq 1 600); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
  kill -0 "$KAFKA_PID" 2>/dev/null || { cat "$WORK/kafka.log"; echo "Kafka exited" >&2; exit 1; }
  sleep 0.1
done

echo "== console API tests against Apache Kafka"
cd "$ROOT"
status=0
TAKHIN_CONSOLE_TEST_BOOTSTRAP="127.0.0.1:$PORT" cargo test -p takhin-console \
  $(for f in crates/takhin-console/tests/api_*.rs; do
      name="$(basename "$f" .rs)"
      # Authentication is the console's own concern; nothing Kafka-specific.
      [ "$name" = api_auth ] || printf -- '--test %s ' "$name"
    done) || status=$?
if [ "$status" -ne 0 ]; then
  echo "---- last lines of Kafka's log"; tail -50 "$WORK/kafka.log"
fi
exit "$status"
