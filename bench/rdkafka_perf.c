/*
 * librdkafka's view of produce throughput, for bench/bench.py: a C producer, so the client
 * costs little of the two cores it shares with the broker (the Python driver,
 * rdkafka_perf.py, spends microseconds of interpreter per record and tops out near
 * 500 MB/s whatever the broker).
 *
 *   rdkafka_perf BOOTSTRAP TOPIC RECORDS SIZE COMPRESSION DEADLINE_S
 *
 * Produces RECORDS values of SIZE random bytes, acks=all, linger.ms=5, as fast as the
 * client's queue allows, and prints one JSON line: records/s, MiB/s and delivery latency
 * percentiles in ms (produce() call to delivery report, rd_kafka_message_latency()).
 * Exit status 1 with a message on stderr when a record is not delivered.
 *
 *   rdkafka_perf consume BOOTSTRAP TOPIC RECORDS DEADLINE_S
 *
 * Consumes RECORDS records from the start of TOPIC in a new consumer group (librdkafka's
 * fetch defaults) and prints one JSON line: MiB and records consumed, MiB/s including the
 * group join and MiB/s from the first record on.
 *
 * Build: cc -O2 -o rdkafka_perf rdkafka_perf.c -lrdkafka   (Debian: librdkafka-dev)
 */
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t *latencies_us;
static long delivered;
static long failed;
static char first_error[256];

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    (void)rk;
    (void)opaque;
    if (msg->err) {
        if (failed++ == 0) {
            snprintf(first_error, sizeof first_error, "%s", rd_kafka_err2str(msg->err));
        }
        return;
    }
    latencies_us[delivered++] = rd_kafka_message_latency(msg);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct_ms(double q) {
    long i = (long)(q * (double)delivered);
    if (i >= delivered) i = delivered - 1;
    return (double)latencies_us[i] / 1000.0;
}

static void set(rd_kafka_conf_t *conf, const char *key, const char *value) {
    char err[512];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s=%s: %s\n", key, value, err);
        exit(2);
    }
}

static int consume(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "USAGE: rdkafka_perf consume BOOTSTRAP TOPIC RECORDS DEADLINE_S\n");
        return 2;
    }
    const char *bootstrap = argv[2], *topic = argv[3];
    long records = atol(argv[4]);
    double deadline = now_s() + atof(argv[5]);
    char group[64];
    snprintf(group, sizeof group, "rdkafka-perf-%ld", (long)time(NULL));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", bootstrap);
    set(conf, "group.id", group);
    set(conf, "auto.offset.reset", "earliest");
    set(conf, "enable.auto.commit", "false");
    char err[512];
    double t0 = now_s();
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        fprintf(stderr, "subscribe: %s\n", rd_kafka_err2str(e));
        return 1;
    }
    long got = 0;
    double bytes = 0, first = 0;
    while (got < records) {
        if (now_s() > deadline) {
            fprintf(stderr, "deadline after %ld of %ld records\n", got, records);
            return 1;
        }
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
        if (!msg) continue;
        if (msg->err) {
            if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                fprintf(stderr, "consume: %s\n", rd_kafka_message_errstr(msg));
                rd_kafka_message_destroy(msg);
                return 1;
            }
        } else {
            if (got++ == 0) first = now_s();
            bytes += (double)msg->len;
        }
        rd_kafka_message_destroy(msg);
    }
    double end = now_s();
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    double mib = bytes / 1048576.0;
    printf("{\"msgs\": %ld, \"mib\": %.1f, \"mibps\": %.1f, \"fetch_mibps\": %.1f, "
           "\"rps\": %.1f, \"join_ms\": %.0f, \"librdkafka\": \"%s\"}\n",
           got, mib, mib / (end - t0), mib / (end - first), (double)got / (end - t0),
           (first - t0) * 1000.0, rd_kafka_version_str());
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "consume") == 0) return consume(argc, argv);
    if (argc != 7) {
        fprintf(stderr, "USAGE: rdkafka_perf BOOTSTRAP TOPIC RECORDS SIZE COMPRESSION DEADLINE_S\n");
        return 2;
    }
    const char *bootstrap = argv[1], *topic = argv[2], *compression = argv[5];
    long records = atol(argv[3]);
    size_t size = (size_t)atol(argv[4]);
    double deadline = now_s() + atof(argv[6]);
    if (records <= 0 || size == 0) {
        fprintf(stderr, "RECORDS and SIZE must be positive\n");
        return 2;
    }
    latencies_us = calloc((size_t)records, sizeof *latencies_us);
    char *payload = malloc(size);
    if (!latencies_us || !payload) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    srand(42);
    for (size_t i = 0; i < size; i++) payload[i] = (char)('A' + rand() % 26);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", bootstrap);
    set(conf, "acks", "all");
    set(conf, "linger.ms", "5");
    set(conf, "compression.type", compression);
    set(conf, "queue.buffering.max.messages", "200000");
    set(conf, "queue.buffering.max.kbytes", "262144");
    set(conf, "message.timeout.ms", "120000");
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        return 1;
    }

    double t0 = now_s();
    for (long i = 0; i < records; i++) {
        for (;;) {
            /* No copy: the payload outlives the producer. */
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(payload, size),
                RD_KAFKA_V_MSGFLAGS(0), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e));
                return 1;
            }
            rd_kafka_poll(rk, 5);
            if (now_s() > deadline) {
                fprintf(stderr, "deadline while producing\n");
                return 1;
            }
        }
        if (i % 1000 == 0) rd_kafka_poll(rk, 0);
    }
    while (rd_kafka_outq_len(rk) > 0 && now_s() < deadline) rd_kafka_flush(rk, 100);
    double elapsed = now_s() - t0;
    long left = rd_kafka_outq_len(rk);
    rd_kafka_destroy(rk);
    if (left > 0 || failed > 0 || delivered == 0) {
        fprintf(stderr, "%ld undelivered, %ld errors: %s\n", left, failed, first_error);
        return 1;
    }
    qsort(latencies_us, (size_t)delivered, sizeof *latencies_us, cmp_i64);
    printf("{\"records\": %ld, \"rps\": %.1f, \"mibps\": %.2f, \"p50\": %.3f, \"p99\": %.3f, "
           "\"p999\": %.3f, \"max_ms\": %.3f, \"librdkafka\": \"%s\"}\n",
           records, (double)records / elapsed, (double)records * (double)size / elapsed / 1048576.0,
           pct_ms(0.50), pct_ms(0.99), pct_ms(0.999), (double)latencies_us[delivered - 1] / 1000.0,
           rd_kafka_version_str());
    return 0;
}
