// Command compat-go is the franz-go (kgo + kadm) compatibility driver.
//
//	compat-go roundtrip BOOTSTRAP SPEC.json  # create topic (kadm), produce spec, consume back
//	compat-go admin BOOTSTRAP TOPIC          # kadm checks
//
// It prints one JSON document on stdout. Exit 0 on success, 1 when a check
// failed (the JSON says which), 2 on usage errors or unexpected errors
// (message on stderr).
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

type specRecord struct {
	Partition int32        `json:"partition"`
	Key       *string      `json:"key"`
	Value     *string      `json:"value"`
	Headers   [][2]*string `json:"headers"`
	Timestamp int64        `json:"timestamp"`
}

type spec struct {
	Topic      string       `json:"topic"`
	Codec      string       `json:"codec"`
	Partitions int32        `json:"partitions"`
	Records    []specRecord `json:"records"`
}

type outRecord struct {
	Partition     int32        `json:"partition"`
	Offset        int64        `json:"offset"`
	Key           *string      `json:"key"`
	Value         *string      `json:"value"`
	Headers       [][2]*string `json:"headers"`
	Timestamp     int64        `json:"timestamp"`
	TimestampType string       `json:"timestampType"`
}

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "compat-go: "+format+"\n", args...)
	os.Exit(2)
}

func unb64(s *string) []byte {
	if s == nil {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(*s)
	if err != nil {
		die("bad base64 in spec: %v", err)
	}
	if b == nil {
		b = []byte{}
	}
	return b
}

func b64(b []byte) *string {
	if b == nil {
		return nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return &s
}

func codecOf(name string) kgo.CompressionCodec {
	switch name {
	case "none":
		return kgo.NoCompression()
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	die("unknown codec %q", name)
	return kgo.NoCompression()
}

func newClient(bootstrap string, extra ...kgo.Opt) *kgo.Client {
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(bootstrap),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotent producer is franz-go's default
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.ProducerBatchMaxBytes(4 << 20),
		kgo.FetchMaxPartitionBytes(2 << 20),
		kgo.RequestTimeoutOverhead(20 * time.Second),
	}, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		die("new client: %v", err)
	}
	return cl
}

func tsType(r *kgo.Record) string {
	if r.Attrs.TimestampType() == 1 {
		return "LogAppendTime"
	}
	return "CreateTime"
}

func roundtrip(bootstrap, specPath string) (any, bool) {
	raw, err := os.ReadFile(specPath)
	if err != nil {
		die("read spec: %v", err)
	}
	var sp spec
	if err := json.Unmarshal(raw, &sp); err != nil {
		die("parse spec: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	cl := newClient(bootstrap, kgo.ProducerBatchCompression(codecOf(sp.Codec)))
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ct, err := adm.CreateTopic(ctx, sp.Partitions, 1, nil, sp.Topic)
	if err != nil || ct.Err != nil {
		die("create topic %s: %v %v %s", sp.Topic, err, ct.Err, ct.ErrMessage)
	}

	counts := map[int32]int{}
	recs := make([]*kgo.Record, 0, len(sp.Records))
	for _, r := range sp.Records {
		kr := &kgo.Record{
			Topic:     sp.Topic,
			Partition: r.Partition,
			Key:       unb64(r.Key),
			Value:     unb64(r.Value),
			Timestamp: time.UnixMilli(r.Timestamp),
		}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: *h[0], Value: unb64(h[1])})
		}
		recs = append(recs, kr)
		counts[r.Partition]++
	}
	// ProduceSync keeps per-partition order (idempotent producer, ordered in-flight
	// batches); its results come back in completion order, not input order.
	index := map[*kgo.Record]int{}
	for i, r := range recs {
		index[r] = i
	}
	for _, res := range cl.ProduceSync(ctx, recs...) {
		i := index[res.Record]
		if res.Err != nil {
			die("produce record %d: %v", i, res.Err)
		}
		if res.Record.Partition != sp.Records[i].Partition {
			die("record %d acked on partition %d", i, res.Record.Partition)
		}
	}

	// Consume with a fresh client: direct partition assignment, no group.
	offsets := map[int32]kgo.Offset{}
	for p := int32(0); p < sp.Partitions; p++ {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cc := newClient(bootstrap, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{sp.Topic: offsets}))
	defer cc.Close()
	got := map[int32]int{}
	out := []outRecord{}
	done := func() bool {
		for p, n := range counts {
			if got[p] < n {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(30 * time.Second)
	for !done() && time.Now().Before(deadline) {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cc.PollFetches(pctx)
		pcancel()
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				die("fetch error %s/%d: %v", t, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			o := outRecord{Partition: r.Partition, Offset: r.Offset, Key: b64(r.Key), Value: b64(r.Value),
				Headers: [][2]*string{}, Timestamp: r.Timestamp.UnixMilli(), TimestampType: tsType(r)}
			for _, h := range r.Headers {
				k := h.Key
				o.Headers = append(o.Headers, [2]*string{&k, b64(h.Value)})
			}
			out = append(out, o)
			got[r.Partition]++
		})
	}

	// Offsets via kadm.
	starts, err := adm.ListStartOffsets(ctx, sp.Topic)
	if err != nil {
		die("list start offsets: %v", err)
	}
	ends, err := adm.ListEndOffsets(ctx, sp.Topic)
	if err != nil {
		die("list end offsets: %v", err)
	}
	offs := map[string][2]int64{}
	for p := int32(0); p < sp.Partitions; p++ {
		s, _ := starts.Lookup(sp.Topic, p)
		e, _ := ends.Lookup(sp.Topic, p)
		offs[fmt.Sprint(p)] = [2]int64{s.Offset, e.Offset}
	}
	return map[string]any{"records": out, "offsets": offs}, true
}

// ---------------------------------------------------------------- admin

type check struct {
	Name     string `json:"name"`
	OK       bool   `json:"ok"`
	Expected string `json:"expected"`
	Actual   string `json:"actual"`
}

type checker struct{ checks []check }

func (c *checker) eq(name string, expected, actual any) bool {
	ok := reflect.DeepEqual(expected, actual)
	c.checks = append(c.checks, check{name, ok, fmt.Sprint(expected), fmt.Sprint(actual)})
	return ok
}

type abort struct{}

func (c *checker) fatal(format string, args ...any) {
	c.checks = append(c.checks, check{"fatal", false, "no error", fmt.Sprintf(format, args...)})
	panic(abort{})
}

func (c *checker) allOK() bool {
	for _, ch := range c.checks {
		if !ch.OK {
			return false
		}
	}
	return true
}

func strp(s string) *string { return &s }

func cfgValue(rc kadm.ResourceConfigs, topic, key string) (string, bool) {
	for _, r := range rc {
		if r.Name != topic {
			continue
		}
		for _, c := range r.Configs {
			if c.Key == key && c.Value != nil {
				return *c.Value, true
			}
		}
	}
	return "", false
}

func errName(err error) string {
	if err == nil {
		return "nil"
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return err.Error()
}

func admin(bootstrap, topic string) (res any, ok bool) {
	c := &checker{}
	// A failed call that later steps depend on ends the run, but the checks made
	// so far are still reported (with the error as a failed check).
	defer func() {
		if r := recover(); r != nil {
			if _, isAbort := r.(abort); !isAbort {
				panic(r)
			}
			res, ok = map[string]any{"ok": false, "checks": c.checks}, false
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cl := newClient(bootstrap)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	base := (time.Now().UnixMilli() - 3_600_000) / 1000 * 1000

	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		c.fatal("metadata: %v", err)
	}
	if !c.eq("metadata.brokers", 1, len(md.Brokers)) {
		c.fatal("no brokers in metadata")
	}
	c.eq("metadata.clusterId.nonEmpty", true, md.Cluster != "")
	nodeID := md.Brokers[0].NodeID

	ct, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": strp("86400000")}, topic)
	if err != nil {
		c.fatal("create topic: %v", err)
	}
	c.eq("createTopic.err", "nil", errName(ct.Err))
	c.eq("createTopic.partitions", int32(3), ct.NumPartitions)
	again, _ := adm.CreateTopic(ctx, 3, 1, nil, topic)
	c.eq("createTopic.again", "TOPIC_ALREADY_EXISTS", errName(again.Err))

	tmd, err := adm.Metadata(ctx, topic)
	if err != nil {
		c.fatal("metadata topic: %v", err)
	}
	td := tmd.Topics[topic]
	c.eq("metadata.topic.err", "nil", errName(td.Err))
	c.eq("metadata.topic.partitions", []int32{0, 1, 2}, td.Partitions.Numbers())
	for _, p := range td.Partitions.Sorted() {
		c.eq(fmt.Sprintf("metadata.p%d.leader", p.Partition), nodeID, p.Leader)
		c.eq(fmt.Sprintf("metadata.p%d.replicas", p.Partition), []int32{nodeID}, p.Replicas)
	}

	rc, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		c.fatal("describe configs: %v", err)
	}
	v, _ := cfgValue(rc, topic, "retention.ms")
	c.eq("describeTopicConfigs.retention.ms", "86400000", v)

	ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: strp("172800000")}}, topic)
	if err != nil {
		c.fatal("alter configs: %v", err)
	}
	for _, r := range ar {
		c.eq("alterTopicConfigs.err", "nil", errName(r.Err))
	}
	delay := 50 * time.Millisecond
	for end := time.Now().Add(15 * time.Second); ; {
		rc, err = adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			c.fatal("describe configs: %v", err)
		}
		v, _ = cfgValue(rc, topic, "retention.ms")
		if v == "172800000" || time.Now().After(end) {
			break
		}
		time.Sleep(delay)
		delay = min(delay*2, time.Second)
	}
	c.eq("alterTopicConfigs.describe.retention.ms", "172800000", v)

	// produce 10 records to p0: ts = base+i*100 except #5 = base+10000
	recs := []*kgo.Record{}
	for i := 0; i < 10; i++ {
		ts := base + int64(i)*100
		if i == 5 {
			ts = base + 10_000
		}
		recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Key: []byte(fmt.Sprint("k", i)),
			Value: []byte(fmt.Sprint("v", i)), Timestamp: time.UnixMilli(ts)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		c.fatal("produce: %v", err)
	}
	for i, r := range recs { // the records are updated in place with their offsets
		c.eq(fmt.Sprintf("produce.p0.offset#%d", i), int64(i), r.Offset)
	}

	lookup := func(name string, lo kadm.ListedOffsets, err error, p int32) kadm.ListedOffset {
		if err != nil {
			c.fatal("%s: %v", name, err)
		}
		o, ok := lo.Lookup(topic, p)
		if !ok {
			c.fatal("%s: no result for partition %d", name, p)
		}
		c.eq(name+".err", "nil", errName(o.Err))
		return o
	}
	so, err := adm.ListStartOffsets(ctx, topic)
	c.eq("listStartOffsets.p0", int64(0), lookup("listStartOffsets", so, err, 0).Offset)
	eo, err := adm.ListEndOffsets(ctx, topic)
	c.eq("listEndOffsets.p0", int64(10), lookup("listEndOffsets", eo, err, 0).Offset)
	c.eq("listEndOffsets.p1", int64(0), lookup("listEndOffsets", eo, err, 1).Offset)
	am, err := adm.ListOffsetsAfterMilli(ctx, base+250, topic)
	o := lookup("listOffsetsAfterMilli", am, err, 0)
	c.eq("listOffsetsAfterMilli(base+250).offset", int64(3), o.Offset)
	c.eq("listOffsetsAfterMilli(base+250).timestamp", base+300, o.Timestamp)
	mt, err := adm.ListMaxTimestampOffsets(ctx, topic)
	o = lookup("listMaxTimestampOffsets", mt, err, 0)
	c.eq("listMaxTimestampOffsets.offset", int64(5), o.Offset)
	c.eq("listMaxTimestampOffsets.timestamp", base+10_000, o.Timestamp)

	var dro kadm.Offsets
	dro.AddOffset(topic, 0, 4, -1)
	dr, err := adm.DeleteRecords(ctx, dro)
	if err != nil {
		c.fatal("delete records: %v", err)
	}
	d, ok := dr.Lookup(topic, 0)
	c.eq("deleteRecords.found", true, ok)
	c.eq("deleteRecords.err", "nil", errName(d.Err))
	c.eq("deleteRecords.lowWatermark", int64(4), d.LowWatermark)
	so, err = adm.ListStartOffsets(ctx, topic)
	c.eq("deleteRecords.listStartOffsets.p0", int64(4), lookup("listStartOffsets", so, err, 0).Offset)

	cp, err := adm.UpdatePartitions(ctx, 4, topic)
	if err != nil {
		c.fatal("update partitions: %v", err)
	}
	c.eq("updatePartitions.err", "nil", errName(cp.Error()))
	n := 0
	delay = 50 * time.Millisecond
	for end := time.Now().Add(15 * time.Second); ; {
		tmd, err = adm.Metadata(ctx, topic)
		if err == nil {
			n = len(tmd.Topics[topic].Partitions)
		}
		if n == 4 || time.Now().After(end) {
			break
		}
		time.Sleep(delay)
		delay = min(delay*2, time.Second)
	}
	c.eq("updatePartitions.metadata.partitions", 4, n)

	dt, err := adm.DeleteTopics(ctx, topic)
	if err != nil {
		c.fatal("delete topics: %v", err)
	}
	c.eq("deleteTopics.err", "nil", errName(dt.Error()))
	gone := false
	delay = 50 * time.Millisecond
	for end := time.Now().Add(15 * time.Second); !gone && time.Now().Before(end); {
		tds, err := adm.ListTopics(ctx)
		if err == nil && !tds.Has(topic) {
			gone = true
			break
		}
		time.Sleep(delay)
		delay = min(delay*2, time.Second)
	}
	c.eq("deleteTopics.listTopics.absent", true, gone)

	return map[string]any{"ok": c.allOK(), "checks": c.checks}, c.allOK()
}

func main() {
	if res, ok, handled := groupMain(os.Args); handled {
		if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
			die("encode result: %v", err)
		}
		if !ok {
			os.Exit(1)
		}
		return
	}
	if len(os.Args) != 4 {
		die("usage: compat-go roundtrip BOOTSTRAP SPEC.json | admin BOOTSTRAP TOPIC")
	}
	var res any
	var ok bool
	switch os.Args[1] {
	case "roundtrip":
		res, ok = roundtrip(os.Args[2], os.Args[3])
	case "admin":
		res, ok = admin(os.Args[2], os.Args[3])
	default:
		die("unknown subcommand %q", os.Args[1])
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(res); err != nil {
		die("encode result: %v", err)
	}
	if !ok {
		os.Exit(1)
	}
}
