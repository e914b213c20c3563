package clustertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/eventstored/eventstored/client"
)

// History records client operations for the linearizability check:
// invocation and return times on one monotonic clock, inputs and outputs
// as StreamModel wants them. Safe for concurrent use.
type History struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

// NewHistory starts the clock.
func NewHistory() *History { return &History{start: time.Now()} }

// Now is the history's clock (ns since NewHistory).
func (h *History) Now() int64 { return int64(time.Since(h.start)) }

// Add records one completed operation.
func (h *History) Add(op porcupine.Operation) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// Operations returns a copy of what was recorded.
func (h *History) Operations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]porcupine.Operation(nil), h.ops...)
}

// Acknowledged returns the appends that were acknowledged (Ok): each must
// be readable, at its numbers, once the cluster has converged.
func (h *History) Acknowledged() []porcupine.Operation {
	var out []porcupine.Operation
	for _, op := range h.Operations() {
		in, _ := op.Input.(StreamInput)
		o, _ := op.Output.(StreamOutput)
		if in.Kind == OpAppend && o.Outcome == Ok {
			out = append(out, op)
		}
	}
	return out
}

// Counts summarises the history: appends by outcome, and reads.
func (h *History) Counts() map[string]int {
	m := map[string]int{}
	for _, op := range h.Operations() {
		in := op.Input.(StreamInput)
		if in.Kind == OpRead {
			m["read"]++
			continue
		}
		m["append "+op.Output.(StreamOutput).Outcome.String()]++
	}
	return m
}

// Classify maps an append's error to its outcome: definite refusals
// (NotHandled, access, bad request) had no effect; a wrong expected
// version is its own outcome; anything else (timeouts of the client or
// the server, a lost connection, a server error) may or may not have been
// applied.
func Classify(err error) Outcome {
	switch {
	case err == nil:
		return Ok
	case errors.Is(err, client.ErrWrongExpectedVersion):
		return WrongVersion
	case errors.Is(err, client.ErrNotHandled), errors.Is(err, client.ErrAccessDenied),
		errors.Is(err, client.ErrNotAuthenticated), errors.Is(err, client.ErrBadRequest):
		return NoEffect
	}
	return Unknown
}

// Workload drives clients that append to and read a few streams,
// recording every operation in a History. Each client keeps a connection
// to one node; it follows NotMaster to the master it names, and moves to
// the next node of Addrs when its connection fails.
type Workload struct {
	// Addrs are the nodes' external TCP endpoints.
	Addrs []string
	// Clients run concurrently (default 4); Streams are shared by all
	// (default 4), so appends with exact versions conflict.
	Clients, Streams int
	// Prefix names the streams (Prefix-0, Prefix-1, ...).
	Prefix string
	// OpTimeout bounds each operation (default 3 s); a timed-out append is
	// recorded with an unknown outcome.
	OpTimeout time.Duration
	// ReadRatio is the share of reads (default 0.3).
	ReadRatio float64
	// Pause between a client's operations (default 5 ms).
	Pause time.Duration
	// RequireMaster is sent with every request: a slave answers NotMaster
	// instead of serving (reads stay linearizable; writes are not forwarded).
	RequireMaster bool
	// Seed makes the choice of operations reproducible.
	Seed uint64

	errs        atomic.Int64
	mu          sync.Mutex
	first, last []string
}

// errorSamples bounds the errors kept for diagnostics: the first and the
// last few.
const errorSamples = 5

func (w *Workload) sample(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := fmt.Sprintf("%s %v", time.Now().UTC().Format("15:04:05.000"), err)
	if len(w.first) < errorSamples {
		w.first = append(w.first, s)
		return
	}
	if len(w.last) == errorSamples {
		w.last = w.last[1:]
	}
	w.last = append(w.last, s)
}

// ErrorSamples returns the first and the last few errors counted by
// Errors, each with its time.
func (w *Workload) ErrorSamples() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append(append([]string(nil), w.first...), w.last...)
}

// Stream returns the name of stream i.
func (w *Workload) Stream(i int) string { return w.Prefix + "-" + strconv.Itoa(i) }

func (w *Workload) defaults() {
	if w.Clients == 0 {
		w.Clients = 4
	}
	if w.Streams == 0 {
		w.Streams = 4
	}
	if w.Prefix == "" {
		w.Prefix = "lin"
	}
	if w.OpTimeout == 0 {
		w.OpTimeout = 3 * time.Second
	}
	if w.ReadRatio == 0 {
		w.ReadRatio = 0.3
	}
	if w.Pause == 0 {
		w.Pause = 5 * time.Millisecond
	}
}

// Run runs the clients until ctx ends, recording into h.
func (w *Workload) Run(ctx context.Context, h *History) {
	w.defaults()
	var wg sync.WaitGroup
	for i := 0; i < w.Clients; i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			w.client(ctx, h, id)
		}(i)
	}
	wg.Wait()
}

// clientOptions: no reconnection and no resending by the client itself:
// the workload sees every failure and records it as such.
func (w *Workload) clientOptions() client.Options {
	return client.Options{
		Credentials:      &client.Credentials{Login: "admin", Password: "changeit"},
		OperationTimeout: w.OpTimeout, DialTimeout: time.Second,
		HeartbeatInterval: 250 * time.Millisecond, HeartbeatTimeout: 750 * time.Millisecond,
		MaxRetries: 20, RetryDelay: 50 * time.Millisecond, RequireMaster: w.RequireMaster,
	}
}

func (w *Workload) client(ctx context.Context, h *History, id int) {
	rng := rand.New(rand.NewPCG(w.Seed, uint64(id)))
	target := w.Addrs[id%len(w.Addrs)]
	next := id
	var c *client.Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for ctx.Err() == nil {
		if c == nil {
			dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			var err error
			c, err = client.Dial(dctx, target, w.clientOptions())
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					w.errs.Add(1)
					w.sample(fmt.Errorf("dial %s: %w", target, err))
				}
				c = nil
				next++
				target = w.Addrs[next%len(w.Addrs)]
				sleepCtx(ctx, 100*time.Millisecond)
				continue
			}
		}
		stream := w.Stream(rng.IntN(w.Streams))
		var err error
		if rng.Float64() < w.ReadRatio {
			err = w.read(ctx, h, c, id, stream, target)
		} else {
			err = w.append(ctx, h, c, id, stream, target, rng)
		}
		var nh *client.NotHandledError
		switch {
		case err == nil, errors.Is(err, client.ErrWrongExpectedVersion):
		case errors.As(err, &nh) && nh.Master != nil:
			// Follow the master the node names.
			c.Close()
			c = nil
			target = net.JoinHostPort(nh.Master.ExternalTCPAddress, strconv.Itoa(int(nh.Master.ExternalTCPPort)))
		default:
			if ctx.Err() == nil {
				w.errs.Add(1)
				w.sample(err)
			}
			c.Close()
			c = nil
			next++
			target = w.Addrs[next%len(w.Addrs)]
		}
		sleepCtx(ctx, w.Pause)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// append writes one or two events with expected version any, or exact
// (the last version this client saw on the stream, or NoStream).
func (w *Workload) append(ctx context.Context, h *History, c *client.Client, id int, stream, node string, rng *rand.Rand) error {
	n := 1 + rng.IntN(2)
	evs := make([]client.EventData, n)
	ids := make([]string, n)
	for i := range evs {
		g := client.NewGUID()
		evs[i] = client.EventData{ID: g, Type: "lin", IsJSON: true, Data: []byte(`{"c":` + strconv.Itoa(id) + `}`)}
		ids[i] = g.String()
	}
	exp := ExpectedAny
	if rng.IntN(2) == 0 {
		// An exact version from a fresh read of the master: often right,
		// sometimes overtaken by another client (wrong version).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.OpTimeout)
		s, err := c.ReadStreamBackward(rctx, stream, -1, 1, false)
		cancel()
		switch {
		case err != nil:
			return err
		case s.Status == client.ReadNoStream:
			exp = ExpectedNoStream
		default:
			exp = s.LastEventNumber
		}
	}
	in := StreamInput{Kind: OpAppend, Stream: stream, Expected: exp, IDs: ids, Node: node}
	call := h.Now()
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.OpTimeout)
	res, err := c.AppendToStream(octx, stream, exp, evs...)
	cancel()
	ret := h.Now()
	out := StreamOutput{Outcome: Classify(err)}
	switch out.Outcome {
	case Ok:
		out.First, out.Last = res.FirstEventNumber, res.NextExpectedVersion
	case Unknown:
		ret = UnknownReturn
	}
	h.Add(porcupine.Operation{ClientId: id, Input: in, Call: call, Output: out, Return: ret})
	return err
}

// maxReadCount bounds a recorded read; a stream longer than this ends
// the read's usefulness, so workloads keep streams shorter (the check's
// cost grows with the states anyway).
const maxReadCount = 4096

// read reads the whole stream forward; only successful reads are
// recorded (a failed read constrains nothing).
func (w *Workload) read(ctx context.Context, h *History, c *client.Client, id int, stream, node string) error {
	call := h.Now()
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.OpTimeout)
	s, err := c.ReadStreamForward(octx, stream, 0, maxReadCount, false)
	cancel()
	ret := h.Now()
	if err != nil {
		return err
	}
	if !s.IsEndOfStream && s.Status == client.ReadSuccess {
		return fmt.Errorf("stream %s is longer than %d events", stream, maxReadCount)
	}
	var ids []string
	for _, e := range s.Events {
		ids = append(ids, e.OriginalEvent().ID.String())
	}
	h.Add(porcupine.Operation{ClientId: id, Input: StreamInput{Kind: OpRead, Stream: stream, Node: node},
		Call: call, Output: StreamOutput{IDs: ids}, Return: ret})
	return nil
}

// Errors is how many dials and operations failed other than by wrong
// version or NotMaster (each made the client change connection).
func (w *Workload) Errors() int64 { return w.errs.Load() }

// Check runs porcupine over the history; on a violation it writes the
// visualization to vizPath (when not empty) and returns an error naming it.
func Check(h *History, timeout time.Duration, vizPath string) error {
	model := StreamModel.ToModel()
	res, info := porcupine.CheckOperationsVerbose(model, h.Operations(), timeout)
	switch res {
	case porcupine.Ok:
		return nil
	case porcupine.Unknown:
		return fmt.Errorf("linearizability check did not finish within %v", timeout)
	}
	msg := "history is not linearizable"
	if vizPath != "" {
		if err := porcupine.VisualizePath(model, info, vizPath); err == nil {
			msg += "; see " + vizPath
		}
	}
	return fmt.Errorf("%s\n%s", msg, DescribeViolations(h, timeout))
}

// DescribeViolations checks each stream alone and, for the first stream
// that is not linearizable, finds the earliest time t at which the
// history known by then is already illegal (bisection over the ops'
// call and return times; see knownAt), and lists the ops of that
// stream around t in call order: the last describeWindow called up to
// t, plus every append of unknown outcome called before them (it may
// take effect at any later time). Reads are shown by length and last
// ids, each id by its first 8 characters, with "!" where a read is not
// an extension of the previous one listed (events vanished or
// reordered).
func DescribeViolations(h *History, timeout time.Duration) string {
	model := StreamModel.ToModel()
	for _, part := range StreamModel.Partition(h.Operations()) {
		if porcupine.CheckOperationsTimeout(model, part, timeout) != porcupine.Illegal {
			continue
		}
		sort.Slice(part, func(i, j int) bool { return part[i].Call < part[j].Call })
		var times []int64
		for _, op := range part {
			times = append(times, op.Call)
			if op.Return != UnknownReturn {
				times = append(times, op.Return)
			}
		}
		slices.Sort(times)
		times = slices.Compact(times)
		lo, hi := 0, len(times)-1
		for lo < hi {
			mid := (lo + hi) / 2
			if porcupine.CheckOperationsTimeout(model, knownAt(part, times[mid]), timeout) == porcupine.Illegal {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		t := times[hi]
		var b strings.Builder
		fmt.Fprintf(&b, "stream %s is not linearizable (%d operations); what was known at %v (%s UTC, the node logs' clock) is already illegal:\n",
			part[0].Input.(StreamInput).Stream, len(part), time.Duration(t), h.start.Add(time.Duration(t)).UTC().Format("15:04:05.000000"))
		known := knownAt(part, t)
		from := max(0, len(known)-describeWindow)
		var prev []string
		for k, op := range known {
			in, out := op.Input.(StreamInput), op.Output.(StreamOutput)
			if k < from && !(in.Kind == OpAppend && out.Outcome == Unknown) {
				continue
			}
			ret := "∞"
			if op.Return != UnknownReturn {
				ret = time.Duration(op.Return).String()
			}
			var what string
			if in.Kind == OpRead {
				acked := ackedBefore(known, op.Call)
				mark := ""
				switch {
				case int64(len(out.IDs)) < acked:
					mark = fmt.Sprintf("! (stale: %d events were acknowledged before it began) ", acked)
				case prev != nil && (len(out.IDs) < len(prev) || !slices.Equal(out.IDs[:len(prev)], prev)):
					mark = "! (not an extension of the previous read listed) "
				}
				what = fmt.Sprintf("%sread → %d events [...%s]", mark, len(out.IDs), shortIDs(out.IDs[max(0, len(out.IDs)-3):]))
				prev = out.IDs
			} else {
				what = fmt.Sprintf("append(exp %d, [%s]) → %s", in.Expected, shortIDs(in.IDs), out.Outcome)
				if out.Outcome == Ok {
					what += fmt.Sprintf(" %d..%d", out.First, out.Last)
				}
			}
			if in.Node != "" {
				what += " @" + in.Node
			}
			fmt.Fprintf(&b, "  c%d [%v, %s] %s\n", op.ClientId, time.Duration(op.Call), ret, what)
		}
		return b.String()
	}
	return "(no single stream fails on its own)"
}

// ackedBefore is the stream length that appends acknowledged before
// time t imply (the highest event number acknowledged, plus one).
func ackedBefore(ops []porcupine.Operation, t int64) int64 {
	var n int64
	for _, op := range ops {
		if o := op.Output.(StreamOutput); op.Input.(StreamInput).Kind == OpAppend && o.Outcome == Ok && op.Return < t {
			n = max(n, o.Last+1)
		}
	}
	return n
}

// describeWindow is how many ops DescribeViolations lists before the
// point where the history became illegal.
const describeWindow = 40

// knownAt is the history as it was known at time t: ops called after t
// are left out; an append still running at t has an unknown outcome
// (return ∞), and a read still running at t is left out (it constrains
// nothing yet). Unlike a prefix of the ops in call order, which can be
// illegal on its own (a read that returned late and saw an append called
// after the cut), knownAt is monotonic: once it is illegal at t it is at
// every later t, so bisection finds the first illegal t.
func knownAt(ops []porcupine.Operation, t int64) []porcupine.Operation {
	var out []porcupine.Operation
	for _, op := range ops {
		if op.Call > t {
			continue
		}
		if op.Return > t {
			if op.Input.(StreamInput).Kind == OpRead {
				continue
			}
			op.Output = StreamOutput{Outcome: Unknown}
			op.Return = UnknownReturn
		}
		out = append(out, op)
	}
	return out
}

func shortIDs(ids []string) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id[:min(8, len(id))]
	}
	return strings.Join(s, ",")
}

// ReadAllIDs reads stream in full from addr (require master off: what
// that node itself holds).
func ReadAllIDs(ctx context.Context, addr, stream string) ([]string, error) {
	c, err := client.Dial(ctx, addr, client.Options{
		Credentials: &client.Credentials{Login: "admin", Password: "changeit"}, MaxRetries: -1})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var ids []string
	from := int64(0)
	for {
		s, err := c.ReadStreamForward(ctx, stream, from, 1000, false)
		if err != nil {
			return nil, err
		}
		for _, e := range s.Events {
			ids = append(ids, e.OriginalEvent().ID.String())
		}
		if s.IsEndOfStream || s.Status != client.ReadSuccess {
			return ids, nil
		}
		from = s.NextEventNumber
	}
}

// MissingAcknowledged checks every acknowledged append of h against what
// the node at addr holds: each event at the number it was acknowledged
// with. It returns a description of each missing or misplaced event.
func MissingAcknowledged(ctx context.Context, h *History, addr string) ([]string, error) {
	held := map[string][]string{}
	var missing []string
	for _, op := range h.Acknowledged() {
		in, out := op.Input.(StreamInput), op.Output.(StreamOutput)
		ids, ok := held[in.Stream]
		if !ok {
			var err error
			if ids, err = ReadAllIDs(ctx, addr, in.Stream); err != nil {
				return nil, err
			}
			held[in.Stream] = ids
		}
		for i, id := range in.IDs {
			n := out.First + int64(i)
			if n >= int64(len(ids)) || ids[n] != id {
				missing = append(missing, fmt.Sprintf("%s@%d (%s)", in.Stream, n, id))
			}
		}
	}
	return missing, nil
}
