"""franz-go (kgo + kadm) suites, driven through go/bin/compat-go.

Build it with `cd tests/compat/go && go build -o bin/compat-go .` (install.sh does)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from workload import CODECS, NUM_PARTITIONS, assert_same, decode_consumed, make_records, unique_topic, write_spec

BIN = Path(__file__).resolve().parent / "go" / "bin" / "compat-go"

pytestmark = pytest.mark.skipif(not BIN.exists(), reason=f"{BIN} not built (run tests/compat/install.sh)")


def run_bin(*args: str, timeout: float = 180) -> tuple[int, dict | None, str]:
    p = subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=timeout)
    doc = None
    if p.stdout.strip():
        try:
            doc = json.loads(p.stdout)
        except json.JSONDecodeError:
            pass
    return p.returncode, doc, p.stderr


@pytest.mark.parametrize("codec", CODECS)
def test_franz_go_roundtrip(broker, codec, tmp_path):
    topic = unique_topic(f"franz-{codec}")
    records = make_records()
    spec = tmp_path / "spec.json"
    write_spec(spec, records, topic, codec)
    rc, doc, err = run_bin("roundtrip", broker, str(spec))
    assert rc == 0 and doc is not None, f"compat-go roundtrip exited {rc}:\n{err[-4000:]}"
    counts = {str(p): [0, sum(1 for r in records if r.partition == p)] for p in range(NUM_PARTITIONS)}
    assert doc["offsets"] == counts, "start/end offsets per partition (kadm)"
    assert_same(records, decode_consumed(doc))


def test_franz_go_admin(broker):
    topic = unique_topic("franz-admin")
    rc, doc, err = run_bin("admin", broker, topic)
    assert doc is not None, f"compat-go admin exited {rc} without a result:\n{err[-4000:]}"
    failed = [c for c in doc["checks"] if not c["ok"]]
    assert not failed and rc == 0, "kadm checks failed:\n  " + "\n  ".join(
        f"{c['name']}: expected {c['expected']}, got {c['actual']}" for c in failed) + f"\n{err[-2000:]}"
