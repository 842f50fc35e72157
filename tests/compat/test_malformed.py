"""Malformed input against a live broker process (own process per test, so a crash
cannot hide behind a shared fixture): raw-socket garbage, bad frame lengths, unknown
APIs and versions, lying array counts, corrupt CRCs, oversized batches, invalid topic
names. After each bad input the broker must still be running, its RSS must stay bounded,
and a good client (confluent-kafka produce + consume) must still work.

Requests are built by the small non-flexible encoders below (header v1; Produce v3-v8
and Metadata v1-v8 are non-flexible). Needs a Takhin binary: skipped when
COMPAT_BOOTSTRAP is set. MALFORMED_RSS_LIMIT_MB overrides the RSS bound (e.g. for a JVM
oracle behind TAKHIN_BIN).
"""
from __future__ import annotations

import os
import random
import socket
import struct
import time
import zlib

import crc32c
import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from test_librdkafka import create_topic
from workload import unique_topic

RSS_LIMIT_MB = int(os.environ.get("MALFORMED_RSS_LIMIT_MB", "300"))

API_PRODUCE, API_METADATA, API_API_VERSIONS = 0, 3, 18
NONE, CORRUPT_MESSAGE, MESSAGE_TOO_LARGE = 0, 2, 10
INVALID_TOPIC_EXCEPTION, UNSUPPORTED_VERSION, INVALID_RECORD = 17, 35, 87
CLOSED = -1              # the broker closed the connection instead of answering
# Kafka 4.1 answers malformed batches with CORRUPT_MESSAGE, INVALID_RECORD or by closing
# the connection, depending on where its parser notices; any of the three is a refusal.
REFUSED = (CORRUPT_MESSAGE, INVALID_RECORD, CLOSED)
PRODUCE_VERSION = 8      # newest non-flexible Produce
METADATA_VERSION = 4     # non-flexible, has allow_auto_topic_creation


# ---------------------------------------------------------------------------
# Primitive encoders / decoders
# ---------------------------------------------------------------------------

def i8(v: int) -> bytes: return struct.pack(">b", v)
def i16(v: int) -> bytes: return struct.pack(">h", v)
def i32(v: int) -> bytes: return struct.pack(">i", v)
def i64(v: int) -> bytes: return struct.pack(">q", v)


def string(s: str | None) -> bytes:
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def bytes_field(b: bytes | None) -> bytes:
    return i32(-1) if b is None else i32(len(b)) + b


def array(items: list[bytes]) -> bytes:
    return i32(len(items)) + b"".join(items)


def varint(v: int) -> bytes:
    """Zig-zag varint (record fields)."""
    z = (v << 1) ^ (v >> 63)
    out = bytearray()
    while True:
        b = z & 0x7F
        z >>= 7
        if z:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def uvarint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class Reader:
    def __init__(self, buf: bytes):
        self.buf, self.pos = buf, 0

    def take(self, n: int) -> bytes:
        assert self.pos + n <= len(self.buf), f"response truncated at {self.pos}+{n} > {len(self.buf)}"
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def i8(self) -> int: return struct.unpack(">b", self.take(1))[0]
    def i16(self) -> int: return struct.unpack(">h", self.take(2))[0]
    def i32(self) -> int: return struct.unpack(">i", self.take(4))[0]
    def i64(self) -> int: return struct.unpack(">q", self.take(8))[0]

    def string(self) -> str | None:
        n = self.i16()
        return None if n < 0 else self.take(n).decode()


# ---------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------

def request_header(api_key: int, version: int, corr: int, client_id: str = "takhin-malformed") -> bytes:
    """Request header v1 (non-flexible)."""
    return i16(api_key) + i16(version) + i32(corr) + string(client_id)


def frame(payload: bytes) -> bytes:
    return i32(len(payload)) + payload


def encode_records(values: list[bytes], key: bytes | None = b"k") -> bytes:
    records = b""
    for i, v in enumerate(values):
        body = (i8(0) + varint(0) + varint(i)
                + (varint(-1) if key is None else varint(len(key)) + key)
                + varint(len(v)) + v
                + varint(0))                                # no headers
        records += varint(len(body)) + body
    return records


def record_batch(values: list[bytes], key: bytes | None = b"k", corrupt_crc: bool = False,
                 attributes: int = 0, records: bytes | None = None, count: int | None = None,
                 magic: int = 2, length_delta: int = 0,
                 producer: tuple[int, int, int] = (-1, -1, -1)) -> bytes:
    """Record batch v2 (magic 2), no producer id, CRC-32C over attributes..end.
    `records`/`count` override the (already compressed, if attributes say so) records
    section and the record count; `length_delta` makes the batch length field lie;
    `producer` = (producer id, epoch, base sequence) for idempotent batches."""
    now = int(time.time() * 1000)
    if records is None:
        records = encode_records(values, key)
    n = len(values) if count is None else count
    after_crc = (i16(attributes)                            # codec bits 0-2, CreateTime
                 + i32(max(n - 1, 0))                       # last offset delta
                 + i64(now) + i64(now)                      # base / max timestamp
                 + i64(producer[0]) + i16(producer[1]) + i32(producer[2])  # producer id / epoch / base seq
                 + i32(n) + records)
    crc = crc32c.crc32c(after_crc)
    if corrupt_crc:
        crc ^= 0xDEADBEEF
    after_len = i32(0) + i8(magic) + struct.pack(">I", crc) + after_crc  # leader epoch, magic, crc
    return i64(0) + i32(len(after_len) + length_delta) + after_len


def produce_body(topic: str, partition: int, records: bytes, acks: int = -1) -> bytes:
    """Produce v3..v8 body."""
    part = i32(partition) + bytes_field(records)
    return string(None) + i16(acks) + i32(10_000) + array([string(topic) + array([part])])


def parse_produce_response_full(body: bytes, version: int = PRODUCE_VERSION) -> dict[tuple[str, int], tuple[int, int]]:
    """-> {(topic, partition): (error_code, base_offset)} for Produce v3..v8 responses."""
    r = Reader(body)
    out = {}
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            idx, err = r.i32(), r.i16()
            base = r.i64()
            r.i64()                       # log append time
            if version >= 5:
                r.i64()                   # log start offset
            if version >= 8:
                for _ in range(r.i32()):  # record errors
                    r.i32()
                    r.string()
                r.string()                # error message
            out[(name, idx)] = (err, base)
    r.i32()                               # throttle time
    return out


def parse_produce_response(body: bytes, version: int = PRODUCE_VERSION) -> dict[tuple[str, int], int]:
    """-> {(topic, partition): error_code}."""
    return {k: err for k, (err, _) in parse_produce_response_full(body, version).items()}


def metadata_body(topics: list[str] | None) -> bytes:
    """Metadata v4 body: topics (null = all), allow_auto_topic_creation=false."""
    t = i32(-1) if topics is None else array([string(x) for x in topics])
    return t + i8(0)


def parse_metadata_topics(body: bytes) -> dict[str, int]:
    """-> {topic: error_code} from a Metadata v4 response."""
    r = Reader(body)
    r.i32()                               # throttle
    for _ in range(r.i32()):              # brokers
        r.i32(); r.string(); r.i32(); r.string()
    r.string()                            # cluster id
    r.i32()                               # controller id
    out = {}
    for _ in range(r.i32()):
        err, name = r.i16(), r.string()
        r.i8()                            # is_internal
        for _ in range(r.i32()):          # partitions
            r.i16(); r.i32(); r.i32()
            for _ in range(r.i32()):
                r.i32()
            for _ in range(r.i32()):
                r.i32()
        out[name] = err
    return out


# ---------------------------------------------------------------------------
# Raw connection
# ---------------------------------------------------------------------------

class Conn:
    def __init__(self, bootstrap: str, timeout_s: float = 10.0):
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout_s)
        self.sock.settimeout(timeout_s)
        self.corr = 100

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Conn":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed by broker")
            buf += chunk
        return buf

    def recv_frame(self) -> bytes:
        (size,) = struct.unpack(">i", self._read_exact(4))
        assert 4 <= size <= 64 * 1024 * 1024, f"bad response size {size}"
        return self._read_exact(size)

    def request(self, api_key: int, version: int, body: bytes) -> bytes:
        """Send a header-v1 request; return the response body after the correlation id
        (response header v0)."""
        self.corr += 1
        self.send(frame(request_header(api_key, version, self.corr) + body))
        resp = self.recv_frame()
        (corr,) = struct.unpack(">i", resp[:4])
        assert corr == self.corr, f"correlation id {corr} != {self.corr}"
        return resp[4:]

    def closed_by_peer(self, timeout_s: float = 10.0) -> bool:
        """True if the broker closes the connection (EOF/RST) within timeout_s without
        sending anything; False on timeout. Bytes received instead of EOF fail the test."""
        self.sock.settimeout(timeout_s)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        assert data == b"", f"expected the broker to close the connection, got {len(data)} bytes: {data[:64]!r}"
        return True


# ---------------------------------------------------------------------------
# Health checks
# ---------------------------------------------------------------------------

def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def good_client_roundtrip(bootstrap: str, topic: str) -> None:
    """confluent-kafka produces one record and reads it back at its acked offset."""
    value = f"healthy-{time.monotonic_ns()}".encode()
    acked: list = []
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                  "message.timeout.ms": 20_000})
    p.produce(topic, value=value, partition=0,
              on_delivery=lambda err, msg: acked.append((err, msg.offset())))
    assert p.flush(25) == 0, "good producer could not deliver"
    err, offset = acked[0]
    assert err is None, f"good producer got {err}"
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "malformed-health", "enable.auto.commit": False,
                  "enable.partition.eof": False})
    try:
        c.assign([TopicPartition(topic, 0, offset)])
        end = time.monotonic() + 20
        while time.monotonic() < end:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                assert m.error().code() == KafkaError._PARTITION_EOF, f"good consumer error: {m.error()}"
                continue
            assert (m.offset(), m.value()) == (offset, value)
            return
        raise AssertionError("good consumer did not read back the record within 20s")
    finally:
        c.close()


class Target:
    """A broker process plus a healthy topic, with the after-each-input health check."""

    def __init__(self, bp):
        self.bp = bp
        self.bootstrap = bp.bootstrap
        self.topic = unique_topic("malformed-ok")
        create_topic(self.bootstrap, self.topic, partitions=1)

    def assert_healthy(self, what: str) -> None:
        assert self.bp.running, f"broker died after {what}; log tail:\n{self.bp.log_tail()}"
        rss = rss_mb(self.bp.proc.pid)
        assert rss < RSS_LIMIT_MB, f"broker RSS {rss:.0f} MB >= {RSS_LIMIT_MB} MB after {what}"
        good_client_roundtrip(self.bootstrap, self.topic)
        assert self.bp.running, f"broker died after {what} (during health check)"

    def api_versions(self) -> dict[int, tuple[int, int]]:
        with Conn(self.bootstrap) as c:
            r = Reader(c.request(API_API_VERSIONS, 0, b""))
            assert r.i16() == NONE
            return {k: (lo, hi) for k, lo, hi in (struct.unpack(">hhh", r.take(6)) for _ in range(r.i32()))}


@pytest.fixture
def target(broker_process_factory):
    bp = broker_process_factory()
    bp.start()
    t = Target(bp)
    t.assert_healthy("start-up")
    return t


# ---------------------------------------------------------------------------
# Framing
# ---------------------------------------------------------------------------

def test_random_garbage(target):
    rnd = random.Random(20261125)
    for size in (1, 3, 7, 64, 4096):
        with Conn(target.bootstrap) as c:
            c.send(rnd.randbytes(size))
            c.closed_by_peer(0.5)   # may close or wait for more bytes; either is fine
    # A garbage "frame" with a plausible length: must not produce a response.
    with Conn(target.bootstrap) as c:
        junk = rnd.randbytes(60)
        c.send(frame(junk))
        assert c.closed_by_peer(10), "broker kept a connection open after an undecodable frame"
    target.assert_healthy("random garbage")


def test_huge_length_prefix(target):
    with Conn(target.bootstrap) as c:
        c.send(i32(0x7FFFFFFF))
        assert c.closed_by_peer(10), "broker did not close after a 2 GiB frame length (socket.request.max.bytes)"
    target.assert_healthy("length prefix 0x7fffffff")


def test_negative_length(target):
    with Conn(target.bootstrap) as c:
        c.send(i32(-5) + b"\x00" * 8)
        assert c.closed_by_peer(10), "broker did not close after a negative frame length"
    target.assert_healthy("negative frame length")


def test_truncated_frame(target):
    for _ in range(20):
        with Conn(target.bootstrap) as c:
            c.send(i32(100) + request_header(API_METADATA, METADATA_VERSION, 1)[:6])
    target.assert_healthy("truncated frames (length 100, 10 bytes, close)")


# ---------------------------------------------------------------------------
# Unknown / unsupported APIs and versions
# ---------------------------------------------------------------------------

def test_unknown_api_key(target):
    with Conn(target.bootstrap) as c:
        c.send(frame(request_header(999, 0, 7) + b"\x00" * 16))
        assert c.closed_by_peer(10), "broker did not close the connection on unknown API key 999"
    target.assert_healthy("unknown API key")


def test_unsupported_metadata_version(target):
    with Conn(target.bootstrap) as c:
        c.send(frame(request_header(API_METADATA, 99, 8) + metadata_body(None)))
        assert c.closed_by_peer(10), "broker did not close the connection on Metadata v99"
    target.assert_healthy("Metadata v99")


def test_api_versions_unsupported_version_kip511(target):
    # ApiVersions v3+ uses request header v2 (flexible): client id, then an empty tag buffer;
    # the body (compact strings + tags) is what a newer client would send.
    hdr = i16(API_API_VERSIONS) + i16(99) + i32(9) + string("takhin-malformed") + uvarint(0)
    body = uvarint(len(b"py") + 1) + b"py" + uvarint(len(b"1.0") + 1) + b"1.0" + uvarint(0)
    with Conn(target.bootstrap) as c:
        c.send(frame(hdr + body))
        resp = c.recv_frame()
        r = Reader(resp)
        assert r.i32() == 9, "correlation id"
        # Response header v0, body v0: error_code, api_keys[key, min, max].
        err = r.i16()
        assert err == UNSUPPORTED_VERSION, f"ApiVersions v99: error {err}, expected 35 UNSUPPORTED_VERSION"
        n = r.i32()
        assert 0 < n < 1000, f"ApiVersions v99: {n} api keys, expected a non-empty list (KIP-511)"
        apis = {k: (lo, hi) for k, lo, hi in (struct.unpack(">hhh", r.take(6)) for _ in range(n))}
        # Kafka lists only ApiVersions itself here (so the client can retry with a version
        # the broker has); listing every API is also fine.
        assert API_API_VERSIONS in apis, f"api list lacks ApiVersions: {apis}"
        assert apis[API_API_VERSIONS][1] < 99, f"ApiVersions range {apis[API_API_VERSIONS]} includes v99"
        # The connection stays usable: a v0 ApiVersions now succeeds.
        r2 = Reader(c.request(API_API_VERSIONS, 0, b""))
        assert r2.i16() == NONE
    target.assert_healthy("ApiVersions v99")


# ---------------------------------------------------------------------------
# Lying lengths inside a request
# ---------------------------------------------------------------------------

def test_metadata_topic_array_claims_2g_elements(target):
    before = rss_mb(target.bp.proc.pid)
    with Conn(target.bootstrap) as c:
        body = i32(0x7FFFFFFF) + string("a") + string("b")   # claims 2^31-1 topics, has 2
        c.send(frame(request_header(API_METADATA, METADATA_VERSION, 10) + body))
        assert c.closed_by_peer(10), "broker answered/kept open a Metadata request claiming 2^31-1 topics"
    after = rss_mb(target.bp.proc.pid)
    assert after - before < 100, f"RSS grew {after - before:.0f} MB on a lying array count"
    target.assert_healthy("Metadata with topic count 2^31-1")


def test_produce_record_count_lies(target):
    """A batch whose record count claims 2^31-1 records (CRC made valid) is refused,
    without a giant allocation; the broker stays healthy."""
    batch = bytearray(record_batch([b"x"]))
    struct.pack_into(">i", batch, 57, 0x7FFFFFFF)                     # records count
    struct.pack_into(">I", batch, 17, crc32c.crc32c(bytes(batch[21:])))
    with Conn(target.bootstrap) as c:
        c.send(frame(request_header(API_PRODUCE, PRODUCE_VERSION, 11)
                     + produce_body(target.topic, 0, bytes(batch))))
        try:
            resp = c.recv_frame()
            errs = parse_produce_response(resp[4:])
            assert errs[(target.topic, 0)] != NONE, "a batch claiming 2^31-1 records was accepted"
        except ConnectionError:
            pass  # closing the connection is an acceptable answer too
    target.assert_healthy("Produce batch with record count 2^31-1")


# ---------------------------------------------------------------------------
# Produce validation
# ---------------------------------------------------------------------------

def test_produce_corrupt_crc(target):
    with Conn(target.bootstrap) as c:
        good = parse_produce_response(c.request(API_PRODUCE, PRODUCE_VERSION,
                                                produce_body(target.topic, 0, record_batch([b"fine"]))))
        assert good == {(target.topic, 0): NONE}, f"a valid hand-built batch was refused: {good}"
        bad = parse_produce_response(c.request(API_PRODUCE, PRODUCE_VERSION,
                                               produce_body(target.topic, 0,
                                                            record_batch([b"bad crc"], corrupt_crc=True))))
        assert bad == {(target.topic, 0): CORRUPT_MESSAGE}, f"corrupt CRC: {bad}, expected CORRUPT_MESSAGE (2)"
        # Same connection still works.
        again = parse_produce_response(c.request(API_PRODUCE, PRODUCE_VERSION,
                                                 produce_body(target.topic, 0, record_batch([b"after"]))))
        assert again == {(target.topic, 0): NONE}, f"connection unusable after a corrupt batch: {again}"
    target.assert_healthy("Produce with corrupt CRC")


def test_produce_message_too_large(target):
    topic = unique_topic("malformed-small")
    create_topic(target.bootstrap, topic, partitions=1, config={"max.message.bytes": "1024"})
    with Conn(target.bootstrap) as c:
        ok = parse_produce_response(c.request(API_PRODUCE, PRODUCE_VERSION,
                                              produce_body(topic, 0, record_batch([b"small"]))))
        assert ok == {(topic, 0): NONE}, f"small batch refused: {ok}"
        big = parse_produce_response(c.request(API_PRODUCE, PRODUCE_VERSION,
                                               produce_body(topic, 0, record_batch([b"x" * 5000]))))
        assert big == {(topic, 0): MESSAGE_TOO_LARGE}, f"5 KB batch vs max.message.bytes=1024: {big}"
        again = parse_produce_response(c.request(API_PRODUCE, PRODUCE_VERSION,
                                                 produce_body(topic, 0, record_batch([b"small again"]))))
        assert again == {(topic, 0): NONE}, f"connection unusable after MESSAGE_TOO_LARGE: {again}"
    target.assert_healthy("Produce above max.message.bytes")


def test_invalid_topic_name(target):
    with Conn(target.bootstrap) as c:
        md = parse_metadata_topics(c.request(API_METADATA, METADATA_VERSION, metadata_body(["bad/name"])))
        assert md.get("bad/name") == INVALID_TOPIC_EXCEPTION, \
            f"Metadata for 'bad/name': {md}, expected INVALID_TOPIC_EXCEPTION (17)"
        pr = parse_produce_response(c.request(API_PRODUCE, PRODUCE_VERSION,
                                              produce_body("bad/name", 0, record_batch([b"v"]))))
        assert pr.get(("bad/name", 0)) in (INVALID_TOPIC_EXCEPTION, 3), \
            f"Produce to 'bad/name': {pr}, expected INVALID_TOPIC_EXCEPTION (17) or UNKNOWN_TOPIC_OR_PARTITION (3)"
    target.assert_healthy("invalid topic name")


# ---------------------------------------------------------------------------
# Batches that lie about themselves (valid CRC unless said otherwise)
# ---------------------------------------------------------------------------

def _produce_one(c: Conn, topic: str, batch: bytes) -> tuple[int, int]:
    """Produce one batch on `c`; (error_code, base_offset), or (-1, -1) if the broker
    closed the connection instead of answering."""
    try:
        return parse_produce_response_full(c.request(API_PRODUCE, PRODUCE_VERSION,
                                                     produce_body(topic, 0, batch)))[(topic, 0)]
    except ConnectionError:
        return (-1, -1)


def _assert_refused_and_log_clean(target, batch: bytes, what: str) -> int:
    """A good batch, the bad one (must be refused with an error or a closed connection),
    then a good batch again whose offset must directly follow the first: nothing of the
    bad batch reached the log. Returns the error code given for the bad batch."""
    with Conn(target.bootstrap) as c:
        err0, base0 = _produce_one(c, target.topic, record_batch([b"before"]))
        assert err0 == NONE, f"good batch refused ({err0}) before {what}"
        err, _ = _produce_one(c, target.topic, batch)
    assert err != NONE, f"{what}: accepted (Kafka 4.1 refuses it)"
    with Conn(target.bootstrap) as c:
        err1, base1 = _produce_one(c, target.topic, record_batch([b"after"]))
    assert err1 == NONE, f"good batch refused ({err1}) after {what}"
    assert base1 == base0 + 1, f"{what}: log grew by {base1 - base0 - 1} records although the batch was refused"
    target.assert_healthy(what)
    return err


def test_produce_batch_length_lies(target):
    for delta in (1000, -5):
        err = _assert_refused_and_log_clean(target, record_batch([b"v"], length_delta=delta),
                                            f"batch length field off by {delta}")
        assert err in REFUSED, f"batch length off by {delta}: error {err}, expected one of {REFUSED}"


def test_produce_unknown_magic(target):
    for magic in (3, 1):
        err = _assert_refused_and_log_clean(target, record_batch([b"v"], magic=magic), f"record batch magic {magic}")
        assert err in REFUSED, f"magic {magic}: error {err}, expected one of {REFUSED}"


def test_produce_record_count_mismatch(target):
    for count in (0, 2):
        err = _assert_refused_and_log_clean(target, record_batch([b"v"], count=count),
                                            f"batch with 1 record claiming {count}")
        assert err in REFUSED, f"record count {count} for 1 record: error {err}, expected one of {REFUSED}"


def test_produce_unknown_codec(target):
    err = _assert_refused_and_log_clean(target, record_batch([b"v"], attributes=5), "compression codec id 5")
    assert err in REFUSED, f"codec id 5: error {err}, expected one of {REFUSED}"


def test_produce_garbage_compressed_payload(target):
    rnd = random.Random(7)
    for codec in (1, 2, 3, 4):            # gzip, snappy, lz4, zstd
        batch = record_batch([b"v"], attributes=codec, records=rnd.randbytes(300), count=1)
        err = _assert_refused_and_log_clean(target, batch, f"codec {codec} batch with a garbage payload")
        assert err in REFUSED, f"codec {codec} garbage payload: error {err}, expected one of {REFUSED}"


def test_produce_gzip_bomb(target):
    """A ~250 KB gzip batch whose single record inflates to 256 MiB: the broker may refuse
    or store it, but must not blow its memory or die."""
    value_len = 256 * 1024 * 1024
    head = i8(0) + varint(0) + varint(0) + varint(-1) + varint(value_len)
    body_len = len(head) + value_len + 1
    z = zlib.compressobj(9, zlib.DEFLATED, 31)   # gzip container
    parts = [z.compress(varint(body_len) + head)]
    chunk = b"\0" * (1024 * 1024)
    for _ in range(value_len // len(chunk)):
        parts.append(z.compress(chunk))
    parts.append(z.compress(varint(0)) + z.flush())
    batch = record_batch([], attributes=1, records=b"".join(parts), count=1)
    with Conn(target.bootstrap, timeout_s=60) as c:
        err, _ = _produce_one(c, target.topic, batch)
    assert target.bp.running, f"broker died on a gzip bomb (answer {err}); log tail:\n{target.bp.log_tail()}"
    target.assert_healthy(f"gzip bomb (answer {err})")
