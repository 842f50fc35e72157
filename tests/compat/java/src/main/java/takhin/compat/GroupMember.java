package takhin.compat;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * One long-running group member, for the consumer-group suites (tests/compat/groups).
 *
 * <pre>
 *   java -jar compat.jar group-member BOOTSTRAP TOPIC GROUP [key=value ...]
 * </pre>
 *
 * Subscribes to TOPIC in GROUP with the given extra consumer properties (e.g.
 * group.protocol=consumer, partition.assignment.strategy=..., group.instance.id=...),
 * then loops: poll, print the records, commitSync(). Prints one JSON object per line
 * on stdout (flushed), so a member killed with SIGKILL leaves a usable transcript:
 *
 * <pre>
 *   {"ev":"started"}
 *   {"ev":"assigned"|"revoked"|"lost","t":MS,"parts":[..]}   (rebalance listener callbacks)
 *   {"ev":"recs","t":MS,"recs":[[partition,offset,"value"],...]}   (printed before the commit)
 *   {"ev":"committed","t":MS,"offsets":{"p":offset}}
 *   {"ev":"commitFailed","t":MS,"error":"..."}
 *   {"ev":"closed","t":MS}
 * </pre>
 *
 * A line "stop" on stdin (or stdin EOF) ends the loop; the consumer is then closed
 * cleanly (LeaveGroup for dynamic members) and the process exits 0.
 */
final class GroupMember {
  private GroupMember() {}

  static int run(PrintStream out, String[] args) throws Exception {
    if (args.length < 3) {
      System.err.println("usage: compat.jar group-member BOOTSTRAP TOPIC GROUP [key=value ...]");
      return 2;
    }
    String bootstrap = args[0];
    String topic = args[1];
    String group = args[2];
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    for (int i = 3; i < args.length; i++) {
      int eq = args[i].indexOf('=');
      if (eq <= 0) throw new IllegalArgumentException("expected key=value, got " + args[i]);
      p.put(args[i].substring(0, eq), args[i].substring(eq + 1));
    }

    AtomicBoolean stop = new AtomicBoolean(false);
    Thread stdin = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          if (line.trim().equals("stop")) break;
        }
      } catch (Exception ignored) {
        // EOF or error: stop
      }
      stop.set(true);
    }, "stdin-watch");
    stdin.setDaemon(true);
    stdin.start();

    Emitter em = new Emitter(out);
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
      consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> parts) {
          em.parts("revoked", parts);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> parts) {
          em.parts("assigned", parts);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> parts) {
          em.parts("lost", parts);
        }
      });
      em.simple("started");
      while (!stop.get()) {
        ConsumerRecords<byte[], byte[]> recs = consumer.poll(Duration.ofMillis(200));
        if (recs.isEmpty()) continue;
        JsonArray arr = new JsonArray();
        for (ConsumerRecord<byte[], byte[]> cr : recs) {
          JsonArray r = new JsonArray();
          r.add(cr.partition());
          r.add(cr.offset());
          r.add(cr.value() == null ? null : new String(cr.value(), StandardCharsets.UTF_8));
          arr.add(r);
        }
        JsonObject o = em.obj("recs");
        o.add("recs", arr);
        em.emit(o);
        // Commit exactly what was processed: last offset + 1 per partition.
        Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
        JsonObject offs = new JsonObject();
        for (TopicPartition tp : recs.partitions()) {
          List<ConsumerRecord<byte[], byte[]>> l = recs.records(tp);
          long next = l.get(l.size() - 1).offset() + 1;
          commit.put(tp, new OffsetAndMetadata(next));
          offs.addProperty(Integer.toString(tp.partition()), next);
        }
        try {
          consumer.commitSync(commit, Duration.ofSeconds(30));
          JsonObject c = em.obj("committed");
          c.add("offsets", offs);
          em.emit(c);
        } catch (Exception e) {
          JsonObject c = em.obj("commitFailed");
          c.addProperty("error", e.getClass().getSimpleName() + ": " + e.getMessage());
          em.emit(c);
        }
      }
    }
    em.simple("closed");
    return 0;
  }

  static final class Emitter {
    private final PrintStream out;

    Emitter(PrintStream out) {
      this.out = out;
    }

    JsonObject obj(String ev) {
      JsonObject o = new JsonObject();
      o.addProperty("ev", ev);
      o.addProperty("t", System.currentTimeMillis());
      return o;
    }

    void simple(String ev) {
      emit(obj(ev));
    }

    void parts(String ev, Collection<TopicPartition> parts) {
      JsonObject o = obj(ev);
      JsonArray a = new JsonArray();
      parts.stream().map(TopicPartition::partition).sorted().forEach(a::add);
      o.add("parts", a);
      emit(o);
    }

    synchronized void emit(JsonObject o) {
      out.println(o.toString());
      out.flush();
    }
  }
}
