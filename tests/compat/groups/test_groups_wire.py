"""The classic group protocol at the wire level: what the coordinator answers when a
member uses a stale generation, an unknown member id, or commits mid-rebalance — the
errors the Java/librdkafka/franz-go clients turn into CommitFailedException,
RebalanceInProgressException and rejoin. Raw, non-flexible requests (the versions
librdkafka uses: FindCoordinator v2, JoinGroup v5, SyncGroup v3, Heartbeat v3,
LeaveGroup v3 and OffsetCommit v7 / OffsetFetch v5), so each error code is asserted
exactly as Kafka 4.1 returns it."""
from __future__ import annotations

import socket
import struct
import time
import uuid

from test_librdkafka import create_topic
from workload import unique_topic

NONE, OFFSET_METADATA_TOO_LARGE, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID = 0, 12, 22, 25
REBALANCE_IN_PROGRESS, MEMBER_ID_REQUIRED = 27, 79


# ------------------------------------------------------------------ encoding
def s16(v): return struct.pack(">h", v)
def s32(v): return struct.pack(">i", v)
def s64(v): return struct.pack(">q", v)


def string(v: str | None) -> bytes:
    if v is None:
        return s16(-1)
    b = v.encode()
    return s16(len(b)) + b


def bytes_(v: bytes | None) -> bytes:
    return s32(-1) if v is None else s32(len(v)) + v


def array(items, enc) -> bytes:
    return s32(len(items)) + b"".join(enc(i) for i in items)


class Reader:
    def __init__(self, b: bytes):
        self.b, self.i = b, 0

    def _take(self, fmt):
        (v,) = struct.unpack_from(fmt, self.b, self.i)
        self.i += struct.calcsize(fmt)
        return v

    def i16(self): return self._take(">h")
    def i32(self): return self._take(">i")
    def i64(self): return self._take(">q")

    def string(self):
        n = self.i16()
        if n < 0:
            return None
        v = self.b[self.i:self.i + n].decode()
        self.i += n
        return v

    def bytes_(self):
        n = self.i32()
        if n < 0:
            return None
        v = self.b[self.i:self.i + n]
        self.i += n
        return v

    def array(self, dec):
        n = self.i32()
        return [] if n < 0 else [dec(self) for _ in range(n)]


def subscription(topic: str) -> bytes:   # ConsumerProtocolSubscription v0
    return s16(0) + array([topic], string) + bytes_(None)


def assignment(topic: str, parts: list[int]) -> bytes:   # ConsumerProtocolAssignment v0
    return s16(0) + array([(topic, parts)], lambda t: string(t[0]) + array(t[1], s32)) + bytes_(None)


class Conn:
    """One connection; requests with header v1 (non-flexible), send and receive split so a
    JoinGroup that the coordinator holds back can stay in flight."""

    def __init__(self, bootstrap: str, client_id: str):
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.sock.settimeout(30)
        self.client_id = client_id
        self.corr = 0

    def send(self, key: int, version: int, body: bytes) -> int:
        self.corr += 1
        hdr = s16(key) + s16(version) + s32(self.corr) + string(self.client_id)
        msg = hdr + body
        self.sock.sendall(s32(len(msg)) + msg)
        return self.corr

    def _exact(self, n):
        buf = b""
        while len(buf) < n:
            c = self.sock.recv(n - len(buf))
            if not c:
                raise ConnectionError("connection closed by broker")
            buf += c
        return buf

    def recv(self, corr: int) -> Reader:
        (size,) = struct.unpack(">i", self._exact(4))
        resp = self._exact(size)
        (rc,) = struct.unpack(">i", resp[:4])
        assert rc == corr, f"correlation id {rc} != {corr}"
        return Reader(resp[4:])

    def call(self, key, version, body) -> Reader:
        return self.recv(self.send(key, version, body))

    def close(self):
        self.sock.close()


# ------------------------------------------------------------------ requests
def join_send(c: Conn, group, member_id, topic, session_ms=10000, rebalance_ms=10000) -> int:
    body = (string(group) + s32(session_ms) + s32(rebalance_ms) + string(member_id) + string(None) +
            string("consumer") + array([("range", subscription(topic))], lambda p: string(p[0]) + bytes_(p[1])))
    return c.send(11, 5, body)


def join_recv(c: Conn, corr: int) -> dict:
    r = c.recv(corr)
    r.i32()
    out = {"error": r.i16(), "generation": r.i32(), "protocol": r.string(), "leader": r.string(),
           "member_id": r.string()}
    out["members"] = r.array(lambda x: (x.string(), x.string(), x.bytes_()))
    return out


def join(c, group, member_id, topic) -> dict:
    return join_recv(c, join_send(c, group, member_id, topic))


def sync(c: Conn, group, gen, member_id, assignments: list[tuple[str, bytes]]) -> dict:
    body = (string(group) + s32(gen) + string(member_id) + string(None) +
            array(assignments, lambda a: string(a[0]) + bytes_(a[1])))
    r = c.call(14, 3, body)
    r.i32()
    return {"error": r.i16(), "assignment": r.bytes_()}


def heartbeat(c: Conn, group, gen, member_id) -> int:
    r = c.call(12, 3, string(group) + s32(gen) + string(member_id) + string(None))
    r.i32()
    return r.i16()


def commit(c: Conn, group, gen, member_id, topic, part, offset, metadata="") -> int:
    body = (string(group) + s32(gen) + string(member_id) + string(None) +
            array([topic], lambda t: string(t) + array([part], lambda p: s32(p) + s64(offset) + s32(-1) + string(metadata))))
    r = c.call(8, 7, body)
    r.i32()
    topics = r.array(lambda x: (x.string(), x.array(lambda y: (y.i32(), y.i16()))))
    assert len(topics) == 1 and len(topics[0][1]) == 1, f"OffsetCommit response shape: {topics}"
    return topics[0][1][0][1]


def fetch(c: Conn, group, topic, part) -> tuple:
    r = c.call(9, 5, string(group) + array([topic], lambda t: string(t) + array([part], s32)))
    r.i32()
    topics = r.array(lambda x: (x.string(), x.array(lambda y: (y.i32(), y.i64(), y.i32(), y.string(), y.i16()))))
    top_err = r.i16()
    assert top_err == NONE, f"OffsetFetch error {top_err}"
    (_p, off, _epoch, meta, err), = topics[0][1]
    return off, meta, err


def leave(c: Conn, group, member_id) -> tuple:
    r = c.call(13, 3, string(group) + array([member_id], lambda m: string(m) + string(None)))
    r.i32()
    err = r.i16()
    return err, r.array(lambda x: (x.string(), x.string(), x.i16()))


def find_coordinator(c: Conn, group) -> tuple:
    r = c.call(10, 2, string(group) + b"\x00")
    r.i32()
    err = r.i16()
    r.string()
    return err, r.i32(), r.string(), r.i32()


# ------------------------------------------------------------------ test
def test_groups_wire_generations(broker):
    topic = unique_topic("grp-wire")
    create_topic(broker, topic, partitions=1)
    group = f"{topic}-g-{uuid.uuid4().hex[:6]}"
    a, b = Conn(broker, "wire-a"), Conn(broker, "wire-b")
    try:
        err, _node, host, port = find_coordinator(a, group)
        assert err == NONE and f"{host}:{port}" == broker, f"FindCoordinator v2: {err} {host}:{port}"

        # Two-step join (KIP-394): the first JoinGroup only hands out a member id.
        j = join(a, group, "", topic)
        assert j["error"] == MEMBER_ID_REQUIRED and j["member_id"], f"first JoinGroup: {j}"
        ma = j["member_id"]
        j = join(a, group, ma, topic)
        assert j["error"] == NONE, f"JoinGroup with member id: {j}"
        gen1 = j["generation"]
        assert j["leader"] == ma and j["member_id"] == ma and j["protocol"] == "range"
        assert [m[0] for m in j["members"]] == [ma] and j["members"][0][2] == subscription(topic), j["members"]
        asg = assignment(topic, [0])
        s = sync(a, group, gen1, ma, [(ma, asg)])
        assert s == {"error": NONE, "assignment": asg}, f"SyncGroup: {s}"
        assert heartbeat(a, group, gen1, ma) == NONE

        # Commits: current generation ok; stale/future generation and unknown member rejected.
        assert commit(a, group, gen1, ma, topic, 0, 5, "m5") == NONE
        assert commit(a, group, gen1 + 1, ma, topic, 0, 6) == ILLEGAL_GENERATION
        assert commit(a, group, gen1 - 1, ma, topic, 0, 6) == ILLEGAL_GENERATION
        assert commit(a, group, gen1, "no-such-member", topic, 0, 6) == UNKNOWN_MEMBER_ID
        assert commit(a, group, gen1, ma, topic, 0, 6, "x" * 4097) == OFFSET_METADATA_TOO_LARGE
        assert heartbeat(a, group, gen1 + 1, ma) == ILLEGAL_GENERATION
        assert heartbeat(a, group, gen1, "no-such-member") == UNKNOWN_MEMBER_ID
        assert fetch(a, group, topic, 0) == (5, "m5", NONE), "rejected commits must not change the offset"

        # B joins: the group prepares a rebalance; A learns it from its heartbeat.
        jb = join(b, group, "", topic)
        assert jb["error"] == MEMBER_ID_REQUIRED
        mb = jb["member_id"]
        corr_b = join_send(b, group, mb, topic)          # held until A rejoins
        # B's JoinGroup travels on another connection: poll A's heartbeat (bounded) until the
        # coordinator has seen it; until then the group is still Stable (NONE).
        seen = []
        for _ in range(50):
            seen.append(heartbeat(a, group, gen1, ma))
            if seen[-1] != NONE:
                break
            time.sleep(0.1)
        assert seen[-1] == REBALANCE_IN_PROGRESS, f"A's heartbeats after B's JoinGroup: {seen}"
        # While the group is preparing the rebalance, A's generation is still valid for commits.
        assert commit(a, group, gen1, ma, topic, 0, 7) == NONE

        ja = join(a, group, ma, topic)
        jb = join_recv(b, corr_b)
        assert ja["error"] == NONE and jb["error"] == NONE, (ja, jb)
        gen2 = ja["generation"]
        assert gen2 > gen1 and jb["generation"] == gen2, (gen1, ja, jb)
        leader = ja["leader"]
        assert leader in (ma, mb) and jb["leader"] == leader
        lead_join = ja if leader == ma else jb
        assert sorted(m[0] for m in lead_join["members"]) == sorted([ma, mb])
        follower_join = jb if leader == ma else ja
        assert follower_join["members"] == [], "only the leader gets the member list"

        # Joined but not synced (CompletingRebalance): commits with the new generation wait
        # for the assignment; the old generation is now stale.
        assert commit(a, group, gen2, ma, topic, 0, 8) == REBALANCE_IN_PROGRESS
        assert commit(a, group, gen1, ma, topic, 0, 8) == ILLEGAL_GENERATION

        lconn, fconn = (a, b) if leader == ma else (b, a)
        lid, fid = (ma, mb) if leader == ma else (mb, ma)
        asg_l, asg_f = assignment(topic, [0]), assignment(topic, [])
        sf = sync(lconn, group, gen2, lid, [(lid, asg_l), (fid, asg_f)])
        assert sf == {"error": NONE, "assignment": asg_l}, sf
        assert sync(fconn, group, gen2, fid, []) == {"error": NONE, "assignment": asg_f}
        assert commit(a, group, gen2, ma, topic, 0, 9, "m9") == NONE
        assert heartbeat(b, group, gen2, mb) == NONE
        assert fetch(b, group, topic, 0) == (9, "m9", NONE)

        # A leaves; its member id is gone, B's next heartbeat sees the rebalance.
        err, members = leave(a, group, ma)
        assert err == NONE and members == [(ma, None, NONE)], (err, members)
        assert commit(a, group, gen2, ma, topic, 0, 10) == UNKNOWN_MEMBER_ID
        assert heartbeat(b, group, gen2, mb) == REBALANCE_IN_PROGRESS
        jb2 = join(b, group, mb, topic)
        assert jb2["error"] == NONE and jb2["generation"] > gen2 and jb2["leader"] == mb, jb2
        assert [m[0] for m in jb2["members"]] == [mb]
        err, members = leave(b, group, mb)
        assert err == NONE
        assert fetch(a, group, topic, 0) == (9, "m9", NONE), "offsets outlive the members"
    finally:
        a.close()
        b.close()
