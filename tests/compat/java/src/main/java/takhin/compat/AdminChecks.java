package takhin.compat;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * AdminClient checks against one fresh topic. Every check is recorded as
 * {name, ok, expected, actual}; a failed check does not stop the run unless
 * later steps depend on it (then an exception ends the run).
 */
final class AdminChecks {
  private final String bootstrap;
  private final String topic;
  private final JsonArray checks = new JsonArray();
  private boolean allOk = true;

  AdminChecks(String bootstrap, String topic) {
    this.bootstrap = bootstrap;
    this.topic = topic;
  }

  private boolean check(String name, Object expected, Object actual) {
    boolean ok = Objects.equals(expected, actual);
    JsonObject o = new JsonObject();
    o.addProperty("name", name);
    o.addProperty("ok", ok);
    o.addProperty("expected", String.valueOf(expected));
    o.addProperty("actual", String.valueOf(actual));
    checks.add(o);
    allOk &= ok;
    return ok;
  }

  interface Step {
    void run() throws Exception;
  }

  /** Run one section; an exception is recorded as a failed check and the run goes on. */
  private void step(String name, Step body) {
    try {
      body.run();
    } catch (Throwable t) {
      Throwable c = (t instanceof ExecutionException && t.getCause() != null) ? t.getCause() : t;
      check(name + ".noException", "no exception", c.getClass().getSimpleName() + ": " + c.getMessage());
    }
  }

  private Admin admin;
  private int nodeId = -1;
  private Uuid createdId;
  private long base;
  private TopicPartition p0;
  private TopicPartition p3;
  private String vo;

  private static <T> T get(org.apache.kafka.common.KafkaFuture<T> f) throws Exception {
    return f.get(30, TimeUnit.SECONDS);
  }

  private static String exceptionName(Throwable t) {
    if (t instanceof ExecutionException && t.getCause() != null) t = t.getCause();
    return t.getClass().getSimpleName();
  }

  private Map<String, ConfigEntry> topicConfig(Admin admin) throws Exception {
    ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
    Config cfg = get(admin.describeConfigs(List.of(res)).all()).get(res);
    Map<String, ConfigEntry> m = new HashMap<>();
    for (ConfigEntry e : cfg.entries()) m.put(e.name(), e);
    return m;
  }

  private TopicDescription describe(Admin admin) throws Exception {
    return get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic);
  }

  JsonObject run() throws Exception {
    base = (System.currentTimeMillis() - 3_600_000L) / 1000 * 1000;
    p0 = new TopicPartition(topic, 0);
    p3 = new TopicPartition(topic, 3);
    vo = topic + "-validate-only";
    admin = Admin.create(Main.adminProps(bootstrap));
    try {
      // ---- describeCluster
      step("describeCluster", () -> {
        DescribeClusterResult dc = admin.describeCluster();
        Collection<Node> nodes = get(dc.nodes());
        String clusterId = get(dc.clusterId());
        Node controller = get(dc.controller());
        check("describeCluster.nodes.size", 1, nodes.size());
        nodeId = nodes.iterator().next().id();
        check("describeCluster.clusterId.nonEmpty", true, clusterId != null && !clusterId.isEmpty());
        check("describeCluster.controller.isTheNode", nodeId, controller == null ? null : controller.id());
      });
      if (nodeId < 0) {
        // Nothing else can work without a cluster view; don't wait out every timeout.
        JsonObject result = new JsonObject();
        result.addProperty("ok", false);
        result.add("checks", checks);
        return result;
      }
      // ---- createTopics with configs
      step("createTopics", () -> {
        Map<String, String> configs = new HashMap<>();
        configs.put("retention.ms", "86400000");
        configs.put("segment.bytes", "1048576");
        CreateTopicsResult ctr = admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1).configs(configs)));
        get(ctr.all());
        check("createTopics.numPartitions", 3, get(ctr.numPartitions(topic)));
        check("createTopics.replicationFactor", 1, get(ctr.replicationFactor(topic)));
        createdId = get(ctr.topicId(topic));
        check("createTopics.topicId.nonZero", true, createdId != null && !Uuid.ZERO_UUID.equals(createdId));
        Config created = get(ctr.config(topic));
        check("createTopics.config.retention.ms", "86400000",
            created.get("retention.ms") == null ? null : created.get("retention.ms").value());

        // creating it again fails with TopicExistsException
        try {
          get(admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1))).all());
          check("createTopics.again", "TopicExistsException", "success");
        } catch (ExecutionException e) {
          check("createTopics.again", "TopicExistsException", exceptionName(e));
        }
        // validateOnly for a new name succeeds and creates nothing
        get(admin.createTopics(List.of(new NewTopic(vo, 2, (short) 1)), new CreateTopicsOptions().validateOnly(true)).all());
      });
      // ---- listTopics
      step("listTopics", () -> {
        Set<String> names = get(admin.listTopics().names());
        check("listTopics.containsTopic", true, names.contains(topic));
        check("listTopics.validateOnlyTopicAbsent", false, names.contains(vo));
      });
      // ---- describeTopics
      step("describeTopics", () -> {
        TopicDescription td = describe(admin);
        check("describeTopics.partitions", 3, td.partitions().size());
        check("describeTopics.internal", false, td.isInternal());
        check("describeTopics.topicId", createdId, td.topicId());
        for (TopicPartitionInfo pi : td.partitions()) {
          String pfx = "describeTopics.p" + pi.partition();
          check(pfx + ".leader", nodeId, pi.leader() == null ? null : pi.leader().id());
          check(pfx + ".replicas", List.of(nodeId), pi.replicas().stream().map(Node::id).toList());
          check(pfx + ".isr", List.of(nodeId), pi.isr().stream().map(Node::id).toList());
        }
        List<Integer> pids = td.partitions().stream().map(TopicPartitionInfo::partition).sorted().toList();
        check("describeTopics.partitionIds", List.of(0, 1, 2), pids);
      });
      // ---- describeConfigs: overrides visible
      step("describeConfigs", () -> {
        Map<String, ConfigEntry> cfg = topicConfig(admin);
        ConfigEntry ret = cfg.get("retention.ms");
        check("describeConfigs.retention.ms.value", "86400000", ret == null ? null : ret.value());
        check("describeConfigs.retention.ms.source", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG,
            ret == null ? null : ret.source());
        check("describeConfigs.retention.ms.isDefault", false, ret == null ? null : ret.isDefault());
        ConfigEntry seg = cfg.get("segment.bytes");
        check("describeConfigs.segment.bytes.value", "1048576", seg == null ? null : seg.value());
        ConfigEntry cp = cfg.get("cleanup.policy");
        check("describeConfigs.cleanup.policy.value", "delete", cp == null ? null : cp.value());
        check("describeConfigs.cleanup.policy.notTopicOverride", true,
            cp != null && cp.source() != ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
      });
      // ---- incrementalAlterConfigs: SET retention.ms, DELETE segment.bytes, SET cleanup.policy
      step("incrementalAlterConfigs", () -> {
        ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Map<ConfigResource, Collection<AlterConfigOp>> ops = Map.of(res, List.of(
            new AlterConfigOp(new ConfigEntry("retention.ms", "172800000"), AlterConfigOp.OpType.SET),
            new AlterConfigOp(new ConfigEntry("segment.bytes", ""), AlterConfigOp.OpType.DELETE),
            new AlterConfigOp(new ConfigEntry("cleanup.policy", "compact,delete"), AlterConfigOp.OpType.SET)));
        get(admin.incrementalAlterConfigs(ops).all());
        // Kafka applies topic config changes asynchronously; poll describeConfigs with backoff.
        Map<String, ConfigEntry> after = null;
        long delay = 50;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (true) {
          after = topicConfig(admin);
          ConfigEntry r2 = after.get("retention.ms");
          if ((r2 != null && "172800000".equals(r2.value())) || System.nanoTime() > deadline) break;
          Thread.sleep(delay);
          delay = Math.min(delay * 2, 1000);
        }
        ConfigEntry r2 = after.get("retention.ms");
        check("incrementalAlterConfigs.retention.ms.value", "172800000", r2 == null ? null : r2.value());
        ConfigEntry s2 = after.get("segment.bytes");
        check("incrementalAlterConfigs.segment.bytes.deletedToDefault", "1073741824", s2 == null ? null : s2.value());
        check("incrementalAlterConfigs.segment.bytes.notTopicOverride", true,
            s2 != null && s2.source() != ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
        ConfigEntry c2 = after.get("cleanup.policy");
        check("incrementalAlterConfigs.cleanup.policy.value", "compact,delete", c2 == null ? null : c2.value());
        // an unknown config name is rejected
        try {
          get(admin.incrementalAlterConfigs(Map.of(res, List.of(new AlterConfigOp(
              new ConfigEntry("no.such.config", "1"), AlterConfigOp.OpType.SET)))).all());
          check("incrementalAlterConfigs.unknownName", "InvalidConfigurationException", "success");
        } catch (ExecutionException e) {
          check("incrementalAlterConfigs.unknownName", "InvalidConfigurationException", exceptionName(e));
        }
      });
      // ---- createPartitions 3 -> 4
      step("createPartitions", () -> {
        get(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(4))).all());
        TopicDescription td4 = null;
        long delay = 50;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (true) {
          td4 = describe(admin);
          if (td4.partitions().size() == 4 || System.nanoTime() > deadline) break;
          Thread.sleep(delay);
          delay = Math.min(delay * 2, 1000);
        }
        check("createPartitions.describe.partitions", 4, td4.partitions().size());
        try {
          get(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(2))).all());
          check("createPartitions.decrease", "InvalidPartitionsException", "success");
        } catch (ExecutionException e) {
          check("createPartitions.decrease", "InvalidPartitionsException", exceptionName(e));
        }
      });
      // ---- produce 10 records to p0: ts = base + i*100, except #5 has the max timestamp
      step("produce", () -> {
        try (KafkaProducer<byte[], byte[]> producer = Main.producer(bootstrap, "none")) {
          List<Future<RecordMetadata>> futs = new ArrayList<>();
          for (int i = 0; i < 10; i++) {
            long ts = i == 5 ? base + 10_000 : base + i * 100L;
            futs.add(producer.send(new ProducerRecord<>(topic, 0, ts, ("k" + i).getBytes(), ("v" + i).getBytes())));
          }
          producer.flush();
          for (int i = 0; i < futs.size(); i++) {
            check("produce.p0.offset#" + i, (long) i, futs.get(i).get(30, TimeUnit.SECONDS).offset());
          }
        }
      });
      // ---- listOffsets
      step("listOffsets", () -> {
        check("listOffsets.p0.earliest", 0L, offset(admin, p0, OffsetSpec.earliest()));
        check("listOffsets.p0.latest", 10L, offset(admin, p0, OffsetSpec.latest()));
        ListOffsetsResult.ListOffsetsResultInfo ft = info(admin, p0, OffsetSpec.forTimestamp(base + 250));
        check("listOffsets.p0.forTimestamp(base+250).offset", 3L, ft.offset());
        check("listOffsets.p0.forTimestamp(base+250).timestamp", base + 300, ft.timestamp());
        ListOffsetsResult.ListOffsetsResultInfo ft0 = info(admin, p0, OffsetSpec.forTimestamp(base - 1000));
        check("listOffsets.p0.forTimestamp(before all).offset", 0L, ft0.offset());
        check("listOffsets.p0.forTimestamp(after all).offset", -1L,
            offset(admin, p0, OffsetSpec.forTimestamp(base + 1_000_000)));
        ListOffsetsResult.ListOffsetsResultInfo mt = info(admin, p0, OffsetSpec.maxTimestamp());
        check("listOffsets.p0.maxTimestamp.offset", 5L, mt.offset());
        check("listOffsets.p0.maxTimestamp.timestamp", base + 10_000, mt.timestamp());
        check("listOffsets.p3.earliest", 0L, offset(admin, p3, OffsetSpec.earliest()));
        check("listOffsets.p3.latest", 0L, offset(admin, p3, OffsetSpec.latest()));
      });
      // ---- deleteRecords before offset 4 on p0
      step("deleteRecords", () -> {
        DeleteRecordsResult drr = admin.deleteRecords(Map.of(p0, RecordsToDelete.beforeOffset(4)));
        DeletedRecords dr = drr.lowWatermarks().get(p0).get(30, TimeUnit.SECONDS);
        check("deleteRecords.p0.lowWatermark", 4L, dr.lowWatermark());
        check("deleteRecords.listOffsets.p0.earliest", 4L, offset(admin, p0, OffsetSpec.earliest()));
        check("deleteRecords.listOffsets.p0.latest", 10L, offset(admin, p0, OffsetSpec.latest()));
        try (KafkaConsumer<byte[], byte[]> consumer = Main.consumer(bootstrap)) {
          consumer.assign(List.of(p0));
          consumer.seekToBeginning(List.of(p0));
          check("deleteRecords.consumer.position", 4L, consumer.position(p0, Duration.ofSeconds(20)));
          List<Long> offs = new ArrayList<>();
          long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
          while (offs.size() < 6 && System.nanoTime() < end) {
            for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) offs.add(r.offset());
          }
          check("deleteRecords.consumer.offsets", List.of(4L, 5L, 6L, 7L, 8L, 9L), offs);
        }
      });
      // ---- describeLogDirs
      step("describeLogDirs", () -> {
        Map<Integer, Map<String, LogDirDescription>> ld =
            get(admin.describeLogDirs(List.of(nodeId)).allDescriptions());
        Map<String, LogDirDescription> dirs = ld.get(nodeId);
        check("describeLogDirs.hasDirs", true, dirs != null && !dirs.isEmpty());
        ReplicaInfo ri0 = null;
        int replicasOfTopic = 0;
        if (dirs != null) {
          for (LogDirDescription d : dirs.values()) {
            check("describeLogDirs.dir.error", "null", String.valueOf(d.error()));
            for (Map.Entry<TopicPartition, ReplicaInfo> e : d.replicaInfos().entrySet()) {
              if (e.getKey().topic().equals(topic)) {
                replicasOfTopic++;
                if (e.getKey().partition() == 0) ri0 = e.getValue();
              }
            }
          }
        }
        check("describeLogDirs.topicReplicas", 4, replicasOfTopic);
        check("describeLogDirs.p0.sizePositive", true, ri0 != null && ri0.size() > 0);
        check("describeLogDirs.p0.notFuture", false, ri0 != null && ri0.isFuture());
      });
      // ---- deleteTopics
      step("deleteTopics", () -> {
        get(admin.deleteTopics(List.of(topic)).all());
        boolean gone = false;
        long delay = 50;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (!gone && System.nanoTime() < deadline) {
          gone = !get(admin.listTopics().names()).contains(topic);
          if (!gone) {
            Thread.sleep(delay);
            delay = Math.min(delay * 2, 1000);
          }
        }
        check("deleteTopics.listTopics.absent", true, gone);
        try {
          describe(admin);
          check("deleteTopics.describe", "UnknownTopicOrPartitionException", "success");
        } catch (ExecutionException e) {
          check("deleteTopics.describe", "UnknownTopicOrPartitionException", exceptionName(e));
        }
        try {
          get(admin.deleteTopics(List.of(topic)).all());
          check("deleteTopics.again", "UnknownTopicOrPartitionException", "success");
        } catch (ExecutionException e) {
          check("deleteTopics.again", "UnknownTopicOrPartitionException", exceptionName(e));
        }
      });
    } finally {
      admin.close(Duration.ofSeconds(10));
    }
    JsonObject result = new JsonObject();
    result.addProperty("ok", allOk);
    result.add("checks", checks);
    return result;
  }

  private static ListOffsetsResult.ListOffsetsResultInfo info(Admin admin, TopicPartition tp, OffsetSpec spec)
      throws Exception {
    return admin.listOffsets(Map.of(tp, spec)).partitionResult(tp).get(30, TimeUnit.SECONDS);
  }

  private static long offset(Admin admin, TopicPartition tp, OffsetSpec spec) throws Exception {
    return info(admin, tp, spec).offset();
  }
}
