#!/usr/bin/env bash
# CI-cheap guard that the benchmark harness cannot rot, WITHOUT running a benchmark:
# shell syntax of run.sh, Python syntax of bench.py, and the Kafka pom still resolves
# (offline-friendly: served from ~/.m2 once resolved; needs network only the first time).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash -n "$ROOT/bench/run.sh"
bash -n "$ROOT/bench/check.sh"
python3 - "$ROOT/bench/bench.py" <<'PY'
import ast, sys
path = sys.argv[1]
ast.parse(open(path).read(), path)  # syntax only; writes no __pycache__
PY
# The report's broker-CPU section (pure arithmetic on recorded runs) still reads the checked-in
# results: a renamed field would otherwise surface only at the end of an hour-long run.
PYTHONDONTWRITEBYTECODE=1 python3 - "$ROOT/bench" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import bench
rows = [json.loads(line) for line in open(f"{sys.argv[1]}/results/latest.jsonl")]
table = [line for line in bench.cpu_per_gib_section(rows) if line.startswith("| ") and "---" not in line]
assert len(table) == 1 + 8 + 4 + 2 + 2, f"bench.py: section 7 lost rows: {table}"
empty = [line for line in table[1:] if "—" in line]
assert not empty, f"bench.py: no broker CPU per GiB for {empty}"
# Section 6b (the client's threads): every run of section 6, both systems, a named thread.
inside = [line.split(" | ") for line in bench.client_threads_section(rows, 2)
          if line.startswith("| ") and "---" not in line]
assert len(inside) == 1 + 2 * (8 + 2), f"bench.py: section 6b lost rows: {inside}"
blank = [row for row in inside[1:] if "—" in row or not row[6].strip()]
assert not blank, f"bench.py: section 6b has no thread for {blank}"
# The sampler behind 6b, on a real process: a client busy ~0.6 s on its main thread is seen as
# such (CPU, a run-queue figure), its output comes back, and a client past its time limit is
# killed, not left running.
import os, time
busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\nprint('busy done')"
out = bench.run([sys.executable, "-c", busy], 60)
seen = bench.ClientMeter.threads[-1]
assert out.strip() == "busy done", f"bench.py: client output lost: {out!r}"
assert seen and seen["busiest"] == "main" and 0.3 <= seen["busiest_s"] <= 5, \
    f"bench.py: ThreadSampler missed a busy main thread: {seen}"
if os.path.exists("/proc/self/schedstat"):
    # With a CPU to itself a spinning thread hardly waits for one (the figure is not its CPU
    # time); sharing one CPU with another spinner it waits about as long as it runs.
    waited = seen["busiest_waited_s"]
    assert waited is not None and 0 <= waited < seen["busiest_s"] / 2, \
        f"bench.py: run-queue wait of a thread alone on a CPU: {seen}"
    import subprocess
    # The rival stops by itself after 30 s, should this script be killed before it kills it.
    rival = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c",
                              "import time\nt = time.monotonic()\nwhile time.monotonic() - t < 30: pass"])
    time.sleep(0.3)  # the rival spinning before the client starts
    try:
        bench.run(["taskset", "-c", "0", sys.executable, "-c", busy], 60)
    finally:
        rival.kill()
        rival.wait()
    shared = bench.ClientMeter.threads[-1]
    assert (shared["busiest_waited_s"] or 0) >= 0.1, \
        f"bench.py: run-queue wait of a thread sharing its CPU not seen: {shared}"
t0 = time.monotonic()
try:
    bench.run(["sleep", "30.25"], 1)
    raise AssertionError("bench.py: a client past its time limit was not stopped")
except RuntimeError as e:
    assert "timeout after 1s" in str(e), e
assert time.monotonic() - t0 < 10, "bench.py: the time limit did not stop the client"
def cmdline(pid):
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        return b""
left = [p for p in os.listdir("/proc") if p.isdigit() and cmdline(p) == b"sleep\x0030.25\x00"]
assert not left, f"bench.py: a timed-out client is still running: {left}"
PY
timeout 600 mvn -q -B -f "$ROOT/bench/pom.xml" dependency:resolve >/dev/null
# The tool classes run.sh starts must exist on the resolved classpath.
CP="$(mktemp)"
trap 'rm -f "$CP"' EXIT
timeout 600 mvn -q -B -f "$ROOT/bench/pom.xml" dependency:build-classpath -Dmdep.outputFile="$CP" >/dev/null
OUT="$(timeout 120 java -cp "$(cat "$CP")" org.apache.kafka.tools.EndToEndLatency 2>&1 || true)"
grep -q "USAGE" <<<"$OUT" \
  || { echo "bench/check.sh: kafka-tools classes not runnable from bench/pom.xml" >&2; exit 1; }
# The steady-state latency program compiles and runs against that classpath (usage, exit 2).
OUT="$(timeout 120 java -cp "$(cat "$CP")" "$ROOT/bench/SteadyLatency.java" 2>&1 || true)"
grep -q "USAGE: SteadyLatency" <<<"$OUT" \
  || { echo "bench/check.sh: bench/SteadyLatency.java does not compile: $OUT" >&2; exit 1; }
# The C librdkafka driver compiles (librdkafka-dev, installed by .ci/run).
BIN="$(mktemp)"
trap 'rm -f "$CP" "$BIN"' EXIT
cc -O2 -Wall -Wextra -Werror -o "$BIN" "$ROOT/bench/rdkafka_perf.c" -lrdkafka
OUT="$("$BIN" 2>&1 || true)"
grep -q "USAGE: rdkafka_perf" <<<"$OUT" \
  || { echo "bench/check.sh: bench/rdkafka_perf.c does not run" >&2; exit 1; }
echo "bench/check.sh: ok"
