package consensus

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Split routes vote traffic (pre-votes, votes and their answers) to Vote
// — internal HTTP — and everything else to Data — internal TCP once the
// reactor can dial (until then the node passes the HTTP transport for
// both).
type Split struct{ Vote, Data Transport }

func (s Split) Send(msgs []*pb.Message) {
	var v, d []*pb.Message
	for _, m := range msgs {
		if IsVoteTraffic(m.GetType()) {
			v = append(v, m)
		} else {
			d = append(d, m)
		}
	}
	if len(v) > 0 {
		s.Vote.Send(v)
	}
	if len(d) > 0 {
		s.Data.Send(d)
	}
}

// Wire format of a batch (the body of POST /cluster/raft): messages one
// after another, each a uvarint length then the protobuf raftpb.Message.
//
//	+---------------+----------------------+---------------+-----
//	| uvarint len n | n bytes raftpb.Msg   | uvarint len m | ...
//	+---------------+----------------------+---------------+-----
const (
	// MaxMessageBytes bounds one encoded message: the largest proposal
	// plus headroom for the message's own fields.
	MaxMessageBytes = MaxProposalBytes + 64<<10
	// MaxBatchBytes bounds one POST body; a sender starts a new batch
	// before crossing it.
	MaxBatchBytes = 2 * MaxMessageBytes
	// peerQueueMax bounds messages queued per peer; beyond it they are
	// dropped (raft retransmits).
	peerQueueMax = 1024
)

// Sentinel errors of the wire format.
var (
	ErrBadBatch      = errors.New("consensus: malformed raft batch")
	ErrBatchTooLarge = errors.New("consensus: raft batch too large")
)

// AppendMessage appends one framed message to b, marshalling it in
// place (no intermediate buffer: the size is computed once and reused).
func AppendMessage(b []byte, m *pb.Message) ([]byte, error) {
	n := proto.Size(m)
	if n > MaxMessageBytes {
		return b, fmt.Errorf("%w: message of %d bytes", ErrBatchTooLarge, n)
	}
	start := len(b)
	b = binary.AppendUvarint(b, uint64(n))
	out, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(b, m)
	if err != nil {
		return b[:start], err
	}
	if len(out)-len(b) != n {
		// The message changed between Size and MarshalAppend: a bug of
		// the caller (messages are immutable once handed to Send).
		return b[:start], fmt.Errorf("consensus: raft message of %d bytes marshalled to %d", n, len(out)-len(b))
	}
	return out, nil
}

// DecodeBatch calls fn for every message of body.
func DecodeBatch(body []byte, fn func(*pb.Message)) error {
	if len(body) > MaxBatchBytes {
		return ErrBatchTooLarge
	}
	for len(body) > 0 {
		n, k := binary.Uvarint(body)
		if k <= 0 || n > MaxMessageBytes || n > uint64(len(body)-k) {
			return ErrBadBatch
		}
		m := &pb.Message{}
		if err := proto.Unmarshal(body[k:k+int(n)], m); err != nil {
			return fmt.Errorf("%w: %v", ErrBadBatch, err)
		}
		fn(m)
		body = body[k+int(n):]
	}
	return nil
}

// HTTPTransport sends raft messages as batches POSTed to each peer's
// internal HTTP /cluster/raft. One goroutine per peer; each peer has a
// bounded queue.
type HTTPTransport struct {
	client      *http.Client
	log         *slog.Logger
	mu          sync.Mutex
	peers       map[uint64]*httpPeer
	unreachable func(id uint64)
	wg          sync.WaitGroup
	stop        chan struct{}
	stopOnce    sync.Once
}

type httpPeer struct {
	id  uint64
	url string
	q   chan *pb.Message
}

// RaftPath is the internal HTTP path raft batches are POSTed to.
const RaftPath = "/cluster/raft"

// NewHTTPTransport returns a transport whose POSTs time out after
// timeout (2 s, the election POST timeout of spec §5.6, when 0).
func NewHTTPTransport(timeout time.Duration, log *slog.Logger) *HTTPTransport {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	// An own connection pool, closed by Stop: nothing of the transport
	// outlives it.
	tr := &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}
	return &HTTPTransport{client: &http.Client{Timeout: timeout, Transport: tr}, log: log, peers: map[uint64]*httpPeer{}, stop: make(chan struct{})}
}

// SetUnreachableFunc implements Unreachable.
func (t *HTTPTransport) SetUnreachableFunc(fn func(id uint64)) {
	t.mu.Lock()
	t.unreachable = fn
	t.mu.Unlock()
}

// SetPeer sets (or changes) the internal HTTP address ("ip:port") of id.
func (t *HTTPTransport) SetPeer(id uint64, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	url := "http://" + addr + RaftPath
	if p := t.peers[id]; p != nil {
		if p.url == url {
			return
		}
		close(p.q) // its goroutine ends; a new one serves the new address
	}
	p := &httpPeer{id: id, url: url, q: make(chan *pb.Message, peerQueueMax)}
	t.peers[id] = p
	t.wg.Add(1)
	go t.sendLoop(p)
}

// Send queues msgs; a full queue or an unknown peer drops the message.
func (t *HTTPTransport) Send(msgs []*pb.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.stop:
		return
	default:
	}
	for _, m := range msgs {
		p := t.peers[m.GetTo()]
		if p == nil {
			continue
		}
		select {
		case p.q <- m:
		default:
		}
	}
}

func (t *HTTPTransport) sendLoop(p *httpPeer) {
	defer t.wg.Done()
	var buf []byte
	for {
		var m *pb.Message
		var ok bool
		select {
		case m, ok = <-p.q:
			if !ok {
				return
			}
		case <-t.stop:
			return
		}
		buf = appendQueued(buf[:0], m, p.q, t.log, p.id)
		if len(buf) == 0 {
			continue
		}
		if err := t.post(p.url, buf); err != nil {
			t.log.Debug("raft batch not delivered", "to", p.id, "err", err)
			t.mu.Lock()
			fn := t.unreachable
			t.mu.Unlock()
			if fn != nil {
				fn(p.id)
			}
		}
	}
}

func (t *HTTPTransport) post(url string, body []byte) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-t.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// appendQueued appends m and then whatever else q holds without waiting,
// up to about half of MaxBatchBytes, in the batch format: one batch per
// send, whichever transport sends it. A message that cannot be encoded is
// logged and left out.
func appendQueued(buf []byte, m *pb.Message, q chan *pb.Message, log *slog.Logger, to uint64) []byte {
	var err error
	for m != nil {
		if buf, err = AppendMessage(buf, m); err != nil {
			log.Error("raft message not sent", "to", to, "err", err)
		}
		m = nil
		if len(buf) < MaxBatchBytes/2 {
			select {
			case m = <-q:
			default:
			}
		}
	}
	return buf
}

// Stop ends all send goroutines (in-flight POSTs are cancelled).
func (t *HTTPTransport) Stop() {
	t.stopOnce.Do(func() {
		t.mu.Lock()
		close(t.stop)
		t.mu.Unlock()
	})
	t.wg.Wait()
	t.client.CloseIdleConnections()
}
