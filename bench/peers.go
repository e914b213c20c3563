package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
)

// Peer targets: the same write workload against Redis Streams, PostgreSQL
// and NATS JetStream, each configured for durable writes by its script in
// bench/peers. A write of k events is atomic where the peer allows it
// (MULTI/EXEC for Redis, one transaction for PostgreSQL); JetStream has no
// atomic batch publish before 2.12, so k events are k acknowledged publishes.

// --- Redis Streams ---

// RedisTarget writes events with XADD.
type RedisTarget struct{ Addr string }

func (t *RedisTarget) Name() string { return "redis" }
func (t *RedisTarget) Close() error { return nil }

func (t *RedisTarget) Dial(ctx context.Context) (Session, error) {
	// One connection per session, like the eventstored sessions: PoolSize 1
	// and no idle reaping.
	c := redis.NewClient(&redis.Options{Addr: t.Addr, PoolSize: 1, MinIdleConns: 1, MaxRetries: -1,
		DialTimeout: 5 * time.Second, ReadTimeout: -1, WriteTimeout: -1, ContextTimeoutEnabled: true})
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("cannot connect to redis at %s: %w", t.Addr, err)
	}
	return &redisSession{c: c}, nil
}

func (t *RedisTarget) Prepare(ctx context.Context, cfg *Config, s Session, names []string) error {
	return nil
}

type redisSession struct{ c *redis.Client }

func (s *redisSession) Write(ctx context.Context, w *Worker) (int, error) {
	idx, _ := w.NextWriteStream()
	stream := w.Streams[idx]
	n := w.Cfg.EventsPerWrite
	if n == 1 {
		return 1, s.c.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"d", w.Payload}}).Err()
	}
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for i := 0; i < n; i++ {
			p.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"d", w.Payload}})
		}
		return nil
	})
	return n, err
}

func (s *redisSession) Read(ctx context.Context, w *Worker) (int, error) {
	return 0, fmt.Errorf("%w: redis runs the write workload only", ErrInvalidConfig)
}

func (s *redisSession) Close() error { return s.c.Close() }

// --- PostgreSQL ---

// PostgresTarget inserts one row per event into an events table; a write
// is one transaction (one INSERT per event, sent as a batch).
type PostgresTarget struct{ Addr string }

func (t *PostgresTarget) Name() string { return "postgres" }
func (t *PostgresTarget) Close() error { return nil }

func (t *PostgresTarget) connString() string {
	host, port := splitHostPort(t.Addr)
	return fmt.Sprintf("host=%s port=%s user=bench dbname=postgres sslmode=disable", host, port)
}

func (t *PostgresTarget) Dial(ctx context.Context) (Session, error) {
	c, err := pgx.Connect(ctx, t.connString())
	if err != nil {
		return nil, fmt.Errorf("cannot connect to postgres at %s: %w", t.Addr, err)
	}
	return &pgSession{c: c}, nil
}

// pgSchema mirrors what an event store keeps per event: stream, number
// within the stream is left to the sequence (the peer gets no
// expected-version check), id, type, data, time.
const pgSchema = `CREATE TABLE IF NOT EXISTS events (
	pos bigserial PRIMARY KEY,
	stream text NOT NULL,
	event_id uuid NOT NULL,
	event_type text NOT NULL,
	data bytea NOT NULL,
	created timestamptz NOT NULL DEFAULT now())`

func (t *PostgresTarget) Prepare(ctx context.Context, cfg *Config, s Session, names []string) error {
	ps := s.(*pgSession)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	_, err := ps.c.Exec(ctx, pgSchema)
	return err
}

type pgSession struct {
	mu sync.Mutex // pgx.Conn is not safe for concurrent use
	c  *pgx.Conn
}

const pgInsert = `INSERT INTO events (stream, event_id, event_type, data) VALUES ($1, $2, 'bench', $3)`

func (s *pgSession) Write(ctx context.Context, w *Worker) (int, error) {
	idx, _ := w.NextWriteStream()
	stream := w.Streams[idx]
	n := w.Cfg.EventsPerWrite
	s.mu.Lock()
	defer s.mu.Unlock()
	if n == 1 {
		_, err := s.c.Exec(ctx, pgInsert, stream, randomUUID(w), w.Payload)
		return 1, err
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	for i := 0; i < n; i++ {
		b.Queue(pgInsert, stream, randomUUID(w), w.Payload)
	}
	b.Queue("COMMIT")
	return n, s.c.SendBatch(ctx, b).Close()
}

func randomUUID(w *Worker) string {
	a, b := w.Rng.Uint64(), w.Rng.Uint64()
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}

func (s *pgSession) Read(ctx context.Context, w *Worker) (int, error) {
	return 0, fmt.Errorf("%w: postgres runs the write workload only", ErrInvalidConfig)
}

func (s *pgSession) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.c.Close(ctx)
}

// --- NATS JetStream ---

// NATSTarget publishes to a file-backed JetStream stream; each publish waits
// for the stream's ack (sent after the fsync with sync_interval: always).
type NATSTarget struct{ Addr string }

func (t *NATSTarget) Name() string { return "nats" }
func (t *NATSTarget) Close() error { return nil }

func (t *NATSTarget) Dial(ctx context.Context) (Session, error) {
	nc, err := nats.Connect("nats://"+t.Addr, nats.Timeout(5*time.Second), nats.NoReconnect())
	if err != nil {
		return nil, fmt.Errorf("cannot connect to nats at %s: %w", t.Addr, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("cannot open JetStream at %s: %w", t.Addr, err)
	}
	return &natsSession{nc: nc, js: js}, nil
}

func (t *NATSTarget) Prepare(ctx context.Context, cfg *Config, s Session, names []string) error {
	ns := s.(*natsSession)
	_, err := ns.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: "BENCH", Subjects: []string{"bench.>"}, Storage: jetstream.FileStorage, Replicas: 1,
	})
	return err
}

type natsSession struct {
	nc *nats.Conn
	js jetstream.JetStream
}

func (s *natsSession) Write(ctx context.Context, w *Worker) (int, error) {
	idx, _ := w.NextWriteStream()
	subject := "bench." + strconv.Itoa(idx)
	n := w.Cfg.EventsPerWrite
	if n == 1 {
		_, err := s.js.Publish(ctx, subject, w.Payload)
		return 1, err
	}
	futures := make([]jetstream.PubAckFuture, 0, n)
	for i := 0; i < n; i++ {
		f, err := s.js.PublishAsync(subject, w.Payload)
		if err != nil {
			return 0, err
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return 0, err
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return n, nil
}

func (s *natsSession) Read(ctx context.Context, w *Worker) (int, error) {
	return 0, fmt.Errorf("%w: nats runs the write workload only", ErrInvalidConfig)
}

func (s *natsSession) Close() error { s.nc.Close(); return nil }

func splitHostPort(addr string) (string, string) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[:i], addr[i+1:]
		}
	}
	return addr, ""
}
