"""Apache Kafka Java client (kafka-clients 4.1) suites, driven through java/target/compat.jar.

Build it with `mvn -q -B -f tests/compat/java/pom.xml package -DskipTests` (install.sh does)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from workload import CODECS, NUM_PARTITIONS, assert_same, decode_consumed, make_records, unique_topic, write_spec

JAR = Path(__file__).resolve().parent / "java" / "target" / "compat.jar"

pytestmark = pytest.mark.skipif(not JAR.exists() or shutil.which("java") is None,
                                reason=f"{JAR} not built (run tests/compat/install.sh) or no java")


def run_jar(*args: str, timeout: float = 180) -> tuple[int, dict | None, str]:
    p = subprocess.run(["java", "-Xmx512m", "-XX:TieredStopAtLevel=1", "-jar", str(JAR), *args],
                       capture_output=True, text=True, timeout=timeout)
    doc = None
    if p.stdout.strip():
        try:
            doc = json.loads(p.stdout)
        except json.JSONDecodeError:
            pass
    return p.returncode, doc, p.stderr


@pytest.mark.parametrize("codec", CODECS)
def test_java_roundtrip(broker, codec, tmp_path):
    topic = unique_topic(f"java-{codec}")
    records = make_records()
    spec = tmp_path / "spec.json"
    write_spec(spec, records, topic, codec)
    rc, doc, err = run_jar("roundtrip", broker, str(spec))
    assert rc == 0 and doc is not None, f"compat.jar roundtrip exited {rc}:\n{err[-4000:]}"
    counts = {str(p): [0, sum(1 for r in records if r.partition == p)] for p in range(NUM_PARTITIONS)}
    assert doc["offsets"] == counts, "beginning/end offsets per partition"
    assert_same(records, decode_consumed(doc))


def test_java_admin(broker):
    topic = unique_topic("java-admin")
    rc, doc, err = run_jar("admin", broker, topic)
    assert doc is not None, f"compat.jar admin exited {rc} without a result:\n{err[-4000:]}"
    failed = [c for c in doc["checks"] if not c["ok"]]
    assert not failed and rc == 0, "AdminClient checks failed:\n  " + "\n  ".join(
        f"{c['name']}: expected {c['expected']}, got {c['actual']}" for c in failed) + f"\n{err[-2000:]}"
