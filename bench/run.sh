#!/usr/bin/env bash
# Side-by-side benchmark: Takhin vs Apache Kafka 4.1.1 on this machine.
#
#   bench/run.sh [--quick]     quick: 1 round, small sizes, < 10 min on 2 cores
#                              default (full): 3 rounds, 2 GiB backlog
#
# Builds takhin (release), resolves Kafka from Maven Central (bench/pom.xml), installs fio
# if missing (apt-get), then bench/bench.py starts both brokers in temp dirs on loopback
# ports and runs the workloads alternately. Report: bench/results/latest.md (raw runs in
# bench/results/latest.jsonl). See docs/benchmarks.md.
#
# Environment: TAKHIN_BIN=path skips the cargo build and uses that binary;
# BENCH_TMP=dir puts the brokers' temp dirs there (default: $TMPDIR or /tmp; it must be
# a real disk, not tmpfs, or the durable numbers mean nothing).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROFILE=full
OUT="$ROOT/bench/results/latest.md"
for arg in "$@"; do
  case "$arg" in
    --quick) PROFILE=quick ;;
    --full) PROFILE=full ;;
    --out=*) OUT="${arg#--out=}" ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

WORK="$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/takhin-bench.XXXXXX")"
BENCH_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$BENCH_PID" ]] && kill -0 "$BENCH_PID" 2>/dev/null; then
    kill -TERM "$BENCH_PID" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$BENCH_PID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$BENCH_PID" 2>/dev/null || true
  fi
  # The brokers bench.py started (one pid per line), in case it could not stop them.
  if [[ -f "$WORK/broker.pids" ]]; then
    while read -r pid; do
      [[ -n "$pid" ]] || continue
      if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$pid" 2>/dev/null || true
      fi
    done < "$WORK/broker.pids"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

START=$(date +%s)
echo "bench: profile $PROFILE, work dir $WORK"

# 1. Takhin, release build.
if [[ -z "${TAKHIN_BIN:-}" ]]; then
  (cd "$ROOT" && timeout 1800 cargo build --release -p takhin)
  TAKHIN_BIN="$ROOT/target/release/takhin"
fi
[[ -x "$TAKHIN_BIN" ]] || { echo "no takhin binary at $TAKHIN_BIN" >&2; exit 1; }
COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! git -C "$ROOT" diff --quiet HEAD -- crates 2>/dev/null; then COMMIT="$COMMIT+dirty"; fi
COMMIT="${BENCH_COMMIT:-$COMMIT}"

# 2. Apache Kafka 4.1.1 classpath from Maven Central.
timeout 900 mvn -q -B -f "$ROOT/bench/pom.xml" dependency:build-classpath \
  -Dmdep.outputFile="$WORK/classpath.txt" >/dev/null

# 3. fio for the disk baseline (only if missing).
if ! command -v fio >/dev/null 2>&1; then
  echo "bench: installing fio"
  if ! timeout 300 apt-get install -y -q fio >/dev/null 2>&1; then
    timeout 300 apt-get update -q >/dev/null 2>&1 || true
    timeout 300 apt-get install -y -q fio >/dev/null 2>&1 || echo "bench: fio unavailable; no disk baseline" >&2
  fi
fi

# 3b. librdkafka's C producer driver (bench/rdkafka_perf.c), if librdkafka-dev is there or
#     can be installed; otherwise bench.py falls back to confluent-kafka from Python.
RDKAFKA_PERF=""
if [[ ! -f /usr/include/librdkafka/rdkafka.h ]]; then
  echo "bench: installing librdkafka-dev"
  timeout 300 apt-get install -y -q librdkafka-dev >/dev/null 2>&1 || {
    timeout 300 apt-get update -q >/dev/null 2>&1 || true
    timeout 300 apt-get install -y -q librdkafka-dev >/dev/null 2>&1 || true
  }
fi
if cc -O2 -o "$WORK/rdkafka_perf" "$ROOT/bench/rdkafka_perf.c" -lrdkafka 2>"$WORK/cc.log"; then
  RDKAFKA_PERF="$WORK/rdkafka_perf"
else
  echo "bench: no C librdkafka driver ($(head -1 "$WORK/cc.log")); using confluent-kafka" >&2
fi

# 4. Python with confluent-kafka (librdkafka) when the compat venv has it: topic creation
#    and the cold-start probe. Plain python3 works too (slower fallbacks).
PY=python3
if [[ -x "$ROOT/tests/compat/.venv/bin/python" ]] && \
   "$ROOT/tests/compat/.venv/bin/python" -c 'import confluent_kafka' 2>/dev/null; then
  PY="$ROOT/tests/compat/.venv/bin/python"
fi

# 5. The workloads. quick is stopped at 10 minutes (a run takes ~7); full at 3 hours.
LIMIT=$([[ "$PROFILE" == quick ]] && echo 600 || echo 10800)
timeout --signal=TERM "$LIMIT" "$PY" -u "$ROOT/bench/bench.py" --profile "$PROFILE" \
  --classpath-file "$WORK/classpath.txt" --takhin "$TAKHIN_BIN" --workdir "$WORK" \
  --out "$OUT" --commit "$COMMIT" --rdkafka-perf "$RDKAFKA_PERF" &
BENCH_PID=$!
wait "$BENCH_PID"
BENCH_PID=""
echo "bench: done in $(( $(date +%s) - START )) s; report in $OUT"
