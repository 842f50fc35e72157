package main

// Consumer-group subcommands for tests/compat/groups:
//
//	compat-go group-commit BOOTSTRAP TOPIC GROUP classic|consumer P:OFFSET[,P:OFFSET...]
//	    join GROUP (kgo.ConsumerGroup), consume until every listed partition has delivered
//	    the record before OFFSET, commit exactly those offsets (CommitOffsetsSync), read
//	    them back with kadm.FetchOffsets, close (leaves the group).
//	    -> {"committed":{"P":offset}, "consumedUpTo":{"P":lastOffset}}
//	compat-go group-resume BOOTSTRAP TOPIC GROUP classic|consumer NPARTS
//	    join GROUP with ConsumeResetOffset(AtEnd) (so a missing commit shows), poll until a
//	    record from every partition arrived (30 s bound).
//	    -> {"first":{"P":offset}, "committed":{"P":offset}}
//
// "consumer" uses kgo.ServerSideBalancer() (KIP-848, group.protocol=consumer).

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func groupClient(bootstrap, topic, group, proto string, reset kgo.Offset) *kgo.Client {
	opts := []kgo.Opt{
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(reset),
		kgo.SessionTimeout(10 * time.Second),
		kgo.HeartbeatInterval(time.Second),
	}
	switch proto {
	case "classic":
		opts = append(opts, kgo.Balancers(kgo.RangeBalancer()))
	case "consumer":
		opts = append(opts, kgo.Balancers(kgo.RangeBalancer()), kgo.ServerSideBalancer())
	default:
		die("protocol must be classic or consumer, got %q", proto)
	}
	return newClient(bootstrap, opts...)
}

func fetchCommitted(ctx context.Context, cl *kgo.Client, group, topic string) map[string]int64 {
	adm := kadm.NewClient(cl)
	resp, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		die("fetch offsets: %v", err)
	}
	out := map[string]int64{}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil {
			out[strconv.Itoa(int(o.Partition))] = o.At
		}
	})
	return out
}

func groupCommit(bootstrap, topic, group, proto, spec string) (any, bool) {
	want := map[int32]int64{}
	for _, f := range strings.Split(spec, ",") {
		pv := strings.SplitN(f, ":", 2)
		p, err1 := strconv.Atoi(pv[0])
		o, err2 := strconv.ParseInt(pv[1], 10, 64)
		if len(pv) != 2 || err1 != nil || err2 != nil {
			die("bad P:OFFSET %q", f)
		}
		want[int32(p)] = o
	}
	cl := groupClient(bootstrap, topic, group, proto, kgo.NewOffset().AtStart())
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	upTo := map[int32]int64{}
	done := func() bool {
		for p, o := range want {
			if last, ok := upTo[p]; !ok || last < o-1 {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			die("consumed only up to %v of %v before the deadline", upTo, want)
		}
		fs.EachError(func(t string, p int32, err error) { die("fetch %s/%d: %v", t, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset > upTo[r.Partition] || upTo[r.Partition] == 0 {
				upTo[r.Partition] = r.Offset
			}
		})
	}
	offsets := map[string]map[int32]kgo.EpochOffset{topic: {}}
	for p, o := range want {
		offsets[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	var commitErr error
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			commitErr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 && commitErr == nil {
					commitErr = fmt.Errorf("partition %d: error code %d", p.Partition, p.ErrorCode)
				}
			}
		}
	})
	if commitErr != nil {
		die("commit: %v", commitErr)
	}
	consumed := map[string]int64{}
	for p, o := range upTo {
		consumed[strconv.Itoa(int(p))] = o
	}
	return map[string]any{"committed": fetchCommitted(ctx, cl, group, topic), "consumedUpTo": consumed}, true
}

func groupResume(bootstrap, topic, group, proto, nparts string) (any, bool) {
	n, err := strconv.Atoi(nparts)
	if err != nil {
		die("bad NPARTS %q", nparts)
	}
	cl := groupClient(bootstrap, topic, group, proto, kgo.NewOffset().AtEnd())
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := map[string]int64{}
	for len(first) < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(t string, p int32, err error) {
			if ctx.Err() == nil {
				die("fetch %s/%d: %v", t, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			k := strconv.Itoa(int(r.Partition))
			if _, ok := first[k]; !ok {
				first[k] = r.Offset
			}
		})
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel2()
	return map[string]any{"first": first, "committed": fetchCommitted(ctx2, cl, group, topic)}, true
}

// groupMain handles the group-* subcommands; false if args[1] is not one of them.
func groupMain(args []string) (any, bool, bool) {
	if len(args) < 2 || !strings.HasPrefix(args[1], "group-") {
		return nil, false, false
	}
	if len(args) != 7 {
		fmt.Fprintln(os.Stderr, "usage: compat-go group-commit BOOTSTRAP TOPIC GROUP classic|consumer P:OFF,... | group-resume BOOTSTRAP TOPIC GROUP classic|consumer NPARTS")
		os.Exit(2)
	}
	switch args[1] {
	case "group-commit":
		res, ok := groupCommit(args[2], args[3], args[4], args[5], args[6])
		return res, ok, true
	case "group-resume":
		res, ok := groupResume(args[2], args[3], args[4], args[5], args[6])
		return res, ok, true
	}
	die("unknown subcommand %q", args[1])
	return nil, false, true
}
