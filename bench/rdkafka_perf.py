#!/usr/bin/env python3
"""librdkafka's view of produce throughput (confluent-kafka), for bench/bench.py.

rdkafka_perf.py BOOTSTRAP TOPIC RECORDS SIZE COMPRESSION DEADLINE_S
Produces RECORDS values of SIZE random bytes, acks=all, linger.ms=5, as fast as the
client's queue allows, and prints one JSON line: records/s, MiB/s and delivery latency
percentiles (produce() call to delivery report, librdkafka's msg.latency()).
"""
import json
import os
import sys
import time

from confluent_kafka import Producer


def main():
    bootstrap, topic, n, size, comp, deadline_s = sys.argv[1:7]
    n, size, deadline = int(n), int(size), time.monotonic() + float(deadline_s)
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                  "compression.type": comp, "queue.buffering.max.messages": 200000,
                  "queue.buffering.max.kbytes": 262144, "message.timeout.ms": 120000})
    payload = os.urandom(size)
    lat, errors = [], []

    def cb(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            lat.append(msg.latency())

    t0 = time.perf_counter()
    for i in range(n):
        while True:
            try:
                p.produce(topic, payload, on_delivery=cb)
                break
            except BufferError:
                p.poll(0.005)
                if time.monotonic() > deadline:
                    sys.exit("deadline while producing")
        if i % 1000 == 0:
            p.poll(0)
    left = p.flush(max(0.0, deadline - time.monotonic()))
    elapsed = time.perf_counter() - t0
    if left or errors:
        sys.exit(f"{left} undelivered, {len(errors)} errors: {errors[:3]}")
    lat.sort()

    def pct(q):
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000.0

    print(json.dumps(dict(records=n, rps=n / elapsed, mibps=n * size / elapsed / 1048576.0,
                          p50=pct(0.50), p99=pct(0.99), p999=pct(0.999), max_ms=lat[-1] * 1000.0)))


if __name__ == "__main__":
    main()
