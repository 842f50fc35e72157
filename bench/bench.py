#!/usr/bin/env python3
"""Side-by-side benchmark of Takhin and Apache Kafka (driven by bench/run.sh).

Starts a single-node KRaft Kafka and a Takhin broker, each in its own temp dir on
loopback ports, and runs the same workloads against each with Kafka's own perf tools
(kafka-tools: ProducerPerformance, ConsumerPerformance, EndToEndLatency), alternating
which system goes first every round. Writes raw results (<out>.jsonl) and a markdown
report. Every child process runs under a timeout; both brokers are stopped on exit.

Needs: java 17, the Kafka classpath (--cp FILE, from bench/pom.xml), the takhin binary.
Uses confluent-kafka (librdkafka) when importable, for topic creation and the cold-start
probe; otherwise falls back to Kafka's TopicCommand and a TCP-accept probe.
"""

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

try:
    import confluent_kafka  # noqa: F401
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    HAVE_CK = True
except ImportError:  # pragma: no cover
    HAVE_CK = False

CLK_TCK = os.sysconf("SC_CLK_TCK")
TOOL_HEAP = "-Xmx512m"
# kafka-server-start.sh's defaults: KAFKA_HEAP_OPTS and KAFKA_JVM_PERFORMANCE_OPTS.
KAFKA_JVM = [
    "-Xmx1G", "-Xms1G", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]
SYSTEMS = ("kafka", "takhin")
MODES = ("durable", "cached")
MODE_LABEL = {
    "durable": "Kafka topic flush.messages=1 vs Takhin default (fdatasync before ack)",
    "cached": "Kafka default (no flush config) vs Takhin topic write.caching=true",
}
# Per-system topic configs for each durability mode.
TOPIC_CONFIG = {
    ("kafka", "durable"): {"flush.messages": "1"},
    ("kafka", "cached"): {},
    ("takhin", "durable"): {},
    ("takhin", "cached"): {"write.caching": "true"},
}

# java_records: ProducerPerformance records per unthrottled run (workload 1), by mode. The Java
# producer spends its first 2-3 s compiling its hot paths; runs must be long enough that this is a
# small part of them, or they measure the client's JIT more than the broker. 500,000 records (6 s)
# measured 1.49x on one partition (cached), 2,000,000 1.84x, in the same session.
# produce_records: librdkafka's runs (workload 1b; no JIT). At 500,000 records a Takhin run lasted
# 0.5-0.9 s and its cached one-partition ratio moved 0.96-1.90x between full runs; 2,000,000 (about
# 2 s against Takhin, 7 s against Kafka in durable mode) steadies it.
PROFILES = {
    "quick": dict(rounds=1, produce_records=250_000,
                  java_records=dict(durable=250_000, cached=500_000),
                  rate_seconds=15, warmup_seconds=5, rewarm=False, backlog_mib=1024,
                  e2e_messages=1_000, fio_size_mib=64, fio_runtime=8, tool_timeout=120),
    # Only to test the harness itself (seconds, numbers meaningless): bench.py --profile smoke.
    "smoke": dict(rounds=1, produce_records=3_000,
                  java_records=dict(durable=3_000, cached=3_000),
                  rate_seconds=3, warmup_seconds=1, rewarm=False, backlog_mib=8,
                  e2e_messages=100, fio_size_mib=8, fio_runtime=2, tool_timeout=90),
    "full": dict(rounds=3, produce_records=2_000_000,
                 java_records=dict(durable=1_000_000, cached=2_000_000),
                 rate_seconds=60, warmup_seconds=10, rewarm=True, backlog_mib=2048,
                 e2e_messages=10_000, fio_size_mib=512, fio_runtime=30, tool_timeout=600),
}

RECORD_SIZE = 1024


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def proc_cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
        fields = data[data.rindex(")") + 2:].split()
        # fields[0] is field 3 (state); utime is field 14, stime field 15.
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return float("nan")


def children_cpu_seconds():
    """utime+stime of this process's reaped children (the client tools; brokers are reaped only
    when stopped)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def proc_kib(path, key):
    """A "Key: N kB" value of a /proc file (status, meminfo), in KiB."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Broker:
    def __init__(self, name, workdir, args):
        self.name = name
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.args = args
        self.proc = None
        self.cold_start_ms = None
        self.cold_start_how = ""

    def command(self):
        raise NotImplementedError

    def env(self):
        return dict(os.environ)

    def prepare(self):
        pass

    def start(self, pidfile):
        self.prepare()
        cmd = self.command()
        logf = open(os.path.join(self.dir, "broker.log"), "wb")
        probe = ColdStartProbe(self.bootstrap)
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=self.env(),
                                     cwd=self.dir, start_new_session=True)
        with open(pidfile, "a") as f:
            f.write(f"{self.proc.pid}\n")
        ok, how = probe.wait(t0, self.proc, deadline_s=90)
        if not ok:
            raise RuntimeError(f"{self.name} did not accept a produce within 90 s: {how}; "
                               f"see {self.dir}/broker.log")
        self.cold_start_ms = ok
        self.cold_start_how = how
        log(f"{self.name} up on {self.bootstrap} (pid {self.proc.pid}), "
            f"cold start {ok:.0f} ms ({how})")

    def cpu(self):
        return proc_cpu_seconds(self.proc.pid)

    def hwm_kib(self):
        return proc_kib(f"/proc/{self.proc.pid}/status", "VmHWM")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


class KafkaBroker(Broker):
    def prepare(self):
        a = self.args
        self.ctl_port = free_port()
        data = os.path.join(self.dir, "data")
        # Kafka's shipped config/server.properties (KRaft combined mode), loopback ports, and one
        # setting that is not about speed: a deleted topic's files go when the harness deletes
        # the topic, between runs (Bench.done_with), not 60 s later inside whichever run is on.
        props = f"""process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{self.ctl_port}
listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.ctl_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600
log.dirs={data}
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
log.retention.hours=168
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
group.initial.rebalance.delay.ms=0
log.segment.delete.delay.ms=0
"""
        self.props = os.path.join(self.dir, "server.properties")
        with open(self.props, "w") as f:
            f.write(props)
        self.log4j = os.path.join(self.dir, "log4j2.yaml")
        with open(self.log4j, "w") as f:
            f.write("Configuration:\n  Appenders:\n    Console:\n      name: STDOUT\n"
                    "      PatternLayout:\n        pattern: \"[%d] %p %m (%c)%n\"\n"
                    "  Loggers:\n    Root:\n      level: WARN\n      AppenderRef:\n"
                    "        - ref: STDOUT\n")
        cid = run(["java", "-cp", a.classpath, "kafka.tools.StorageTool", "random-uuid"],
                  timeout=60).strip().splitlines()[-1]
        run(["java", f"-Dlog4j2.configurationFile={self.log4j}", "-cp", a.classpath,
             "kafka.tools.StorageTool", "format", "-t", cid, "-c", self.props], timeout=120)

    def command(self):
        return (["java"] + KAFKA_JVM + [f"-Dlog4j2.configurationFile={self.log4j}",
                                        "-cp", self.args.classpath, "kafka.Kafka", self.props])


class TakhinBroker(Broker):
    def command(self):
        self.http = f"127.0.0.1:{free_port()}"
        return [self.args.takhin, "serve", "--data-dir", os.path.join(self.dir, "data"),
                "--kafka-addr", self.bootstrap, "--advertised-kafka-addr", self.bootstrap,
                "--http-addr", self.http, "--node-id", "1"]

    def env(self):
        e = dict(os.environ)
        e["TAKHIN_LOG_LEVEL"] = "warn"
        # Same as Kafka's shipped server.properties (Takhin's default is Kafka's 3000).
        e["TAKHIN_GROUP_INITIAL_REBALANCE_DELAY_MS"] = "0"
        return e


class ColdStartProbe:
    """Process start to first acknowledged produce (acks=all) on an auto-created topic."""

    def __init__(self, bootstrap):
        self.bootstrap = bootstrap
        self.done = None
        if HAVE_CK:
            self.p = Producer({
                "bootstrap.servers": bootstrap, "acks": "all",
                "reconnect.backoff.ms": 2, "reconnect.backoff.max.ms": 10,
                "retry.backoff.ms": 5, "retry.backoff.max.ms": 20,
                "topic.metadata.refresh.fast.interval.ms": 5,
                "message.timeout.ms": 90_000, "linger.ms": 0,
                "log_level": 0,
            })
            self.p.produce("coldstart", b"x" * 100, callback=self._cb)

    def _cb(self, err, msg):
        self.done = (time.monotonic(), err)

    def wait(self, t0, proc, deadline_s):
        end = t0 + deadline_s
        if HAVE_CK:
            while time.monotonic() < end:
                self.p.poll(0.001)
                if self.done is not None:
                    t, err = self.done
                    if err is None:
                        return (t - t0) * 1000.0, "librdkafka produce acked, acks=all"
                    return None, str(err)
                if proc.poll() is not None:
                    return None, f"exited with {proc.returncode}"
            return None, "timeout"
        host, port = self.bootstrap.split(":")
        while time.monotonic() < end:
            try:
                with socket.create_connection((host, int(port)), timeout=0.1):
                    return (time.monotonic() - t0) * 1000.0, "TCP accept only (no confluent-kafka)"
            except OSError:
                time.sleep(0.005)
        return None, "timeout"


class ClientMeter:
    """Wall time spent in run(), and the measured broker's CPU meanwhile: the client's own run
    without topic creation. Bench.measured sets `broker` and takes differences. `threads`
    collects each client process's per-thread CPU (ThreadSampler.summary), one entry per run()."""
    broker = None
    wall_s = 0.0
    broker_cpu_s = 0.0
    threads = []


# How often a running client's threads are sampled. A thread's figure misses at most its last
# interval of CPU (the process is gone before it can be read again). Measured: one sample of a
# 20-thread client JVM (two /proc files per thread) costs 0.32 ms of this process's CPU, so ten
# a second take 0.3% of one CPU, the same against either broker.
THREAD_SAMPLE_S = 0.1
# JVM thread names (/proc comm, 15 characters at most) by what they do for the client.
JIT_THREADS = ("C1 CompilerThre", "C2 CompilerThre")
GC_THREADS = ("GC Thread", "G1 ")


class ThreadSampler:
    """The CPU of each thread of one client process, sampled from /proc/PID/task while it runs:
    which thread bounds the client (one thread cannot go faster than one CPU) and how much of the
    client's CPU is its JVM compiling and collecting rather than producing or consuming."""

    def __init__(self, pid, program):
        self.pid = pid
        self.program = os.path.basename(program)[:15]
        self.cpu = {}  # tid -> (name, CPU s at the last sample)
        self.waited = {}  # tid -> s runnable but waiting for a CPU (schedstat), at the last sample

    def sample(self):
        try:
            tids = os.listdir(f"/proc/{self.pid}/task")
        except OSError:
            return
        for tid in tids:
            try:
                with open(f"/proc/{self.pid}/task/{tid}/stat") as f:
                    data = f.read()
                name = data[data.index("(") + 1:data.rindex(")")]
                fields = data[data.rindex(")") + 2:].split()
                self.cpu[tid] = (name, (int(fields[11]) + int(fields[12])) / CLK_TCK)
                # schedstat: ns on a CPU, ns runnable on a run queue, timeslices (kernels with
                # schedstats; without, the field stays absent).
                with open(f"/proc/{self.pid}/task/{tid}/schedstat") as f:
                    self.waited[tid] = int(f.read().split()[1]) / 1e9
            except (OSError, ValueError, IndexError):
                continue  # the thread ended between listing and reading

    def summary(self):
        if not self.cpu:
            return None
        tid, (name, busiest) = max(self.cpu.items(), key=lambda kv: kv[1][1])
        if name == self.program:  # the JVM's main thread and the C driver's carry its name
            name = "main"
        return dict(
            busiest=name, busiest_s=busiest, busiest_waited_s=self.waited.get(tid),
            jit_s=sum((c for n, c in self.cpu.values() if n.startswith(JIT_THREADS)), 0.0),
            gc_s=sum((c for n, c in self.cpu.values() if n.startswith(GC_THREADS)), 0.0),
            sampled_s=sum(c for _, c in self.cpu.values()))


def run(cmd, timeout, check=True):
    broker = ClientMeter.broker
    c0 = broker.cpu() if broker else 0.0
    t0 = time.monotonic()
    try:
        return _run(cmd, timeout, check)
    finally:
        ClientMeter.wall_s += time.monotonic() - t0
        if broker:
            ClientMeter.broker_cpu_s += broker.cpu() - c0


def _run(cmd, timeout, check):
    """Runs a client to its end, its output in a temporary file (a pipe could fill while this
    process samples the client's threads rather than reading it)."""
    with tempfile.TemporaryFile() as out_f:
        proc = subprocess.Popen(cmd, stdout=out_f, stderr=subprocess.STDOUT,
                                start_new_session=True)
        sampler = ThreadSampler(proc.pid, cmd[0])
        deadline = time.monotonic() + timeout
        timed_out = False
        try:
            while True:
                sampler.sample()
                try:
                    proc.wait(timeout=THREAD_SAMPLE_S)
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() > deadline:
                        timed_out = True
                        break
        finally:
            if proc.poll() is None:  # timed out, or the harness was stopped: no orphan client
                proc.kill()
                proc.wait()
        ClientMeter.threads.append(sampler.summary())
        out_f.seek(0)
        out = out_f.read().decode(errors="replace")
    if timed_out:
        raise RuntimeError(f"timeout after {timeout}s: {' '.join(cmd[-8:])}\n{out[-2000:]}")
    if check and proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {' '.join(cmd[-8:])}\n{out[-3000:]}")
    return out


class Bench:
    def __init__(self, args):
        self.a = args
        self.p = PROFILES[args.profile]
        self.rows = []  # dicts
        # Raw results, one JSON object per run; copied next to the report at the end, so an
        # interrupted run leaves the previous results alone.
        self.tsv = os.path.join(args.workdir, "results.jsonl")
        open(self.tsv, "w").close()
        self.brokers = {}
        self.notes = []
        self.warmed = []
        self.caches_dropped = 0

    # -- helpers -------------------------------------------------------------
    def java_tool(self, cls, argv, timeout=None):
        cmd = ["java", TOOL_HEAP, f"-Dlog4j2.configurationFile={self.brokers['kafka'].log4j}",
               "-cp", self.a.classpath, cls] + argv
        return run(cmd, timeout or self.p["tool_timeout"])

    def create_topic(self, system, name, partitions, config):
        b = self.brokers[system]
        if HAVE_CK:
            admin = AdminClient({"bootstrap.servers": b.bootstrap})
            fs = admin.create_topics([NewTopic(name, partitions, 1, config=config)],
                                     operation_timeout=30, request_timeout=30)
            fs[name].result(timeout=60)
        elif system == "takhin":
            # Kafka's TopicCommand refuses config names Kafka does not know (write.caching)
            # before sending anything; the console API takes them.
            import urllib.request
            body = json.dumps(dict(name=name, partitions=partitions, replication_factor=1,
                                   configs=config)).encode()
            req = urllib.request.Request(f"http://{b.http}/api/v1/clusters/local/topics",
                                         data=body, headers={"content-type": "application/json"})
            urllib.request.urlopen(req, timeout=60).read()
        else:
            argv = ["--bootstrap-server", b.bootstrap, "--create", "--topic", name,
                    "--partitions", str(partitions), "--replication-factor", "1"]
            for k, v in config.items():
                argv += ["--config", f"{k}={v}"]
            self.java_tool("org.apache.kafka.tools.TopicCommand", argv, timeout=120)
        # Let metadata settle (Kafka creates the partition asynchronously).
        time.sleep(1.0)

    def delete_topics(self, pattern, systems=SYSTEMS):
        """Deletes the topics whose whole name matches `pattern` (a regular expression), outside
        every measurement. A full run writes ~40 GB per round; kept, it filled this machine's
        disk in the second round (Kafka stopped with "No space left on device")."""
        for system in systems:
            b = self.brokers[system]
            try:
                if HAVE_CK:
                    admin = AdminClient({"bootstrap.servers": b.bootstrap})
                    names = [t for t in admin.list_topics(timeout=30).topics
                             if re.fullmatch(pattern, t)]
                    if names:
                        for f in admin.delete_topics(names, operation_timeout=60).values():
                            f.result(timeout=120)
                else:
                    self.java_tool("org.apache.kafka.tools.TopicCommand",
                                   ["--bootstrap-server", b.bootstrap, "--delete", "--topic",
                                    pattern, "--if-exists"], timeout=120)
            except Exception as e:  # a leftover topic costs disk, not correctness
                self.notes.append(f"{system}: deleting topics {pattern}: {e}")

    def done_with(self, system, topic):
        """Deletes one run's topic right after the run, so every run starts with the memory in
        the same state. Kept, each run's page cache stayed and the next runs allocated fresh
        pages instead: by hand, three 2 GiB cached Java runs per broker in turn (Kafka first),
        Takhin measured 147, 89, 91 MB/s (kernel time 397, 1126, 1092 ticks) and Kafka 85,
        101, 73; deleting each run's topic, Takhin 146, 151, 143 (414, 401, 417) and Kafka 101,
        111, 104. Both brokers remove the files at once (Kafka's log.segment.delete.delay.ms=0
        in KafkaBroker), not inside a later run."""
        self.delete_topics(re.escape(topic), systems=(system,))

    def record(self, **row):
        row.setdefault("error", "")
        self.rows.append(row)
        with open(self.tsv, "a") as f:
            f.write(json.dumps(row) + "\n")

    def measured(self, system, fn):
        """Runs one measurement: its result plus the broker's CPU, the CPU of the client
        processes it ran (children reaped meanwhile: the tool or driver, and the topic-creation
        tool when confluent-kafka is missing) and wall time."""
        b = self.brokers[system]
        c0 = b.cpu()
        k0 = children_cpu_seconds()
        w0, bc0 = ClientMeter.wall_s, ClientMeter.broker_cpu_s
        th0 = len(ClientMeter.threads)
        ClientMeter.broker = b
        t0 = time.monotonic()
        try:
            res = fn()
            err = ""
        except Exception as e:  # one failed run must not lose the others
            res, err = {}, str(e).strip().splitlines()[0][:300] if str(e).strip() else repr(e)
            log(f"  {system}: FAILED: {err}")
            self.notes.append(f"{system}: {err}")
        res["broker_cpu_s"] = b.cpu() - c0
        res["client_cpu_s"] = children_cpu_seconds() - k0
        res["client_wall_s"] = ClientMeter.wall_s - w0
        res["broker_cpu_during_client_s"] = ClientMeter.broker_cpu_s - bc0
        # Per-thread CPU of the client(s) the run started: the busiest single thread of any of
        # them, and the JVMs' compiler and collector threads.
        th = [t for t in ClientMeter.threads[th0:] if t]
        if th:
            top = max(th, key=lambda t: t["busiest_s"])
            res["client_busiest_thread"] = top["busiest"]
            res["client_busiest_thread_cpu_s"] = top["busiest_s"]
            if top.get("busiest_waited_s") is not None:
                res["client_busiest_thread_waited_s"] = top["busiest_waited_s"]
            res["client_jit_cpu_s"] = sum(t["jit_s"] for t in th)
            res["client_gc_cpu_s"] = sum(t["gc_s"] for t in th)
            res["client_threads_cpu_s"] = sum(t["sampled_s"] for t in th)
        ClientMeter.broker = None
        res["wall_s"] = time.monotonic() - t0
        res["error"] = err
        return res

    def order(self, rnd):
        return SYSTEMS if rnd % 2 == 1 else tuple(reversed(SYSTEMS))

    def warm(self):
        """Empties the page cache (drop_page_cache), then warms free memory
        (pretouch_free_memory), before a phase that writes much; the time it takes (20-60 s) is
        not part of any measurement."""
        if drop_page_cache():
            self.caches_dropped += 1
        res = pretouch_free_memory()
        if res:
            self.warmed.append(res)

    # -- workloads -----------------------------------------------------------
    PP_RE = re.compile(
        r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
        r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th")

    def producer_perf(self, system, topic, records, throughput, extra):
        b = self.brokers[system]
        props = [f"bootstrap.servers={b.bootstrap}", "acks=all", "linger.ms=5"] + extra
        out = self.java_tool("org.apache.kafka.tools.ProducerPerformance",
                             ["--topic", topic, "--num-records", str(records), "--record-size",
                              str(RECORD_SIZE), "--throughput", str(throughput),
                              "--producer-props"] + props)
        m = None
        for m in self.PP_RE.finditer(out):
            pass
        if not m:
            raise RuntimeError("no ProducerPerformance summary: " + out[-500:])
        return dict(records=int(m[1]), rps=float(m[2]), mibps=float(m[3]), avg_ms=float(m[4]),
                    max_ms=float(m[5]), p50=int(m[6]), p95=int(m[7]), p99=int(m[8]),
                    p999=int(m[9]))

    def w_produce(self, rnd, mode):
        for parts in (1, 8):
            for comp in ("none", "lz4"):
                for system in self.order(rnd):
                    topic = f"w1-{mode}-p{parts}-{comp}-r{rnd}"
                    log(f"round {rnd} {mode} produce p{parts} {comp}: {system}")

                    def go():
                        self.create_topic(system, topic, parts, TOPIC_CONFIG[(system, mode)])
                        return self.producer_perf(system, topic, self.p["java_records"][mode], -1,
                                                  [f"compression.type={comp}"])
                    res = self.measured(system, go)
                    log(f"    {fmt_res(res, ('rps', 'mibps', 'p99'))}")
                    self.record(workload="produce", round=rnd, mode=mode, system=system,
                                partitions=parts, compression=comp, **res)
                    self.done_with(system, topic)

    def w_rdkafka(self, rnd, mode):
        """A second client's view: librdkafka's producer, 1 and 8 partitions; the C driver
        (bench/rdkafka_perf.c, built by run.sh) when given, else confluent-kafka."""
        if self.a.rdkafka_perf:
            driver = [self.a.rdkafka_perf]
        elif HAVE_CK:
            driver = [sys.executable,
                      os.path.join(os.path.dirname(os.path.abspath(__file__)), "rdkafka_perf.py")]
        else:
            return
        for parts in (1, 8):
            for system in self.order(rnd):
                topic = f"w1r-{mode}-p{parts}-r{rnd}"
                log(f"round {rnd} {mode} librdkafka produce p{parts}: {system}")

                def go():
                    self.create_topic(system, topic, parts, TOPIC_CONFIG[(system, mode)])
                    t = self.p["tool_timeout"]
                    out = run(driver + [self.brokers[system].bootstrap, topic,
                               str(self.p["produce_records"]), str(RECORD_SIZE), "none",
                               str(t - 10)], timeout=t)
                    return json.loads(out.strip().splitlines()[-1])
                res = self.measured(system, go)
                log(f"    {fmt_res(res, ('rps', 'mibps', 'p99'))}")
                self.record(workload="produce-rdkafka", round=rnd, mode=mode, system=system,
                            partitions=parts, compression="none", **res)
                self.done_with(system, topic)

    def w_rate(self, rnd, mode):
        maxima = [r["rps"] for r in self.rows if r["workload"] == "produce" and r["round"] == rnd
                  and r["mode"] == mode and r["partitions"] == 1 and r["compression"] == "none"
                  and "rps" in r]
        if len(maxima) < 2:
            self.notes.append(f"round {rnd} {mode}: fixed-rate skipped (a maximum is missing)")
            return
        rate = max(1, int(min(maxima) / 2))
        records = rate * self.p["rate_seconds"]
        for system in self.order(rnd):
            topic = f"w2-{mode}-r{rnd}"
            log(f"round {rnd} {mode} fixed rate {rate}/s x {self.p['rate_seconds']} s: {system}")

            def go():
                self.create_topic(system, topic, 1, TOPIC_CONFIG[(system, mode)])
                return self.producer_perf(system, topic, records, rate, ["compression.type=none"])
            res = self.measured(system, go)
            log(f"    {fmt_res(res, ('rps', 'p50', 'p99', 'p999'))}")
            self.record(workload="rate", round=rnd, mode=mode, system=system, target_rps=rate, **res)
            self.done_with(system, topic)

    STEADY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "SteadyLatency.java")

    def w_steady(self, rnd, mode):
        """The fixed rate again, latency recorded only after a warm-up (bench/SteadyLatency.java)."""
        rates = [r["target_rps"] for r in self.rows if r["workload"] == "rate" and r["round"] == rnd
                 and r["mode"] == mode and "target_rps" in r]
        if not rates:
            self.notes.append(f"round {rnd} {mode}: steady-state latency skipped (no fixed rate)")
            return
        rate, warm, secs = rates[0], self.p["warmup_seconds"], self.p["rate_seconds"]
        for system in self.order(rnd):
            topic = f"w2s-{mode}-r{rnd}"
            log(f"round {rnd} {mode} steady state {rate}/s, {warm} s warm-up + {secs} s: {system}")

            def go():
                self.create_topic(system, topic, 1, TOPIC_CONFIG[(system, mode)])
                out = self.java_tool(self.STEADY, [self.brokers[system].bootstrap, topic,
                                                   str(rate), str(warm), str(secs),
                                                   str(RECORD_SIZE), "compression.type=none"],
                                     timeout=self.p["tool_timeout"] + warm + secs)
                for line in reversed(out.splitlines()):
                    if line.startswith("{"):
                        return json.loads(line)
                raise RuntimeError("no SteadyLatency result: " + out[-500:])
            res = self.measured(system, go)
            log(f"    {fmt_res(res, ('achieved_rps', 'p50_us', 'p99_us', 'p999_us'))}")
            self.record(workload="steady", round=rnd, mode=mode, system=system, target_rps=rate,
                        **res)
            self.done_with(system, topic)

    CP_HEADER = "start.time, end.time, data.consumed.in.MB"

    def w_consume(self, rnd):
        for system in self.order(rnd):
            topic = f"w3-backlog-r{rnd}"
            self.consume_backlog(rnd, system, topic)
            self.done_with(system, topic)

    def consume_backlog(self, rnd, system, topic):
        mib = self.p["backlog_mib"]
        records = mib * 1024
        log(f"round {rnd} backlog {mib} MiB: fill {system}")
        fill = self.measured(system, lambda: (
            self.create_topic(system, topic, 8, TOPIC_CONFIG[(system, "cached")]),
            self.producer_perf(system, topic, records, -1,
                               ["compression.type=none", "batch.size=262144"]))[1])
        if fill["error"]:
            self.record(workload="consume", round=rnd, mode="read", system=system, **fill)
            return
        log(f"round {rnd} consume {mib} MiB: {system}")

        def go():
            out = self.java_tool("org.apache.kafka.tools.ConsumerPerformance",
                                 ["--bootstrap-server", self.brokers[system].bootstrap,
                                  "--topic", topic, "--messages", str(records),
                                  "--group", f"bench-{topic}", "--timeout", "30000"])
            lines = out.splitlines()
            for i, line in enumerate(lines):
                if line.startswith(self.CP_HEADER) and i + 1 < len(lines):
                    v = [x.strip() for x in lines[i + 1].split(",")]
                    return dict(mib=float(v[2]), mibps=float(v[3]), msgs=int(v[4]),
                                rps=float(v[5]), rebalance_ms=int(v[6]), fetch_ms=int(v[7]),
                                fetch_mibps=float(v[8]))
            raise RuntimeError("no ConsumerPerformance summary: " + out[-500:])
        res = self.measured(system, go)
        log(f"    {fmt_res(res, ('mibps', 'fetch_mibps', 'rebalance_ms'))}")
        self.record(workload="consume", round=rnd, mode="read", system=system, **res)
        if not self.a.rdkafka_perf:
            return
        log(f"round {rnd} consume {mib} MiB with librdkafka: {system}")

        def go_c():
            t = self.p["tool_timeout"]
            out = run([self.a.rdkafka_perf, "consume", self.brokers[system].bootstrap, topic,
                       str(records), str(t - 10)], timeout=t)
            return json.loads(out.strip().splitlines()[-1])
        res = self.measured(system, go_c)
        log(f"    {fmt_res(res, ('mibps', 'fetch_mibps', 'join_ms'))}")
        self.record(workload="consume-rdkafka", round=rnd, mode="read", system=system, **res)

    E2E_RE = re.compile(r"Percentiles: 50th = (\d+), 99th = (\d+), 99.9th = (\d+)")
    AVG_RE = re.compile(r"Avg latency: ([\d.]+) ms")

    def w_e2e(self, rnd, mode):
        n = self.p["e2e_messages"]
        for system in self.order(rnd):
            topic = f"w4-{mode}-r{rnd}"
            log(f"round {rnd} {mode} end-to-end latency x {n}: {system}")

            def go():
                self.create_topic(system, topic, 1, TOPIC_CONFIG[(system, mode)])
                out = self.java_tool("org.apache.kafka.tools.EndToEndLatency",
                                     [self.brokers[system].bootstrap, topic, str(n), "all",
                                      str(RECORD_SIZE)])
                m, a = self.E2E_RE.search(out), self.AVG_RE.search(out)
                if not m:
                    raise RuntimeError("no EndToEndLatency summary: " + out[-500:])
                return dict(avg_ms=float(a[1]) if a else float("nan"), p50=int(m[1]),
                            p99=int(m[2]), p999=int(m[3]))
            res = self.measured(system, go)
            log(f"    {fmt_res(res, ('avg_ms', 'p50', 'p99'))}")
            self.record(workload="e2e", round=rnd, mode=mode, system=system, **res)
            self.done_with(system, topic)

    def fio(self):
        if not shutil.which("fio"):
            self.notes.append("fio not installed: no disk baseline")
            return []
        out = []
        d = os.path.join(self.a.workdir, "fio")
        os.makedirs(d, exist_ok=True)
        # 16k: the Java producer's batch.size, so its durable figure has a like-for-like baseline.
        for bs in ("4k", "16k", "64k"):
            cmd = ["fio", "--name=seqsync", f"--directory={d}", "--rw=write", f"--bs={bs}",
                   f"--size={self.p['fio_size_mib']}m", "--fdatasync=1", "--ioengine=sync",
                   f"--runtime={self.p['fio_runtime']}", "--time_based=0", "--end_fsync=1",
                   "--output-format=json"]
            try:
                j = json.loads(run(cmd, timeout=self.p["fio_runtime"] + 60))
                w = j["jobs"][0]["write"]
                res = dict(bs=bs, mibps=w["bw_bytes"] / 1048576.0, iops=w["iops"])
                sync = j["jobs"][0].get("sync", {}).get("lat_ns", {})
                if sync.get("percentile"):
                    res["fsync_p50_us"] = sync["percentile"].get("50.000000", 0) / 1000.0
                    res["fsync_p99_us"] = sync["percentile"].get("99.000000", 0) / 1000.0
                out.append(res)
                log(f"fio {bs} fdatasync=1: {res['mibps']:.1f} MiB/s, {res['iops']:.0f} IOPS")
            except Exception as e:
                self.notes.append(f"fio {bs} failed: {e}")
            finally:
                shutil.rmtree(d, ignore_errors=True)
                os.makedirs(d, exist_ok=True)
        return out

    # -- driver --------------------------------------------------------------
    def main(self):
        a = self.a
        t_start = time.time()
        info = machine_info(a.workdir)
        info["load_start"] = loadavg()
        log(f"profile {a.profile}: {self.p}; load {info['load_start']}")
        fio = self.fio()
        pidfile = os.path.join(a.workdir, "broker.pids")
        self.brokers["kafka"] = KafkaBroker("kafka", a.workdir, a)
        self.brokers["takhin"] = TakhinBroker("takhin", a.workdir, a)
        try:
            # Start order alternates nothing: Kafka first (its JVM needs the memory first).
            for s in SYSTEMS:
                self.brokers[s].start(pidfile)
            for rnd in range(1, self.p["rounds"] + 1):
                for mode in MODES:
                    self.warm()
                    # librdkafka first: its runs are the ones fast enough to feel whether pages
                    # are warm (see drop_page_cache); the Java runs then write ~16 GiB more.
                    self.w_rdkafka(rnd, mode)
                    self.w_produce(rnd, mode)
                    self.w_rate(rnd, mode)
                    self.w_steady(rnd, mode)
                    self.w_e2e(rnd, mode)
                    self.delete_topics(f"w[0-9a-z]*-{mode}-(.*-)?r{rnd}")
                if self.p["rewarm"]:
                    # The fill is not measured; quick skips this one to fit in ten minutes.
                    self.warm()
                self.w_consume(rnd)
                self.delete_topics(f"w3-backlog-r{rnd}")
            usage = {s: dict(hwm_kib=self.brokers[s].hwm_kib(), cpu_s=self.brokers[s].cpu(),
                             cold_ms=self.brokers[s].cold_start_ms,
                             cold_how=self.brokers[s].cold_start_how) for s in SYSTEMS}
        finally:
            for s in SYSTEMS:
                if s in self.brokers:
                    self.brokers[s].stop()
        info["load_end"] = loadavg()
        info["elapsed_s"] = time.time() - t_start
        md = report(self, info, fio, usage)
        os.makedirs(os.path.dirname(a.out), exist_ok=True)
        with open(a.out, "w") as f:
            f.write(md)
        shutil.copyfile(self.tsv, os.path.splitext(a.out)[0] + ".jsonl")
        log(f"wrote {a.out} in {info['elapsed_s']:.0f} s; load {info['load_end']}")


def drop_page_cache():
    """Writes dirty pages back and empties the page cache, as disk benchmarks do before each run
    (needs root; returns whether it happened).

    Earlier phases and whatever ran on the machine before leave the page cache full (14 GiB of
    23.5 at the start of one run). New page-cache pages then come from reclaiming old ones, and
    writes into them ran at ~300 MiB/s for both brokers: in the same quick run, librdkafka produce
    measured Kafka 223-361 and Takhin 298-348 MiB/s with a full cache, and Kafka 299-746, Takhin
    756-1049 with an emptied one."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError as e:
        log(f"page cache not dropped: {e}")
        return False


def pretouch_free_memory(keep_mib=1024, chunk_mib=64):
    """Writes once to (nearly) all free memory, then frees it.

    On a VM whose host backs guest memory lazily (this machine), the first write to a guest
    page costs a trip to the host: page-cache writes into never-touched pages ran at ~300 MB/s
    for both brokers, and at 1.2 GB/s once the pages had been used once. Which broker met
    fresh pages depended on run order. Touching free memory before measuring gives both the
    same, warm, memory. The host takes freed pages back after a while (re-touching 8 GiB ten
    minutes later took 27 s again, and page-cache writes were back at ~300 MB/s), and warming
    only as much as a phase would write did not help (the kernel does not hand the same pages
    back), so all of it is re-warmed before each phase that writes much (`Bench.warm`).
    Returns (GiB touched, seconds)."""
    free_kib = proc_kib("/proc/meminfo", "MemFree")
    if not free_kib:
        return None
    mib = free_kib // 1024 - keep_mib
    if mib < chunk_mib:
        return (0.0, 0.0)
    t0 = time.monotonic()
    chunk = b"\x01" * (chunk_mib << 20)
    held = []
    try:
        for _ in range(mib // chunk_mib):
            buf = bytearray(chunk_mib << 20)
            buf[:] = chunk
            held.append(buf)
    except MemoryError:
        pass
    touched = len(held) * chunk_mib / 1024.0
    del held
    secs = time.monotonic() - t0
    log(f"pre-touched {touched:.1f} GiB of free memory in {secs:.1f} s")
    return (touched, secs)


def fmt_res(res, keys):
    if res.get("error"):
        return "error"
    return ", ".join(f"{k}={res[k]:.1f}" if isinstance(res.get(k), float) else f"{k}={res.get(k)}"
                     for k in keys) + f", broker cpu {res['broker_cpu_s']:.1f} s"


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              timeout=10).stdout.decode().strip()
    except Exception:
        return "?"


def machine_info(workdir):
    return dict(
        nproc=sh("nproc"),
        cpu=sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"),
        mem=sh("grep MemTotal /proc/meminfo | awk '{printf \"%.1f GiB\", $2/1048576}'"),
        kernel=sh("uname -r"),
        disk=sh(f"df -hT {workdir} | tail -1 | awk '{{print $1\" (\"$2\", \"$3\" total)\"}}'"),
        java=sh("java -version 2>&1 | head -1"),
        date=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    )


# -- report --------------------------------------------------------------------

def med(rows, key):
    vals = [r[key] for r in rows if not r.get("error") and isinstance(r.get(key), (int, float))]
    return statistics.median(vals) if vals else None


def f1(v, digits=1):
    if v is None:
        return "—"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) >= 100):
        return f"{int(v):,}"
    return f"{v:,.{digits}f}"


def ratio(t, k):
    if t is None or k is None or k == 0:
        return "—"
    return f"{t / k:.2f}x"


def client_runs():
    """The unthrottled runs sections 6 and 6b break down: (name, workload, selector)."""
    runs = [("Java produce", "produce", dict(mode=m, partitions=parts, compression="none"))
            for m in MODES for parts in (1, 8)]
    runs += [("librdkafka produce", "produce-rdkafka", dict(mode=m, partitions=parts))
             for m in MODES for parts in (1, 8)]
    runs += [("Java consume", "consume", {}), ("librdkafka consume", "consume-rdkafka", {})]
    return runs


def client_threads_section(rows, ncpu):
    """Section 6b: the client's CPU by thread (ThreadSampler), for the runs of section 6. One
    thread cannot use more than one CPU, so a busiest thread near 100% of the client's wall time
    is the client's own limit; the JVM's compiler threads are CPU the client spends on itself
    before it runs at full speed, on the same CPUs as the broker."""
    L = []
    for name, wl, kw in client_runs():
        for system in SYSTEMS:
            sr = [r for r in rows if r.get("workload") == wl and r.get("system") == system
                  and not r.get("error") and r.get("client_busiest_thread_cpu_s") is not None
                  and all(r.get(k) == v for k, v in kw.items())]
            if not sr:
                continue
            wall, cli, top, waited, jit, gc = (med(sr, key) for key in (
                "client_wall_s", "client_cpu_s", "client_busiest_thread_cpu_s",
                "client_busiest_thread_waited_s", "client_jit_cpu_s", "client_gc_cpu_s"))
            names = [r["client_busiest_thread"] for r in sr]
            thread = max(set(names), key=names.count)
            share = f"{100 * top / wall:.0f}%" if wall else "—"
            L.append(f"| {name} | {kw.get('mode', 'read')} | {kw.get('partitions', 8)} | {system} "
                     f"| {f1(wall)} | {f1(cli)} | {thread} | {f1(top)} | {share} | {f1(waited)} "
                     f"| {f1(jit)} | {f1(gc)} |")
    if not L:
        return []
    return ["### 6b. Inside the client (the same runs, by thread)\n",
            "The client's threads sampled from /proc every "
            f"{THREAD_SAMPLE_S} s while it ran (a thread's figure can miss its last "
            f"{THREAD_SAMPLE_S} s), medians over rounds. One thread cannot use more than one of "
            f"the {ncpu} CPUs: where the busiest thread's CPU nears the client's wall time, that "
            "thread sets the pace whatever the broker does. JIT: the JVM's C1/C2 compiler "
            "threads, CPU the Java client spends compiling itself, on the CPUs the broker "
            "shares; GC: its collector threads. A Java client's main thread is the application's "
            "(ProducerPerformance's send() loop, ConsumerPerformance's poll() loop, which also "
            "does the classic consumer's fetching); kafka-producer- is the producer's network "
            "thread; rdk:broker is librdkafka's thread for a broker connection. Waiting for a "
            "CPU: the time the busiest thread was runnable but not running (the scheduler's "
            "run-queue delay, /proc/.../schedstat), time a broker using less CPU can give back; "
            "the rest of its wall time it was asleep, waiting for the network, a response or "
            "another thread.\n",
            "| run | mode | partitions | system | client wall s | client CPU s | busiest thread "
            "| its CPU s | of client wall | its wait for a CPU s | JIT CPU s | GC CPU s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"] + L + [""]


def cpu_per_gib_section(rows):
    """Section 7: the broker's CPU-seconds per GiB it took in or served, per workload. Unlike
    throughput it does not depend on how much of the machine the client left over: it is what
    the same load costs each broker (lower is better)."""
    def per_gib(r):
        moved = r.get("mib")
        if moved is None and isinstance(r.get("records"), int):
            moved = r["records"] * RECORD_SIZE / 2**20
        cpu = r.get("broker_cpu_during_client_s")
        if r.get("error") or not moved or not isinstance(cpu, (int, float)):
            return None
        return dict(r, cpu_per_gib=cpu / (moved / 1024))
    runs = [x for x in (per_gib(r) for r in rows) if x is not None]
    if not runs:
        return []
    table = [("Java produce", "produce", dict(mode=m, partitions=parts, compression=c))
             for m in MODES for parts in (1, 8) for c in ("none", "lz4")]
    table += [("librdkafka produce", "produce-rdkafka", dict(mode=m, partitions=parts))
              for m in MODES for parts in (1, 8)]
    table += [("Java produce, fixed rate", "rate", dict(mode=m)) for m in MODES]
    table += [("Java consume", "consume", {}), ("librdkafka consume", "consume-rdkafka", {})]
    L = ["## 7. Broker CPU per GiB (unthrottled and fixed-rate runs)\n",
         "The broker's CPU-seconds over the client's run divided by the GiB of records produced or "
         "consumed (their uncompressed size, so lz4 rows divide by the same GiB as the others), "
         "median over rounds: what the same work costs each broker, whatever share of the machine "
         "the client left it. Lower is better; the ratio is Takhin / Kafka.\n",
         "| run | mode | partitions | compression | Kafka CPU s/GiB | Takhin CPU s/GiB | ratio |",
         "|---|---|---|---|---|---|---|"]
    for name, wl, kw in table:
        def pick(system):
            return [r for r in runs if r["workload"] == wl and r["system"] == system
                    and all(r.get(k) == v for k, v in kw.items())]
        k, t = med(pick("kafka"), "cpu_per_gib"), med(pick("takhin"), "cpu_per_gib")
        if k is None and t is None:
            continue
        parts = kw.get("partitions", 1 if wl == "rate" else 8)
        L.append(f"| {name} | {kw.get('mode', 'read')} | {parts} | {kw.get('compression', 'none')} "
                 f"| {f1(k, 2)} | {f1(t, 2)} | {ratio(t, k)} |")
    L.append("")
    return L


def report(b, info, fio, usage):
    rows = b.rows
    p = b.p
    def compare(k, t, metrics):
        """A "metric | Kafka | Takhin | ratio" table; each metric is (key, name) or
        (key, name, digits) or (key, name, digits, with_ratio)."""
        L.append("| metric | Kafka | Takhin | ratio |")
        L.append("|---|---|---|---|")
        for key, name, *rest in metrics:
            digits = rest[0] if rest else 1
            with_ratio = rest[1] if len(rest) > 1 else True
            r = f" {ratio(med(t, key), med(k, key))} |" if with_ratio else " |"
            L.append(f"| {name} | {f1(med(k, key), digits)} | {f1(med(t, key), digits)} |{r}")

    L = []
    L.append(f"# Takhin vs Apache Kafka — {b.a.profile} run\n")
    L.append(f"- Date: {info['date']}; rounds: {p['rounds']}; wall time {info['elapsed_s']:.0f} s")
    L.append(f"- Takhin commit: `{b.a.commit}`; Apache Kafka 4.1.1 (Maven Central, bench/pom.xml)")
    L.append(f"- Machine: {info['nproc']} CPUs ({info['cpu'].strip()}), {info['mem']} RAM, "
             f"kernel {info['kernel']}, disk {info['disk']}; {info['java']}")
    L.append(f"- Load average (1/5/15 min) at start: **{info['load_start']}**, at end: "
             f"**{info['load_end']}**. Brokers and clients share the same {info['nproc']} CPUs; "
             "both brokers stay up for the whole run (the idle one costs a little CPU).")
    if b.warmed:
        dropped = (f"emptied the page cache ({b.caches_dropped} times) and "
                   if b.caches_dropped else "could not empty the page cache (not root), but ")
        L.append(f"- Warm memory: before each mode's produce workloads (and, in full runs, before the "
                 f"backlog fill), the harness {dropped}"
                 f"wrote all free memory but 1 GiB once and freed it ({len(b.warmed)} "
                 f"times, {sum(g for g, _ in b.warmed):.1f} GiB in "
                 f"{sum(t for _, t in b.warmed):.0f} s, outside every measurement). This VM's host "
                 "backs guest pages on first write and takes freed ones back after a while; "
                 "page-cache writes into such pages ran 4x slower for whichever broker met them.")
    L.append("- Each run's topic is deleted on its broker right after the run (outside the "
             "measurement), so runs do not inherit the page cache of the runs before them.")
    L.append("- Values are medians over rounds; ratio = Takhin / Kafka (throughput: higher is better "
             "for Takhin; latency, CPU, RSS: lower is better for Takhin).\n")
    L.append("## Settings\n")
    L.append(f"- Records: {RECORD_SIZE} B values (ProducerPerformance random payload), no keys; "
             "producer `acks=all`, `linger.ms=5`, other producer settings default "
             "(batch.size 16384, max.in.flight 5, idempotence on).")
    jr = p["java_records"]
    L.append(f"- Unthrottled produce: ProducerPerformance {jr['durable']:,} records per run in "
             f"durable mode and {jr['cached']:,} in cached mode (long enough that the producer "
             f"JVM's warm-up is a small part of a run), librdkafka {p['produce_records']:,}; "
             "1 and 8 partitions, `compression.type` none and lz4 (librdkafka: none).")
    L.append(f"- Fixed-rate produce: half the lower of the two systems' maxima (1 partition, "
             f"uncompressed, same mode, same round), for {p['rate_seconds']} s.")
    L.append(f"- Consume: {p['backlog_mib']} MiB backlog in 8 partitions (filled with acks=all, "
             "batch.size=262144, page-cache mode), then one ConsumerPerformance consumer in a "
             "new group (classic protocol, fetch defaults).")
    L.append(f"- End-to-end: EndToEndLatency, {p['e2e_messages']:,} messages of {RECORD_SIZE} B, "
             "acks=all, one at a time (send, wait until consumed, next).")
    L.append("- Kafka: single-node KRaft combined mode, Kafka's shipped server.properties values "
             "plus `log.segment.delete.delay.ms=0` (a deleted topic's files go between runs, not "
             "60 s later inside one), "
             "`" + " ".join(KAFKA_JVM[:2]) + "` and the G1 flags of kafka-server-start.sh "
             "(its default heap). Tools run with `" + TOOL_HEAP + "`.")
    L.append("- Takhin: `takhin serve` release build, defaults except "
             "`group.initial.rebalance.delay.ms=0` (as Kafka's shipped config) and log level warn.")
    L.append("- Durability modes, by topic config:")
    for m in MODES:
        L.append(f"  - **{m}** — {MODE_LABEL[m]}")
    L.append("")

    def sel(**kw):
        return [r for r in rows if all(r.get(k) == v for k, v in kw.items())]

    L.append("## 1. Unthrottled produce (MiB/s and records/s)\n")
    for m in MODES:
        L.append(f"Mode: **{m}** ({MODE_LABEL[m]})\n")
        L.append("| partitions | compression | Kafka MiB/s | Takhin MiB/s | ratio | Kafka rec/s | "
                 "Takhin rec/s | Kafka p99 ms | Takhin p99 ms | Kafka CPU s | Takhin CPU s |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for parts in (1, 8):
            for comp in ("none", "lz4"):
                k = sel(workload="produce", mode=m, partitions=parts, compression=comp,
                        system="kafka")
                t = sel(workload="produce", mode=m, partitions=parts, compression=comp,
                        system="takhin")
                L.append(f"| {parts} | {comp} | {f1(med(k, 'mibps'))} | {f1(med(t, 'mibps'))} | "
                         f"{ratio(med(t, 'mibps'), med(k, 'mibps'))} | {f1(med(k, 'rps'), 0)} | "
                         f"{f1(med(t, 'rps'), 0)} | {f1(med(k, 'p99'))} | {f1(med(t, 'p99'))} | "
                         f"{f1(med(k, 'broker_cpu_s'))} | {f1(med(t, 'broker_cpu_s'))} |")
        L.append("")
    if sel(workload="produce-rdkafka"):
        if b.a.rdkafka_perf:
            versions = sorted({r.get("librdkafka", "?") for r in sel(workload="produce-rdkafka")})
            client = f"librdkafka {', '.join(versions)}, C driver bench/rdkafka_perf.c"
        else:
            client = (f"confluent-kafka {confluent_kafka.version()}, "
                      f"librdkafka {confluent_kafka.libversion()[0]}")
        L.append(f"### 1b. The same with librdkafka's producer ({client})\n")
        L.append("acks=all, linger.ms=5, uncompressed, idempotence off (librdkafka's default); "
                 "latency = produce() call to delivery report.\n")
        for m in MODES:
            L.append(f"Mode: **{m}** ({MODE_LABEL[m]})\n")
            L.append("| partitions | Kafka MiB/s | Takhin MiB/s | ratio | Kafka p99 ms | "
                     "Takhin p99 ms | Kafka CPU s | Takhin CPU s |")
            L.append("|---|---|---|---|---|---|---|---|")
            for parts in (1, 8):
                k = sel(workload="produce-rdkafka", mode=m, partitions=parts, system="kafka")
                t = sel(workload="produce-rdkafka", mode=m, partitions=parts, system="takhin")
                L.append(f"| {parts} | {f1(med(k, 'mibps'))} | {f1(med(t, 'mibps'))} | "
                         f"{ratio(med(t, 'mibps'), med(k, 'mibps'))} | {f1(med(k, 'p99'))} | "
                         f"{f1(med(t, 'p99'))} | {f1(med(k, 'broker_cpu_s'))} | "
                         f"{f1(med(t, 'broker_cpu_s'))} |")
            L.append("")
    if fio:
        L.append("Disk baseline (fio, same filesystem, sequential writes, `fdatasync=1` after each "
                 "write, psync engine):\n")
        L.append("| block size | MiB/s | writes/s | fdatasync p50 µs | fdatasync p99 µs |")
        L.append("|---|---|---|---|---|")
        for r in fio:
            L.append(f"| {r['bs']} | {f1(r['mibps'])} | {f1(r['iops'], 0)} | "
                     f"{f1(r.get('fsync_p50_us'))} | {f1(r.get('fsync_p99_us'))} |")
        best = max(r["mibps"] for r in fio)
        by_bs = {r["bs"]: r["mibps"] for r in fio}
        for wl, client, bs in (("produce", "Java client, 16 KiB batches", "16k"),
                               ("produce-rdkafka", "librdkafka, up to 1 MiB batches", None)):
            t = med(sel(workload=wl, mode="durable", partitions=1, compression="none",
                        system="takhin"), "mibps")
            if t is not None:
                same = (f" and {100 * t / by_bs[bs]:.0f}% of fio's {bs} figure, the client's "
                        f"write size ({f1(by_bs[bs])} MiB/s)") if by_bs.get(bs) else ""
                L.append(f"\nTakhin durable 1-partition produce ({client}) is "
                         f"{100 * t / best:.0f}% of the best fio figure ({f1(best)} MiB/s){same}; "
                         "the target is 80% of the best.")
        L.append("")

    L.append("## 2. Produce at a fixed rate (latency, ms)\n")
    for m in MODES:
        L.append(f"Mode: **{m}** ({MODE_LABEL[m]})\n")
        compare(sel(workload="rate", mode=m, system="kafka"),
                sel(workload="rate", mode=m, system="takhin"),
                (("target_rps", "target rate (rec/s)", 0, False),
                 ("rps", "achieved rate (rec/s)", 0), ("avg_ms", "avg"), ("p50", "p50"),
                 ("p99", "p99"), ("p999", "p99.9"), ("max_ms", "max"),
                 ("broker_cpu_s", "broker CPU s")))
        L.append("")
    L.append("ProducerPerformance reports percentiles in whole milliseconds, and records every record "
             "from the first, while the producer's JVM is still compiling its hot paths.\n")

    L.append("### 2b. The same rate in steady state (latency, µs)\n")
    L.append(f"bench/SteadyLatency.java: the same producer settings and rate, "
             f"{p['warmup_seconds']} s of warm-up not recorded, then {p['rate_seconds']} s "
             "recorded per record (send() to acknowledgement) in microseconds.\n")
    for m in MODES:
        L.append(f"Mode: **{m}** ({MODE_LABEL[m]})\n")
        compare(sel(workload="steady", mode=m, system="kafka"),
                sel(workload="steady", mode=m, system="takhin"),
                (("achieved_rps", "achieved rate (rec/s)", 0), ("avg_us", "avg"),
                 ("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9"), ("max_us", "max"),
                 ("broker_cpu_s", "broker CPU s (incl. warm-up)")))
        L.append("")

    L.append("## 3. Consume a backlog (MiB/s)\n")
    L.append("Mode: n/a (read path; backlog written in page-cache mode and still in the page cache)\n")
    compare(sel(workload="consume", system="kafka"), sel(workload="consume", system="takhin"),
            (("mibps", "MiB/s incl. group join"), ("fetch_mibps", "MiB/s fetching only"),
             ("rps", "records/s incl. join"), ("rebalance_ms", "group join ms"),
             ("broker_cpu_s", "broker CPU s (consume only)")))
    L.append("")

    if sel(workload="consume-rdkafka"):
        versions = sorted({r.get("librdkafka", "?") for r in sel(workload="consume-rdkafka")})
        L.append(f"### 3b. The same backlog with librdkafka's consumer (librdkafka "
                 f"{', '.join(versions)}, C driver bench/rdkafka_perf.c)\n")
        L.append("A new group reads the same backlog from the start, librdkafka's fetch defaults.\n")
        compare(sel(workload="consume-rdkafka", system="kafka"),
                sel(workload="consume-rdkafka", system="takhin"),
                (("mibps", "MiB/s incl. group join"), ("fetch_mibps", "MiB/s from the first record"),
                 ("join_ms", "ms to the first record"), ("broker_cpu_s", "broker CPU s")))
        L.append("")

    L.append("## 4. End-to-end latency at low rate (ms)\n")
    for m in MODES:
        L.append(f"Mode: **{m}** ({MODE_LABEL[m]})\n")
        compare(sel(workload="e2e", mode=m, system="kafka"),
                sel(workload="e2e", mode=m, system="takhin"),
                (("avg_ms", "avg", 2), ("p50", "p50", 2), ("p99", "p99", 2), ("p999", "p99.9", 2)))
        L.append("")
    L.append("EndToEndLatency reports percentiles in whole milliseconds.\n")

    L.append("## 5. Footprint\n")
    L.append("| metric | Kafka | Takhin | ratio |")
    L.append("|---|---|---|---|")
    k, t = usage["kafka"], usage["takhin"]

    def mib(v):
        return None if v is None else v / 1024.0
    L.append(f"| peak RSS MiB (VmHWM) | {f1(mib(k['hwm_kib']))} | {f1(mib(t['hwm_kib']))} | "
             f"{ratio(mib(t['hwm_kib']), mib(k['hwm_kib']))} |")
    L.append(f"| CPU s, whole run (utime+stime) | {f1(k['cpu_s'])} | {f1(t['cpu_s'])} | "
             f"{ratio(t['cpu_s'], k['cpu_s'])} |")
    L.append(f"| cold start ms | {f1(k['cold_ms'], 0)} | {f1(t['cold_ms'], 0)} | "
             f"{ratio(t['cold_ms'], k['cold_ms'])} |")
    L.append("")
    L.append(f"Cold start: process spawn to the first acknowledged produce ({t['cold_how']}) on an "
             "auto-created topic, empty data dir (Kafka's dir already formatted by StorageTool, "
             "which is not counted).\n")
    cpu_rows = client_runs()
    if any(r.get("client_cpu_s") is not None for r in rows):
        n = int(info["nproc"]) if str(info["nproc"]).isdigit() else 1
        L.append("## 6. Where the CPU went (unthrottled runs)\n")
        L.append(f"Brokers and clients share the machine's {n} CPUs. Client CPU: the client process "
                 "the run started (the Java tool's JVM or the librdkafka driver, start-up "
                 f"included). Busy: broker and client CPU over {n} CPUs times the client's wall "
                 "time (its start included); broker CPU over the same interval (topic creation "
                 "not included). Where busy nears 100% "
                 "the machine, not the broker, sets the pace, and the client's share is what a "
                 "broker cannot win back.\n")
        L.append("| run | mode | partitions | system | client wall s | broker CPU s | client CPU s | "
                 "busy | client share |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for name, wl, kw in cpu_rows:
            for system in SYSTEMS:
                sr = sel(workload=wl, system=system, **kw)
                wall, brk, cli = (med(sr, key) for key in ("client_wall_s", "broker_cpu_during_client_s",
                                                           "client_cpu_s"))
                if None in (wall, brk, cli) or wall <= 0:
                    continue
                busy = f"{100 * (brk + cli) / (n * wall):.0f}%"
                share = f"{100 * cli / (brk + cli):.0f}%" if brk + cli > 0 else "—"
                L.append(f"| {name} | {kw.get('mode', 'read')} | {kw.get('partitions', 8)} | "
                         f"{system} | {f1(wall)} | {f1(brk)} | {f1(cli)} | {busy} | {share} |")
        L.append("")
        L.extend(client_threads_section(rows, n))
    L.extend(cpu_per_gib_section(rows))
    errs = [r for r in rows if r.get("error")]
    if errs or b.notes:
        L.append("## Failures and notes\n")
        for n in b.notes:
            L.append(f"- {n}")
        L.append("")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", choices=PROFILES, default="quick")
    ap.add_argument("--classpath-file", required=True)
    ap.add_argument("--takhin", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--commit", default="unknown")
    ap.add_argument("--rdkafka-perf", default="",
                    help="the built C driver (bench/rdkafka_perf.c); else confluent-kafka")
    a = ap.parse_args()
    with open(a.classpath_file) as f:
        a.classpath = f.read().strip()
    b = Bench(a)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    b.main()


if __name__ == "__main__":
    main()
