package takhin.compat;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Committed-offset helpers for the consumer-group suites (tests/compat/groups).
 *
 * <pre>
 *   group-commit BOOTSTRAP TOPIC GROUP NPARTS P:OFFSET:META ...  [-- key=value ...]
 *       subscribe (one member gets every partition), commitSync the given offsets with
 *       their metadata strings, read them back with committed(), close (LeaveGroup).
 *       -> {"committed":{"P":[offset, "meta"]}}
 *   group-resume BOOTSTRAP TOPIC GROUP NPARTS [key=value ...]
 *       committed() first (OffsetFetch), then subscribe with auto.offset.reset=none and
 *       poll until a record from every partition has been seen (30 s bound).
 *       -> {"committed":{"P":[offset, "meta"]|null}, "first":{"P":offset}, "error":null|"..."}
 * </pre>
 */
final class GroupTools {
  private GroupTools() {}

  static Properties props(String bootstrap, String group, List<String> extra) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    for (String kv : extra) {
      int eq = kv.indexOf('=');
      if (eq <= 0) throw new IllegalArgumentException("expected key=value, got " + kv);
      p.put(kv.substring(0, eq), kv.substring(eq + 1));
    }
    return p;
  }

  static JsonObject committedJson(Map<TopicPartition, OffsetAndMetadata> c, List<TopicPartition> tps) {
    JsonObject o = new JsonObject();
    for (TopicPartition tp : tps) {
      OffsetAndMetadata om = c.get(tp);
      if (om == null) {
        o.add(Integer.toString(tp.partition()), null);
      } else {
        JsonArray a = new JsonArray();
        a.add(om.offset());
        a.add(om.metadata());
        o.add(Integer.toString(tp.partition()), a);
      }
    }
    return o;
  }

  static List<TopicPartition> tps(String topic, int n) {
    List<TopicPartition> l = new ArrayList<>();
    for (int i = 0; i < n; i++) l.add(new TopicPartition(topic, i));
    return l;
  }

  /** Poll until the consumer owns all of `want` (bounded). */
  static void awaitAssignment(KafkaConsumer<?, ?> c, Collection<TopicPartition> want, long timeoutMs) {
    long end = System.currentTimeMillis() + timeoutMs;
    while (!c.assignment().containsAll(want)) {
      if (System.currentTimeMillis() > end) {
        throw new IllegalStateException("no assignment of " + want + " after " + timeoutMs + " ms; have " + c.assignment());
      }
      c.poll(Duration.ofMillis(100));
    }
  }

  static JsonObject commit(String[] a) {
    String bootstrap = a[0], topic = a[1], group = a[2];
    int n = Integer.parseInt(a[3]);
    Map<TopicPartition, OffsetAndMetadata> want = new HashMap<>();
    List<String> extra = new ArrayList<>();
    boolean inExtra = false;
    for (int i = 4; i < a.length; i++) {
      if (a[i].equals("--")) {
        inExtra = true;
      } else if (inExtra) {
        extra.add(a[i]);
      } else {
        String[] f = a[i].split(":", 3);
        want.put(new TopicPartition(topic, Integer.parseInt(f[0])),
            new OffsetAndMetadata(Long.parseLong(f[1]), f.length > 2 ? f[2] : ""));
      }
    }
    List<TopicPartition> tps = tps(topic, n);
    JsonObject res = new JsonObject();
    try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(props(bootstrap, group, extra))) {
      c.subscribe(List.of(topic));
      awaitAssignment(c, tps, 30000);
      // The assignment's own OffsetFetch (positions) may still be in flight, sent before the
      // commit: committed() would reuse its answer (the client keeps one pending OffsetFetch per
      // partition set), which predates the commit. Settle the positions first.
      for (TopicPartition tp : tps) c.position(tp, Duration.ofSeconds(30));
      c.commitSync(want, Duration.ofSeconds(30));
      res.add("committed", committedJson(c.committed(new HashSet<>(tps), Duration.ofSeconds(30)), tps));
    }
    return res;
  }

  static JsonObject resume(String[] a) {
    String bootstrap = a[0], topic = a[1], group = a[2];
    int n = Integer.parseInt(a[3]);
    List<String> extra = new ArrayList<>(List.of(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG + "=none"));
    extra.addAll(Arrays.asList(a).subList(4, a.length));
    List<TopicPartition> tps = tps(topic, n);
    JsonObject res = new JsonObject();
    JsonObject first = new JsonObject();
    res.add("first", first);
    res.add("error", null);
    try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(props(bootstrap, group, extra))) {
      res.add("committed", committedJson(c.committed(new HashSet<>(tps), Duration.ofSeconds(30)), tps));
      c.subscribe(List.of(topic));
      long end = System.currentTimeMillis() + 30000;
      try {
        while (first.size() < n && System.currentTimeMillis() < end) {
          for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
            String k = Integer.toString(r.partition());
            if (!first.has(k)) first.addProperty(k, r.offset());
          }
        }
      } catch (Exception e) {
        res.addProperty("error", e.getClass().getSimpleName() + ": " + e.getMessage());
      }
    }
    return res;
  }
}
