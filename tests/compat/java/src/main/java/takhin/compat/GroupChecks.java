package takhin.compat;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;

/**
 * Consumer-group checks for tests/compat/groups, recorded as {name, ok, expected, actual}
 * like AdminChecks:
 *
 * <pre>
 *   group-admin BOOTSTRAP TOPIC    # AdminClient: list/describe groups, offsets, lag, alter/delete
 *   group-errors BOOTSTRAP TOPIC   # errors the consumer surfaces from OffsetCommit
 * </pre>
 */
final class GroupChecks {
  private final String bootstrap;
  private final String topic;
  private final JsonArray checks = new JsonArray();
  private final JsonObject info = new JsonObject();
  private boolean allOk = true;

  GroupChecks(String bootstrap, String topic) {
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

  private void step(String name, Step body) {
    try {
      body.run();
    } catch (Throwable t) {
      check(name + ".noException", "no exception", exceptionName(t) + ": " + cause(t).getMessage());
    }
  }

  private static Throwable cause(Throwable t) {
    while ((t instanceof ExecutionException || t instanceof org.apache.kafka.common.KafkaException
        && t.getClass() == org.apache.kafka.common.KafkaException.class) && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  private static String exceptionName(Throwable t) {
    return cause(t).getClass().getSimpleName();
  }

  /** Run body, return the simple name of the exception it threw, or "none". */
  private static String thrown(Step body) {
    try {
      body.run();
      return "none";
    } catch (Throwable t) {
      return exceptionName(t);
    }
  }

  private static <T> T get(KafkaFuture<T> f) throws Exception {
    return f.get(30, TimeUnit.SECONDS);
  }

  private JsonObject result() {
    JsonObject r = new JsonObject();
    r.addProperty("ok", allOk);
    r.add("checks", checks);
    r.add("info", info);
    return r;
  }

  private void createAndFill(Admin admin, int parts, int perPart) throws Exception {
    get(admin.createTopics(List.of(new NewTopic(topic, parts, (short) 1))).all());
    try (KafkaProducer<byte[], byte[]> p = Main.producer(bootstrap, "none")) {
      for (int i = 0; i < parts * perPart; i++) {
        p.send(new ProducerRecord<>(topic, i % parts, null, ("v" + i).getBytes()));
      }
      p.flush();
    }
  }

  private Properties consumerProps(String group, String... kv) {
    Properties p = GroupTools.props(bootstrap, group, Arrays.asList(kv));
    return p;
  }

  /** A member polling in its own thread until stopped; commits `commit` once assigned `want`. */
  private final class Member implements AutoCloseable {
    final AtomicBoolean stop = new AtomicBoolean();
    final CountDownLatch ready = new CountDownLatch(1);
    final AtomicReference<Throwable> error = new AtomicReference<>();
    final Thread thread;

    Member(Properties props, Set<TopicPartition> want, Map<TopicPartition, OffsetAndMetadata> commit) {
      thread = new Thread(() -> {
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(props)) {
          c.subscribe(List.of(topic));
          GroupTools.awaitAssignment(c, want, 30000);
          if (!commit.isEmpty()) c.commitSync(commit, Duration.ofSeconds(30));
          ready.countDown();
          while (!stop.get()) c.poll(Duration.ofMillis(100));
        } catch (Throwable t) {
          error.set(t);
          ready.countDown();
        }
      });
      thread.start();
    }

    void awaitReady(String name) throws Exception {
      if (!ready.await(45, TimeUnit.SECONDS)) throw new IllegalStateException(name + " not ready after 45 s");
      if (error.get() != null) throw new IllegalStateException(name + " failed: " + error.get(), error.get());
    }

    @Override
    public void close() throws InterruptedException {
      stop.set(true);
      thread.join(30000);
    }
  }

  private static Set<String> ids(Collection<ConsumerGroupListing> l) {
    return l.stream().map(ConsumerGroupListing::groupId).collect(Collectors.toCollection(TreeSet::new));
  }

  private static Map<Integer, String> offsetsView(Map<TopicPartition, OffsetAndMetadata> m) {
    Map<Integer, String> out = new TreeMap<>();
    m.forEach((tp, om) -> out.put(tp.partition(), om == null ? "null" : om.offset() + "/" + om.metadata()));
    return out;
  }

  private ConsumerGroupDescription describe(Admin admin, String g) throws Exception {
    return get(admin.describeConsumerGroups(List.of(g)).describedGroups().get(g));
  }

  /** Poll describeConsumerGroups until the group reaches `state` (bounded), return the last description. */
  private ConsumerGroupDescription awaitState(Admin admin, String g, GroupState state) throws Exception {
    long end = System.currentTimeMillis() + 20000;
    ConsumerGroupDescription d = describe(admin, g);
    while (d.groupState() != state && System.currentTimeMillis() < end) {
      Thread.sleep(200);
      d = describe(admin, g);
    }
    return d;
  }

  @SuppressWarnings("deprecation")
  JsonObject admin() throws Exception {
    final String g1 = topic + "-classic";
    final String g2 = topic + "-empty";
    final String g3 = topic + "-consumer";
    final String missing = topic + "-missing";
    List<TopicPartition> tps = GroupTools.tps(topic, 3);
    TopicPartition p0 = tps.get(0), p1 = tps.get(1), p2 = tps.get(2);
    try (Admin admin = Admin.create(Main.adminProps(bootstrap))) {
      createAndFill(admin, 3, 10);
      int nodeId = get(admin.describeCluster().controller()) == null ? -1
          : get(admin.describeCluster().nodes()).iterator().next().id();

      // G2: offsets committed by an assign()-only consumer; the group has no members (Empty).
      try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps(g2))) {
        c.assign(tps);
        c.commitSync(Map.of(p0, new OffsetAndMetadata(1), p1, new OffsetAndMetadata(2), p2, new OffsetAndMetadata(3)));
      }
      Map<TopicPartition, OffsetAndMetadata> c1 = Map.of(p0, new OffsetAndMetadata(3, "m0"),
          p1, new OffsetAndMetadata(5, "m1"), p2, new OffsetAndMetadata(7, ""));
      try (Member m1 = new Member(consumerProps(g1, "client.id=g1-client",
              "partition.assignment.strategy=org.apache.kafka.clients.consumer.RangeAssignor"), new HashSet<>(tps), c1);
           Member m3 = new Member(consumerProps(g3, "client.id=g3-client", "group.protocol=consumer",
              "group.remote.assignor=uniform"), new HashSet<>(tps), Map.of(p0, new OffsetAndMetadata(4)))) {
        m1.awaitReady(g1);
        m3.awaitReady(g3);

        step("listConsumerGroups", () -> {
          Set<String> all = ids(get(admin.listConsumerGroups().all()));
          check("list.all.containsAll", true, all.containsAll(List.of(g1, g2, g3)));
          check("list.all.missing", false, all.contains(missing));
          Collection<ConsumerGroupListing> stable =
              get(admin.listConsumerGroups(new ListConsumerGroupsOptions().inGroupStates(Set.of(GroupState.STABLE))).all());
          Set<String> st = ids(stable);
          check("list.stable.g1", true, st.contains(g1));
          check("list.stable.g3", true, st.contains(g3));
          check("list.stable.g2", false, st.contains(g2));
          Set<String> em = ids(get(admin.listConsumerGroups(
              new ListConsumerGroupsOptions().inGroupStates(Set.of(GroupState.EMPTY))).all()));
          check("list.empty.g2", true, em.contains(g2));
          check("list.empty.g1", false, em.contains(g1));
          Map<String, ConsumerGroupListing> byId = new HashMap<>();
          for (ConsumerGroupListing l : get(admin.listConsumerGroups().all())) byId.put(l.groupId(), l);
          check("list.g1.type", Optional.of(GroupType.CLASSIC), byId.get(g1).type());
          check("list.g3.type", Optional.of(GroupType.CONSUMER), byId.get(g3).type());
          check("list.g1.state", Optional.of(GroupState.STABLE), byId.get(g1).groupState());
          check("list.g2.state", Optional.of(GroupState.EMPTY), byId.get(g2).groupState());
          check("list.g1.simple", false, byId.get(g1).isSimpleConsumerGroup());
          check("list.g2.simple", true, byId.get(g2).isSimpleConsumerGroup());
          Set<String> consumerType = ids(get(admin.listConsumerGroups(
              new ListConsumerGroupsOptions().withTypes(Set.of(GroupType.CONSUMER))).all()));
          check("list.typeConsumer.g3", true, consumerType.contains(g3));
          check("list.typeConsumer.g1", false, consumerType.contains(g1));
        });

        step("describeConsumerGroups", () -> {
          Map<String, KafkaFuture<ConsumerGroupDescription>> ds =
              admin.describeConsumerGroups(List.of(g1, g2, g3)).describedGroups();
          ConsumerGroupDescription d1 = get(ds.get(g1));
          check("describe.g1.state", GroupState.STABLE, d1.groupState());
          check("describe.g1.type", GroupType.CLASSIC, d1.type());
          check("describe.g1.assignor", "range", d1.partitionAssignor());
          check("describe.g1.simple", false, d1.isSimpleConsumerGroup());
          check("describe.g1.coordinator", nodeId, d1.coordinator().id());
          check("describe.g1.members", 1, d1.members().size());
          MemberDescription md = d1.members().iterator().next();
          check("describe.g1.member.clientId", "g1-client", md.clientId());
          check("describe.g1.member.consumerId.nonEmpty", true, !md.consumerId().isEmpty());
          check("describe.g1.member.host.nonEmpty", true, !md.host().isEmpty());
          check("describe.g1.member.assignment", new HashSet<>(tps), md.assignment().topicPartitions());
          info.addProperty("g1.member.host", md.host());

          ConsumerGroupDescription d3 = get(ds.get(g3));
          check("describe.g3.state", GroupState.STABLE, d3.groupState());
          check("describe.g3.type", GroupType.CONSUMER, d3.type());
          check("describe.g3.assignor", "uniform", d3.partitionAssignor());
          check("describe.g3.coordinator", nodeId, d3.coordinator().id());
          check("describe.g3.members", 1, d3.members().size());
          check("describe.g3.groupEpoch.present", true, d3.groupEpoch().isPresent());
          check("describe.g3.targetAssignmentEpoch", d3.groupEpoch(), d3.targetAssignmentEpoch());
          MemberDescription m3d = d3.members().iterator().next();
          check("describe.g3.member.clientId", "g3-client", m3d.clientId());
          check("describe.g3.member.assignment", new HashSet<>(tps), m3d.assignment().topicPartitions());
          check("describe.g3.member.target", Optional.of(new HashSet<>(tps)),
              m3d.targetAssignment().map(a -> new HashSet<>(a.topicPartitions())));
          check("describe.g3.member.epoch.present", true, m3d.memberEpoch().isPresent());
          info.addProperty("g3.groupEpoch", d3.groupEpoch().orElse(-1));

          ConsumerGroupDescription d2 = get(ds.get(g2));
          check("describe.g2.state", GroupState.EMPTY, d2.groupState());
          check("describe.g2.members", 0, d2.members().size());
          check("describe.g2.simple", true, d2.isSimpleConsumerGroup());
          check("describe.g2.coordinator", nodeId, d2.coordinator().id());

          check("describe.missing", "GroupIdNotFoundException",
              thrown(() -> get(admin.describeConsumerGroups(List.of(missing)).describedGroups().get(missing))));
        });

        step("listConsumerGroupOffsets", () -> {
          Map<TopicPartition, OffsetAndMetadata> o1 = get(admin.listConsumerGroupOffsets(g1).partitionsToOffsetAndMetadata());
          check("offsets.g1", offsetsView(c1), offsetsView(o1));
          Map<TopicPartition, OffsetAndMetadata> o3 = get(admin.listConsumerGroupOffsets(g3).partitionsToOffsetAndMetadata());
          check("offsets.g3", Map.of(0, "4/"), offsetsView(o3));
          // Lag = end offset - committed offset.
          Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
          for (TopicPartition tp : tps) latest.put(tp, OffsetSpec.latest());
          Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> ends = get(admin.listOffsets(latest).all());
          Map<Integer, Long> lag = new TreeMap<>();
          for (TopicPartition tp : tps) lag.put(tp.partition(), ends.get(tp).offset() - o1.get(tp).offset());
          check("lag.g1", Map.of(0, 7L, 1, 5L, 2, 3L), lag);
          // A subset of partitions, including one never committed.
          ListConsumerGroupOffsetsSpec spec = new ListConsumerGroupOffsetsSpec().topicPartitions(List.of(p1, p2));
          Map<TopicPartition, OffsetAndMetadata> o3sub = get(admin.listConsumerGroupOffsets(Map.of(g3, spec))
              .partitionsToOffsetAndMetadata(g3));
          check("offsets.g3.subset.p1", null, o3sub.get(p1));
          check("offsets.g3.subset.size", true, o3sub.size() <= 2);
          check("offsets.missing", Map.of(), offsetsView(get(admin.listConsumerGroupOffsets(missing).partitionsToOffsetAndMetadata())));
        });

        step("alterConsumerGroupOffsets", () -> {
          check("alter.nonEmpty", "UnknownMemberIdException",
              thrown(() -> get(admin.alterConsumerGroupOffsets(g1, Map.of(p0, new OffsetAndMetadata(1))).all())));
          get(admin.alterConsumerGroupOffsets(g2, Map.of(p0, new OffsetAndMetadata(9, "altered"))).all());
          check("alter.empty.result", Map.of(0, "9/altered", 1, "2/", 2, "3/"),
              offsetsView(get(admin.listConsumerGroupOffsets(g2).partitionsToOffsetAndMetadata())));
        });

        step("deleteConsumerGroupOffsets", () -> {
          get(admin.deleteConsumerGroupOffsets(g2, Set.of(p1)).all());
          check("deleteOffsets.empty.result", Map.of(0, "9/altered", 2, "3/"),
              offsetsView(get(admin.listConsumerGroupOffsets(g2).partitionsToOffsetAndMetadata())));
          check("deleteOffsets.subscribed", "GroupSubscribedToTopicException",
              thrown(() -> get(admin.deleteConsumerGroupOffsets(g1, Set.of(p0)).all())));
          check("deleteOffsets.subscribed.kept", offsetsView(c1),
              offsetsView(get(admin.listConsumerGroupOffsets(g1).partitionsToOffsetAndMetadata())));
          check("deleteOffsets.missingGroup", "GroupIdNotFoundException",
              thrown(() -> get(admin.deleteConsumerGroupOffsets(missing, Set.of(p0)).all())));
        });

        step("deleteConsumerGroups", () -> {
          check("deleteGroups.nonEmpty", "GroupNotEmptyException",
              thrown(() -> get(admin.deleteConsumerGroups(List.of(g1)).all())));
          check("deleteGroups.nonEmpty.consumer", "GroupNotEmptyException",
              thrown(() -> get(admin.deleteConsumerGroups(List.of(g3)).all())));
          check("deleteGroups.missing", "GroupIdNotFoundException",
              thrown(() -> get(admin.deleteConsumerGroups(List.of(missing)).all())));
          get(admin.deleteConsumerGroups(List.of(g2)).all());
          check("deleteGroups.empty.gone", false, ids(get(admin.listConsumerGroups().all())).contains(g2));
          check("deleteGroups.empty.offsetsGone", Map.of(),
              offsetsView(get(admin.listConsumerGroupOffsets(g2).partitionsToOffsetAndMetadata())));
        });
      }

      // Members closed (LeaveGroup / leave heartbeat): both groups become Empty and can be deleted.
      step("afterLeave", () -> {
        for (String g : List.of(g1, g3)) {
          ConsumerGroupDescription d = awaitState(admin, g, GroupState.EMPTY);
          check("afterLeave." + g.substring(topic.length() + 1) + ".state", GroupState.EMPTY, d.groupState());
          check("afterLeave." + g.substring(topic.length() + 1) + ".members", 0, d.members().size());
        }
        check("afterLeave.offsetsKept", offsetsView(c1),
            offsetsView(get(admin.listConsumerGroupOffsets(g1).partitionsToOffsetAndMetadata())));
        get(admin.deleteConsumerGroups(List.of(g1, g3)).all());
        Set<String> left = ids(get(admin.listConsumerGroups().all()));
        check("afterLeave.deleted", false, left.contains(g1) || left.contains(g3));
      });
    }
    return result();
  }

  /** commitAsync, poll until the callback ran (bounded); "none" or "Exception/Cause" simple names. */
  private static String asyncCommitError(KafkaConsumer<byte[], byte[]> c, Map<TopicPartition, OffsetAndMetadata> o) {
    AtomicReference<String> res = new AtomicReference<>();
    c.commitAsync(o, (offsets, e) -> res.set(e == null ? "none"
        : e.getClass().getSimpleName() + (e.getCause() == null ? "" : "/" + e.getCause().getClass().getSimpleName())));
    long end = System.currentTimeMillis() + 20000;
    while (res.get() == null && System.currentTimeMillis() < end) c.poll(Duration.ofMillis(100));
    return res.get() == null ? "no callback after 20 s" : res.get();
  }

  JsonObject errors() throws Exception {
    List<TopicPartition> tps = GroupTools.tps(topic, 2);
    TopicPartition p0 = tps.get(0);
    try (Admin admin = Admin.create(Main.adminProps(bootstrap))) {
      createAndFill(admin, 2, 5);
    }
    String g = topic + "-err";
    try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps(g))) {
      c.assign(tps);
      // commitSync retries UNKNOWN_TOPIC_OR_PARTITION until its timeout; commitAsync hands the
      // broker's error to the callback (wrapped in RetriableCommitFailedException).
      step("unknownTopic", () -> check("commit.unknownTopic",
          "RetriableCommitFailedException/UnknownTopicOrPartitionException",
          asyncCommitError(c, Map.of(new TopicPartition(topic + "-nope", 0), new OffsetAndMetadata(1)))));
      step("unknownPartition", () -> check("commit.unknownPartition",
          "RetriableCommitFailedException/UnknownTopicOrPartitionException",
          asyncCommitError(c, Map.of(new TopicPartition(topic, 99), new OffsetAndMetadata(1)))));
      step("metadata", () -> {
        String max = "x".repeat(4096);
        check("commit.metadata4096", "none", thrown(() -> c.commitSync(Map.of(p0, new OffsetAndMetadata(2, max)))));
        check("commit.metadata4096.readBack", "2/" + max.length(),
            c.committed(Set.of(p0)).get(p0).offset() + "/" + c.committed(Set.of(p0)).get(p0).metadata().length());
        check("commit.metadata4097", "OffsetMetadataTooLarge",
            thrown(() -> c.commitSync(Map.of(p0, new OffsetAndMetadata(3, max + "y")))));
        check("commit.metadata4097.notApplied", 2L, c.committed(Set.of(p0)).get(p0).offset());
      });
    }

    // Fencing: a second static member with the same group.instance.id replaces the first;
    // the first member's commit is rejected (FENCED_INSTANCE_ID).
    String gs = topic + "-static";
    step("fenced", () -> {
      Properties pa = consumerProps(gs, "group.instance.id=inst-1", "session.timeout.ms=20000",
          "heartbeat.interval.ms=1000");
      try (KafkaConsumer<byte[], byte[]> a = new KafkaConsumer<>(pa)) {
        a.subscribe(List.of(topic));
        GroupTools.awaitAssignment(a, tps, 30000);
        a.commitSync(Map.of(p0, new OffsetAndMetadata(1)));
        try (KafkaConsumer<byte[], byte[]> b = new KafkaConsumer<>(pa)) {
          b.subscribe(List.of(topic));
          GroupTools.awaitAssignment(b, tps, 30000);
          check("commit.fenced", "FencedInstanceIdException",
              thrown(() -> a.commitSync(Map.of(p0, new OffsetAndMetadata(2)))));
          b.commitSync(Map.of(p0, new OffsetAndMetadata(3)));
          check("commit.fenced.newMemberCommits", 3L, b.committed(Set.of(p0)).get(p0).offset());
        }
      } catch (org.apache.kafka.common.errors.FencedInstanceIdException expected) {
        // a's close() may rethrow the fatal fencing error
      }
    });

    // A member that stops polling while another joins is dropped from the group after the
    // rebalance timeout (max.poll.interval.ms); its next commit fails and the other member
    // gets every partition.
    String gd = topic + "-dyn";
    step("kickedOut", () -> {
      String[] common = {"session.timeout.ms=10000", "heartbeat.interval.ms=500", "max.poll.interval.ms=5000",
          "partition.assignment.strategy=org.apache.kafka.clients.consumer.RangeAssignor"};
      try (KafkaConsumer<byte[], byte[]> a = new KafkaConsumer<>(consumerProps(gd, common))) {
        a.subscribe(List.of(topic));
        GroupTools.awaitAssignment(a, tps, 30000);
        a.commitSync(Map.of(p0, new OffsetAndMetadata(1)));
        AtomicReference<Set<TopicPartition>> bAssign = new AtomicReference<>(Set.of());
        AtomicBoolean stop = new AtomicBoolean();
        Thread bt = new Thread(() -> {
          try (KafkaConsumer<byte[], byte[]> b = new KafkaConsumer<>(consumerProps(gd, common))) {
            b.subscribe(List.of(topic));
            while (!stop.get()) {
              b.poll(Duration.ofMillis(100));
              bAssign.set(new HashSet<>(b.assignment()));
            }
          }
        });
        bt.start();
        long end = System.currentTimeMillis() + 30000;
        while (!bAssign.get().containsAll(tps) && System.currentTimeMillis() < end) Thread.sleep(100);
        check("kickedOut.otherGetsAll", new HashSet<>(tps), bAssign.get());
        check("kickedOut.commit", "CommitFailedException",
            thrown(() -> a.commitSync(Map.of(p0, new OffsetAndMetadata(2)))));
        stop.set(true);
        bt.join(30000);
      }
    });
    return result();
  }
}
