"""Start/stop a Takhin broker process for the compatibility suites.

`BrokerProcess` owns one data directory and one pair of loopback ports for its
whole life, so `restart()` (after `stop()` or `kill9()`) brings the broker back
on the same data and the same bootstrap address — what crash tests need.

If the environment variable COMPAT_BOOTSTRAP=host:port is set, the fixtures in
conftest.py use that external broker instead (e.g. Apache Kafka as an oracle).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "takhin"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def takhin_bin() -> str:
    return os.environ.get("TAKHIN_BIN", str(DEFAULT_BIN))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kafka_request(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> bytes:
    """Send one non-flexible (header v1) request and return the response body after the
    correlation id."""
    client_id = b"takhin-compat-probe"
    hdr = struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id
    msg = hdr + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)

    def read_exact(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed by broker")
            buf += chunk
        return buf

    (size,) = struct.unpack(">i", read_exact(4))
    if size < 4 or size > 64 * 1024 * 1024:
        raise ValueError(f"bad response size {size}")
    resp = read_exact(size)
    (rcorr,) = struct.unpack(">i", resp[:4])
    if rcorr != corr:
        raise ValueError(f"correlation id {rcorr} != {corr}")
    return resp[4:]


def probe_kafka(bootstrap: str, timeout_s: float = 2.0) -> int:
    """One ApiVersions v0 round trip, then Metadata (no topics); returns the number of
    brokers in the metadata. Raw sockets: no client threads linger after a failed probe."""
    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
        sock.settimeout(timeout_s)
        body = _kafka_request(sock, 18, 0, 1, b"")
        (err, n) = struct.unpack(">hi", body[:6])
        if err != 0:
            raise RuntimeError(f"ApiVersions error code {err}")
        ranges = {}
        for i in range(n):
            k, lo, hi = struct.unpack(">hhh", body[6 + 6 * i: 12 + 6 * i])
            ranges[k] = (lo, hi)
        if 3 not in ranges:
            raise RuntimeError("broker does not advertise Metadata")
        lo, hi = ranges[3]
        # Non-flexible Metadata versions 1..8; empty topic array (v1+: -1 would mean all).
        v = max(lo, 1)
        if v > 8 or v > hi:
            raise RuntimeError(f"no non-flexible Metadata version in {lo}..{hi}")
        req = struct.pack(">i", 0)  # topics: empty array
        if v >= 4:
            req += b"\x00"             # allow_auto_topic_creation = false
        if v >= 8:
            req += b"\x00\x00"         # include cluster/topic authorized operations
        body = _kafka_request(sock, 3, v, 2, req)
        off = 4 if v >= 3 else 0      # throttle_time_ms
        (brokers,) = struct.unpack(">i", body[off:off + 4])
        return brokers


def wait_kafka_ready(bootstrap: str, deadline_s: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    """Poll until an ApiVersions + Metadata round trip works and shows a broker, with
    backoff. Raises RuntimeError on timeout or if `proc` exits."""
    end = time.monotonic() + deadline_s
    delay = 0.05
    last_err: Exception | None = None
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"broker exited early with code {proc.returncode}")
        try:
            if probe_kafka(bootstrap) > 0:
                return
            last_err = RuntimeError("metadata lists no brokers")
        except Exception as e:  # noqa: BLE001 - any failure means "not ready yet"
            last_err = e
        time.sleep(delay)
        delay = min(delay * 1.6, 1.0)
    raise RuntimeError(f"broker at {bootstrap} not ready after {deadline_s}s: {last_err!r}")


class BrokerProcess:
    """A `takhin serve` process on a fixed data dir and fixed loopback ports."""

    def __init__(self, data_dir: str | os.PathLike | None = None, binary: str | None = None,
                 node_id: int = 1, extra_args: list[str] | None = None,
                 ready_timeout_s: float = 30.0):
        self._own_tmp = None
        if data_dir is None:
            self._own_tmp = tempfile.mkdtemp(prefix="takhin-compat-")
            data_dir = os.path.join(self._own_tmp, "data")
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        base = Path(self._own_tmp) if self._own_tmp else self.data_dir.parent
        self.log_path = base / f"takhin-{os.getpid()}-{id(self)}.log"
        self.binary = binary or takhin_bin()
        self.node_id = node_id
        self.extra_args = list(extra_args or [])
        self.kafka_port = free_port()
        self.http_port = free_port()
        self.ready_timeout_s = ready_timeout_s
        self.proc: subprocess.Popen | None = None
        self._log_fh = None
        self.starts = 0

    # -- addresses ---------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def http_addr(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    def command(self) -> list[str]:
        return [
            self.binary, "serve",
            "--data-dir", str(self.data_dir),
            "--kafka-addr", self.bootstrap,
            "--advertised-kafka-addr", self.bootstrap,
            "--http-addr", self.http_addr,
            "--node-id", str(self.node_id),
            *self.extra_args,
        ]

    # -- lifecycle ---------------------------------------------------------
    def start(self, wait: bool = True) -> "BrokerProcess":
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("broker already running")
        if not os.path.exists(self.binary):
            raise FileNotFoundError(
                f"takhin binary not found at {self.binary} (build with `cargo build -p takhin`, "
                "set TAKHIN_BIN, or set COMPAT_BOOTSTRAP=host:port to use an external broker)")
        self._log_fh = open(self.log_path, "ab")
        self._log_fh.write(f"\n===== start #{self.starts + 1}: {' '.join(self.command())}\n".encode())
        self._log_fh.flush()
        env = dict(os.environ)
        env.setdefault("NO_COLOR", "1")
        self.proc = subprocess.Popen(self.command(), stdout=self._log_fh, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        self.starts += 1
        if wait:
            try:
                wait_kafka_ready(self.bootstrap, self.ready_timeout_s, self.proc)
            except Exception as e:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"{e}\n--- broker log tail ({self.log_path}) ---\n{tail}") from e
        return self

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM, wait, SIGKILL fallback. Returns the exit code (None if not running)."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait(timeout=10)
        self._close_log()
        self.proc = None
        return rc

    def kill9(self) -> None:
        """Crash the broker: SIGKILL, no chance to flush anything."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._close_log()
        self.proc = None

    def restart(self, hard: bool = False, wait: bool = True) -> "BrokerProcess":
        """Stop (SIGTERM, or SIGKILL if hard=True) and start again on the same dir and ports."""
        if hard:
            self.kill9()
        else:
            self.stop()
        return self.start(wait=wait)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cleanup(self) -> None:
        """Stop if running and remove the temp dir this object created (if any)."""
        self.stop()
        if self._own_tmp:
            shutil.rmtree(self._own_tmp, ignore_errors=True)
            self._own_tmp = None

    def log_tail(self, max_bytes: int = 8000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - max_bytes))
                return _ANSI.sub("", f.read().decode("utf-8", "replace"))
        except OSError as e:
            return f"<no log: {e}>"

    def _close_log(self) -> None:
        if self._log_fh is not None:
            try:
                self._log_fh.close()
            finally:
                self._log_fh = None

    def __enter__(self) -> "BrokerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()
