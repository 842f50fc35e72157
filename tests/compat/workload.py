"""The shared record workload and the exact comparison used by every client suite.

Every client (Java, franz-go, librdkafka, kafka-python) produces the records
returned by `make_records()` and consumes them back; `compare()` checks the
consumed records against what was produced: partition, offsets 0..n-1 in order,
key, value, headers (order and repeated keys preserved), timestamp and
timestamp type (CreateTime).

Non-Python clients receive the workload as a JSON "spec" file (`write_spec`),
with keys, values and header values base64-encoded (null stays null), and print
what they consumed as JSON in the same encoding (`decode_consumed`).
"""
from __future__ import annotations

import base64
import hashlib
import json
import random
import time
import uuid
from dataclasses import dataclass, field

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
NUM_PARTITIONS = 3
NUM_RECORDS = 200
LARGE_VALUE_SIZE = 100 * 1024

CREATE_TIME = "CreateTime"


@dataclass
class Rec:
    partition: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    timestamp: int = 0
    offset: int | None = None          # filled in on the consumed side
    timestamp_type: str | None = None  # filled in on the consumed side


def unique_topic(prefix: str) -> str:
    return f"compat-{prefix}-{uuid.uuid4().hex[:10]}"


def _large_value(i: int) -> bytes:
    """100 KiB: half incompressible pseudo-random bytes, half a repeated pattern."""
    rnd = random.Random(i)
    half = LARGE_VALUE_SIZE // 2
    return rnd.randbytes(half) + (f"large-{i}-".encode() * (half // 8 + 1))[: LARGE_VALUE_SIZE - half]


def make_records(n: int = NUM_RECORDS, partitions: int = NUM_PARTITIONS,
                 base_ts: int | None = None, null_header_values: bool = True,
                 null_key_and_value: bool = True) -> list[Rec]:
    """Deterministic (given base_ts) workload.

    null_header_values=False / null_key_and_value=False adapt it to clients that
    cannot produce a header with a null value or a record whose key and value are
    both null (kafka-python rejects both client-side).

    Timestamps are explicit CreateTime values a bit in the past (brokers reject
    timestamps too far in the future, and timestamps older than retention.ms
    would make the data eligible for deletion), strictly increasing with i.
    """
    if base_ts is None:
        base_ts = (int(time.time() * 1000) - 3_600_000) // 1000 * 1000
    out = []
    for i in range(n):
        key = None if i % 7 == 3 else f"key-{i}".encode()
        if i % 11 == 5:
            value = None
        elif i % 40 == 17:
            value = _large_value(i)
        elif i % 13 == 9:
            value = b""  # empty, not null
        else:
            value = (f"value-{i}-" + "abc" * (i % 9)).encode()
        m = i % 5
        if m == 0:
            headers = [("h", b"1"), ("h", b"2"), ("other", b"")]
        elif m == 1:
            headers = []
        elif m == 2:
            headers = [("other", b""), ("h", b"2"), ("h", b"1"), ("h", b"1")]
        elif m == 3:
            headers = [(f"bin-{i}", bytes(range(i % 256)) + b"\x00\xff"), ("h", b"1"), ("h", b"2"), ("other", b"")]
        else:
            headers = [("h", b"1"), ("h", b"2"), ("other", b""), ("null-value", None)]
        if not null_header_values:
            headers = [(k, b"was-null" if v is None else v) for k, v in headers]
        if key is None and value is None and not null_key_and_value:
            key = b""
        out.append(Rec(partition=i % partitions, key=key, value=value, headers=headers,
                       timestamp=base_ts + i * 10))
    return out


# ---------------------------------------------------------------- spec I/O

def _b64(b: bytes | None):
    return None if b is None else base64.b64encode(b).decode()


def _unb64(s):
    return None if s is None else base64.b64decode(s)


def write_spec(path, records: list[Rec], topic: str, codec: str, partitions: int = NUM_PARTITIONS) -> None:
    spec = {
        "topic": topic,
        "codec": codec,
        "partitions": partitions,
        "records": [
            {
                "partition": r.partition,
                "key": _b64(r.key),
                "value": _b64(r.value),
                "headers": [[k, _b64(v)] for k, v in r.headers],
                "timestamp": r.timestamp,
            }
            for r in records
        ],
    }
    with open(path, "w") as f:
        json.dump(spec, f)


def decode_consumed(doc: dict) -> list[Rec]:
    """Consumed records printed by the Java/Go programs: {"records":[{partition, offset,
    key, value, headers:[[k, v]], timestamp, timestampType}]} with base64 bytes."""
    out = []
    for r in doc["records"]:
        out.append(Rec(partition=r["partition"], offset=r["offset"], key=_unb64(r["key"]),
                       value=_unb64(r["value"]),
                       headers=[(k, _unb64(v)) for k, v in r["headers"]],
                       timestamp=r["timestamp"], timestamp_type=r["timestampType"]))
    return out


# ---------------------------------------------------------------- comparison

def _show(b: bytes | None) -> str:
    if b is None:
        return "null"
    if len(b) <= 48:
        return repr(b)
    return f"<{len(b)} bytes sha1={hashlib.sha1(b).hexdigest()[:12]} head={b[:16]!r}>"


def _show_headers(hs) -> str:
    return "[" + ", ".join(f"({k!r}, {_show(v)})" for k, v in hs) + "]"


def compare(expected: list[Rec], consumed: list[Rec], partitions: int = NUM_PARTITIONS,
            max_problems: int = 20) -> list[str]:
    """Return a list of human-readable problems (empty == identical)."""
    problems: list[str] = []
    for p in range(partitions):
        exp = [r for r in expected if r.partition == p]
        got = [r for r in consumed if r.partition == p]
        offsets = [r.offset for r in got]
        if offsets != list(range(len(got))):
            problems.append(f"p{p}: offsets not consecutive from 0 in consumption order: "
                            f"{offsets[:20]}{'...' if len(offsets) > 20 else ''}")
        if len(got) != len(exp):
            problems.append(f"p{p}: consumed {len(got)} records, produced {len(exp)}")
        for idx, (e, g) in enumerate(zip(exp, got)):
            where = f"p{p} offset {g.offset} (record #{idx} of partition)"
            if g.key != e.key:
                problems.append(f"{where}: key {_show(g.key)} != expected {_show(e.key)}")
            if g.value != e.value:
                problems.append(f"{where}: value {_show(g.value)} != expected {_show(e.value)}")
            if list(g.headers) != list(e.headers):
                problems.append(f"{where}: headers {_show_headers(g.headers)} != expected {_show_headers(e.headers)}")
            if g.timestamp != e.timestamp:
                problems.append(f"{where}: timestamp {g.timestamp} != expected {e.timestamp}")
            if g.timestamp_type != CREATE_TIME:
                problems.append(f"{where}: timestamp type {g.timestamp_type!r} != {CREATE_TIME!r}")
            if len(problems) >= max_problems:
                problems.append("... (more problems omitted)")
                return problems
    stray = [r for r in consumed if not (0 <= r.partition < partitions)]
    if stray:
        problems.append(f"{len(stray)} records from unexpected partitions {sorted({r.partition for r in stray})}")
    return problems


def assert_same(expected: list[Rec], consumed: list[Rec], partitions: int = NUM_PARTITIONS) -> None:
    problems = compare(expected, consumed, partitions)
    assert not problems, "consumed records differ from produced:\n  " + "\n  ".join(problems)
