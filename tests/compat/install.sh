#!/usr/bin/env bash
# Install everything the real-client compatibility suites need. Idempotent.
#   - Python venv at tests/compat/.venv with requirements.txt
#   - Java driver jar: tests/compat/java/target/compat.jar (Maven, Java 17)
#   - Go driver binary: tests/compat/go/bin/compat-go (franz-go)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt

if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
  echo "install.sh: java and mvn are required (Java 17+)" >&2
  exit 1
fi
mvn -q -B -Dstyle.color=never -f java/pom.xml package -DskipTests
mvn -q -B -Dstyle.color=never -f kafka-tools/pom.xml dependency:build-classpath -Dmdep.outputFile=target/classpath.txt  # kafka-dump-log for test_kafka_tools.py

if ! command -v go >/dev/null; then
  echo "install.sh: go is required" >&2
  exit 1
fi
(cd go && go build -o bin/compat-go .)

echo "install.sh: compat suites ready (.venv, java/target/compat.jar, go/bin/compat-go)"
