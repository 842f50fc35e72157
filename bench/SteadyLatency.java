// Produce latency at a fixed rate, in steady state: a warm-up phase that is not recorded
// (the producer's JIT compilation, first metadata and connection), then a measured phase
// with per-record latency from send() to the acknowledgement callback, in microseconds.
//
// ProducerPerformance (kafka-tools) records every record from the first and reports whole
// milliseconds, so its p99 at a moderate rate mostly measures the client JVM warming up;
// bench.py reports both.
//
// A single-file program (JEP 330): java -cp <kafka classpath> bench/SteadyLatency.java \
//   <bootstrap> <topic> <records/s> <warm-up s> <measured s> <record bytes> [key=value ...]
// Extra key=value pairs are producer settings. Prints one JSON object on stdout.

import java.util.Arrays;
import java.util.Properties;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class SteadyLatency {
    public static void main(String[] args) throws Exception {
        if (args.length < 6) {
            System.err.println("USAGE: SteadyLatency <bootstrap> <topic> <records/s> <warm-up s> "
                    + "<measured s> <record bytes> [producer key=value ...]");
            System.exit(2);
        }
        String bootstrap = args[0];
        String topic = args[1];
        long rate = Long.parseLong(args[2]);
        long warmupNanos = Long.parseLong(args[3]) * 1_000_000_000L;
        long measuredSeconds = Long.parseLong(args[4]);
        int recordBytes = Integer.parseInt(args[5]);

        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        for (int i = 6; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq <= 0) {
                System.err.println("not key=value: " + args[i]);
                System.exit(2);
            }
            props.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }

        // A few distinct random payloads, made before the clock starts.
        SplittableRandom random = new SplittableRandom(42);
        byte[][] payloads = new byte[64][recordBytes];
        for (byte[] payload : payloads) {
            for (int i = 0; i < payload.length; i++) {
                payload[i] = (byte) ('A' + random.nextInt(26));
            }
        }

        int capacity = Math.toIntExact(rate * measuredSeconds);
        long[] latencies = new long[capacity];
        AtomicLong recorded = new AtomicLong();
        AtomicLong failed = new AtomicLong();
        long warmupSent = 0;
        long sent = 0;

        try (KafkaProducer<byte[], byte[]> producer =
                new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer())) {
            long start = System.nanoTime();
            long measureFrom = start + warmupNanos;
            long total = rate * (warmupNanos / 1_000_000_000L) + capacity;
            for (long i = 0; i < total; i++) {
                long due = start + (i * 1_000_000_000L) / rate;
                long now = System.nanoTime();
                if (due > now) {
                    LockSupport.parkNanos(due - now);
                }
                long sentAt = System.nanoTime();
                boolean measured = sentAt >= measureFrom && sent < capacity;
                if (measured) {
                    sent++;
                } else {
                    warmupSent++;
                }
                byte[] value = payloads[(int) (i & 63)];
                producer.send(new ProducerRecord<>(topic, value), (metadata, error) -> {
                    if (error != null) {
                        failed.incrementAndGet();
                    } else if (measured) {
                        long slot = recorded.getAndIncrement();
                        if (slot < latencies.length) {
                            latencies[(int) slot] = (System.nanoTime() - sentAt) / 1_000L;
                        }
                    }
                });
            }
            producer.flush();
            long end = System.nanoTime();
            int n = (int) Math.min(recorded.get(), latencies.length);
            long[] done = Arrays.copyOf(latencies, n);
            Arrays.sort(done);
            double seconds = (end - measureFrom) / 1e9;
            long sum = 0;
            for (long l : done) {
                sum += l;
            }
            System.out.printf(
                    "{\"warmup_records\": %d, \"records\": %d, \"failed\": %d, \"achieved_rps\": %.1f, "
                            + "\"avg_us\": %.1f, \"p50_us\": %d, \"p99_us\": %d, \"p999_us\": %d, "
                            + "\"max_us\": %d}%n",
                    warmupSent, n, failed.get(), n / Math.max(seconds, 1e-9),
                    n == 0 ? 0.0 : (double) sum / n, pct(done, 0.50), pct(done, 0.99),
                    pct(done, 0.999), n == 0 ? 0 : done[n - 1]);
        }
    }

    private static long pct(long[] sorted, double q) {
        if (sorted.length == 0) {
            return 0;
        }
        int index = (int) Math.ceil(q * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, index))];
    }
}
