package takhin.compat;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Kafka Java client (kafka-clients 4.1) compatibility driver.
 *
 * <pre>
 *   java -jar compat.jar roundtrip BOOTSTRAP SPEC.json   # create topic, produce spec, consume back
 *   java -jar compat.jar admin BOOTSTRAP TOPIC           # AdminClient checks
 * </pre>
 *
 * Prints one JSON document on stdout. Exit 0 on success, 1 when a check failed
 * (the JSON still says which), 2 on usage errors or unexpected exceptions
 * (message on stderr).
 */
public final class Main {
  private static final Gson GSON = new GsonBuilder().serializeNulls().disableHtmlEscaping().create();
  private static final Base64.Encoder B64E = Base64.getEncoder();
  private static final Base64.Decoder B64D = Base64.getDecoder();

  public static void main(String[] args) {
    // Keep stdout clean for the JSON result.
    PrintStream out = System.out;
    System.setOut(System.err);
    if (args.length < 1) {
      usage();
    }
    try {
      JsonObject result;
      switch (args[0]) {
        case "roundtrip":
          if (args.length != 3) usage();
          result = roundtrip(args[1], Path.of(args[2]));
          break;
        case "admin":
          if (args.length != 3) usage();
          result = new AdminChecks(args[1], args[2]).run();
          break;
        case "group-member":
          System.exit(GroupMember.run(out, Arrays.copyOfRange(args, 1, args.length)));
          return;
        case "group-commit":
          if (args.length < 5) usage();
          result = GroupTools.commit(Arrays.copyOfRange(args, 1, args.length));
          break;
        case "group-resume":
          if (args.length < 5) usage();
          result = GroupTools.resume(Arrays.copyOfRange(args, 1, args.length));
          break;
        case "group-admin":
          if (args.length != 3) usage();
          result = new GroupChecks(args[1], args[2]).admin();
          break;
        case "group-errors":
          if (args.length != 3) usage();
          result = new GroupChecks(args[1], args[2]).errors();
          break;
        default:
          usage();
          return;
      }
      out.println(GSON.toJson(result));
      out.flush();
      boolean ok = !result.has("ok") || result.get("ok").getAsBoolean();
      System.exit(ok ? 0 : 1);
    } catch (Throwable t) {
      System.err.println("compat.jar " + args[0] + " failed: " + t);
      Throwable c = t.getCause();
      while (c != null) {
        System.err.println("  caused by: " + c);
        c = c.getCause();
      }
      t.printStackTrace(System.err);
      System.exit(2);
    }
  }

  private static void usage() {
    System.err.println("usage: compat.jar roundtrip BOOTSTRAP SPEC.json | admin BOOTSTRAP TOPIC"
        + " | group-member|group-commit|group-resume|group-admin|group-errors ... (see Group*.java)");
    System.exit(2);
  }

  static byte[] unb64(JsonElement e) {
    return e == null || e.isJsonNull() ? null : B64D.decode(e.getAsString());
  }

  static JsonElement b64(byte[] b) {
    return b == null ? JsonNull.INSTANCE : new com.google.gson.JsonPrimitive(B64E.encodeToString(b));
  }

  static Properties adminProps(String bootstrap) {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 20000);
    p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
    return p;
  }

  static KafkaProducer<byte[], byte[]> producer(String bootstrap, String codec) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
    p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
    p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 4 * 1024 * 1024);
    p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 60000);
    p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 30000);
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    return new KafkaProducer<>(p);
  }

  static KafkaConsumer<byte[], byte[]> consumer(String bootstrap) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 2 * 1024 * 1024);
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    return new KafkaConsumer<>(p);
  }

  /** Create the spec's topic, produce every record, consume everything back. */
  static JsonObject roundtrip(String bootstrap, Path specPath) throws Exception {
    JsonObject spec = JsonParser.parseString(Files.readString(specPath)).getAsJsonObject();
    String topic = spec.get("topic").getAsString();
    String codec = spec.get("codec").getAsString();
    int partitions = spec.get("partitions").getAsInt();
    JsonArray recs = spec.getAsJsonArray("records");

    try (Admin admin = Admin.create(adminProps(bootstrap))) {
      admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get(30, TimeUnit.SECONDS);
    }

    Map<Integer, Integer> counts = new TreeMap<>();
    for (int p = 0; p < partitions; p++) counts.put(p, 0);
    try (KafkaProducer<byte[], byte[]> producer = producer(bootstrap, codec)) {
      List<Future<RecordMetadata>> futs = new ArrayList<>();
      List<Integer> wantPart = new ArrayList<>();
      for (JsonElement el : recs) {
        JsonObject r = el.getAsJsonObject();
        int part = r.get("partition").getAsInt();
        List<Header> headers = new ArrayList<>();
        for (JsonElement h : r.getAsJsonArray("headers")) {
          JsonArray ha = h.getAsJsonArray();
          headers.add(new RecordHeader(ha.get(0).getAsString(), unb64(ha.get(1))));
        }
        ProducerRecord<byte[], byte[]> pr = new ProducerRecord<>(topic, part, r.get("timestamp").getAsLong(),
            unb64(r.get("key")), unb64(r.get("value")), headers);
        futs.add(producer.send(pr));
        wantPart.add(part);
        counts.merge(part, 1, Integer::sum);
      }
      producer.flush();
      for (int i = 0; i < futs.size(); i++) {
        RecordMetadata md = futs.get(i).get(60, TimeUnit.SECONDS);
        if (md.partition() != wantPart.get(i)) {
          throw new IllegalStateException("record " + i + " acked on partition " + md.partition());
        }
      }
    }

    JsonArray outRecs = new JsonArray();
    JsonObject endOffsets = new JsonObject();
    try (KafkaConsumer<byte[], byte[]> consumer = consumer(bootstrap)) {
      List<TopicPartition> tps = new ArrayList<>();
      for (int p = 0; p < partitions; p++) tps.add(new TopicPartition(topic, p));
      consumer.assign(tps);
      consumer.seekToBeginning(tps);
      Map<Integer, Integer> got = new HashMap<>();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (System.nanoTime() < deadline) {
        boolean done = true;
        for (int p = 0; p < partitions; p++) {
          if (got.getOrDefault(p, 0) < counts.get(p)) done = false;
        }
        if (done) break;
        ConsumerRecords<byte[], byte[]> polled = consumer.poll(Duration.ofMillis(1000));
        for (ConsumerRecord<byte[], byte[]> cr : polled) {
          JsonObject o = new JsonObject();
          o.addProperty("partition", cr.partition());
          o.addProperty("offset", cr.offset());
          o.add("key", b64(cr.key()));
          o.add("value", b64(cr.value()));
          JsonArray hs = new JsonArray();
          for (Header h : cr.headers()) {
            JsonArray ha = new JsonArray();
            ha.add(h.key());
            ha.add(b64(h.value()));
            hs.add(ha);
          }
          o.add("headers", hs);
          o.addProperty("timestamp", cr.timestamp());
          o.addProperty("timestampType", cr.timestampType().name);
          outRecs.add(o);
          got.merge(cr.partition(), 1, Integer::sum);
        }
      }
      Map<TopicPartition, Long> ends = consumer.endOffsets(tps, Duration.ofSeconds(20));
      Map<TopicPartition, Long> begins = consumer.beginningOffsets(tps, Duration.ofSeconds(20));
      for (TopicPartition tp : tps) {
        JsonArray be = new JsonArray();
        be.add(begins.get(tp));
        be.add(ends.get(tp));
        endOffsets.add(Integer.toString(tp.partition()), be);
      }
    }
    JsonObject result = new JsonObject();
    result.add("records", outRecs);
    result.add("offsets", endOffsets);
    return result;
  }
}
