"""Helpers for the consumer-group suites: the Java/Go drivers, long-running Java group
members (`compat.jar group-member`) and a librdkafka producer of unique values."""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

COMPAT = Path(__file__).resolve().parent.parent
JAR = COMPAT / "java" / "target" / "compat.jar"
GO_BIN = COMPAT / "go" / "bin" / "compat-go"
JAVA = ["java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-jar", str(JAR)]

needs_jar = pytest.mark.skipif(not JAR.exists() or shutil.which("java") is None,
                               reason=f"{JAR} not built (run tests/compat/install.sh) or no java")
needs_go = pytest.mark.skipif(not GO_BIN.exists(), reason=f"{GO_BIN} not built (run tests/compat/install.sh)")


def _run(cmd: list[str], timeout: float) -> tuple[int, dict | None, str]:
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    doc = None
    if p.stdout.strip():
        try:
            doc = json.loads(p.stdout)
        except json.JSONDecodeError:
            pass
    return p.returncode, doc, p.stderr


def run_jar(*args: str, timeout: float = 85) -> tuple[int, dict | None, str]:
    return _run([*JAVA, *args], timeout)


def run_go(*args: str, timeout: float = 85) -> tuple[int, dict | None, str]:
    return _run([str(GO_BIN), *args], timeout)


def failed_checks(doc: dict) -> str:
    return "\n  ".join(f"{c['name']}: expected {c['expected'][:300]}, got {c['actual'][:300]}"
                       for c in doc["checks"] if not c["ok"])


def wait_for(cond, timeout_s: float, what: str, interval: float = 0.2):
    """Poll cond() (sleeping between tries) until it returns a truthy value; fail after timeout."""
    end = time.monotonic() + timeout_s
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval)


class ValueProducer:
    """Produces unique string values "<tag>-<i>" to explicit partitions (acks=all, idempotent)."""

    def __init__(self, bootstrap: str, topic: str):
        self.topic = topic
        self.p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                           "linger.ms": 5})
        self.errors: list[str] = []

    def _cb(self, err, msg):
        if err is not None:
            self.errors.append(f"p{msg.partition()}: {err}")

    def produce(self, values: list[tuple[int, str]]) -> None:
        for part, v in values:
            while True:
                try:
                    self.p.produce(self.topic, value=v.encode(), partition=part, on_delivery=self._cb)
                    break
                except BufferError:
                    self.p.poll(0.1)
            self.p.poll(0)
        left = self.p.flush(30)
        assert left == 0, f"{left} records not delivered within 30s"
        assert not self.errors, f"delivery errors: {self.errors[:10]}"


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """OffsetFetch through librdkafka (no subscription, no join)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        res = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=20)
        return {tp.partition: tp.offset for tp in res}
    finally:
        c.close()


class Member:
    """One `compat.jar group-member` process; its JSON-lines transcript goes to a file so a
    SIGKILLed member still leaves everything it printed."""

    def __init__(self, bootstrap: str, topic: str, group: str, props: dict[str, str], log_dir: Path, name: str):
        self.name = name
        self.out_path = log_dir / f"{name}.jsonl"
        self.err_path = log_dir / f"{name}.stderr"
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        args = [*JAVA, "group-member", bootstrap, topic, group, *[f"{k}={v}" for k, v in props.items()]]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=self._out, stderr=self._err)

    def events(self) -> list[dict]:
        out = []
        with open(self.out_path, "rb") as f:
            for line in f.read().decode("utf-8", "replace").splitlines():
                line = line.strip()
                if line.startswith("{") and line.endswith("}"):
                    try:
                        out.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass  # a line cut short by SIGKILL
        return out

    def assignment(self) -> set[int]:
        cur: set[int] = set()
        for e in self.events():
            if e["ev"] == "assigned":
                cur |= set(e["parts"])
            elif e["ev"] in ("revoked", "lost"):
                cur -= set(e["parts"])
        return cur

    def records(self) -> list[tuple[int, int, str]]:
        return [tuple(r) for e in self.events() if e["ev"] == "recs" for r in e["recs"]]

    def rebalance_events(self) -> list[dict]:
        return [e for e in self.events() if e["ev"] in ("assigned", "revoked", "lost")]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr_tail(self, n: int = 3000) -> str:
        try:
            return self.err_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, timeout: float = 30) -> int:
        """Ask for a clean shutdown (consumer.close()); returns the exit code."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"stop\n")
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._close_files()
        return self.proc.returncode

    def kill9(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._close_files()

    def _close_files(self):
        for f in (self._out, self._err):
            if not f.closed:
                f.close()
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
