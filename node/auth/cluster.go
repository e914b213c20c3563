package auth

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/eventstored/eventstored/store"
)

// CommitNotifier is implemented by a Backend that can tell when commits
// become readable (NewDBBackend's: store.DB.OnCommitted), including
// commits a cluster node applies from the master's replicated log. fn
// runs on the store's committer goroutine and must not block.
type CommitNotifier interface {
	OnCommitted(fn func(last store.Position))
}

// StartReplica marks the service ready without creating the default
// users: on a cluster node only the master can write, so the first master
// creates them (Start, retried by the node until it succeeds) and they
// reach the other nodes through replication, as in Event Store, where the
// master creates them on becoming master. Until then Authenticate answers
// ErrNotReady (no user has reached this node: it cannot judge
// credentials), and a login refused then is not remembered; anonymous
// requests are served.
//
// When the Backend is a CommitNotifier, StartReplica also follows the
// user changes that arrive by replication (userWatch), so that a change
// made through another node drops this node's cached credentials at
// once; Stop ends that. Call StartReplica once.
func (s *Service) StartReplica() error {
	if err := s.RefreshSettings(); err != nil {
		return err
	}
	if cn, ok := s.opts.Backend.(CommitNotifier); ok && s.watch == nil {
		s.watch = s.startUserWatch(cn)
	}
	s.replica = true
	s.ready.Store(true)
	return nil
}

// Stop ends what StartReplica started (the replicated-change watcher) and
// waits for it. Idempotent; a no-op on a service that was not started as
// a replica. The service still answers afterwards, without following
// replicated changes.
func (s *Service) Stop() {
	if w := s.watch; w != nil {
		w.stopOnce()
	}
}

// userWatch follows, on one goroutine, the streams through which user
// changes made on another node show up here (Event Store 4.0.3 keeps the
// nodes' caches fresh the same way: its PasswordChangeNotificationReader
// follows $users-password-notifications on every node):
//
//   - $users: a "$User" event per created login (body: the login), so
//     nothing cached about a login survives its replicated creation;
//   - $users-password-notifications: a "$PasswordChanged" event
//     ({"loginName": ...}) after every update, password change, disable
//     and delete (users.go), so credentials cached here stop working as
//     soon as the change is applied, not after CacheTTL, and a password
//     refused here just before a reset is taken right after it;
//   - $settings: the default ACLs are reloaded when it moves.
//
// The committer goroutine only pokes (a non-blocking send on a one-slot
// channel), so pokes during a pass coalesce into one more pass; a pass
// costs one index lookup per stream when nothing changed, and passes are
// at least watchPassInterval apart.
type userWatch struct {
	s    *Service
	poke chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
	// next event number to read per stream; owned by the watch goroutine
	// once startUserWatch returns.
	usersNext, notesNext, settingsNext int64
}

// watchPage bounds the events one read of a watched stream returns.
const watchPage = 100

// watchPassInterval spaces the watcher's passes: under a stream of group
// commits it makes at most 100 passes a second (three index lookups
// each), and a replicated user change reaches the caches at most this
// much later than the commit that applied it.
const watchPassInterval = 10 * time.Millisecond

func (s *Service) startUserWatch(cn CommitNotifier) *userWatch {
	w := &userWatch{s: s, poke: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	// Register before reading the heads: a commit between the two is
	// then seen by the first pass instead of being missed.
	cn.OnCommitted(func(store.Position) {
		select {
		case w.poke <- struct{}{}:
		default:
		}
	})
	w.usersNext = s.streamNext(UsersStream)
	w.notesNext = s.streamNext(PasswordNotificationsStream)
	w.settingsNext = s.streamNext(StreamSettings)
	go w.run()
	return w
}

func (w *userWatch) stopOnce() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

// streamNext is the number after the last event of stream (0 when it
// does not exist or cannot be read: then everything in it counts as new,
// which only costs invalidations).
func (s *Service) streamNext(stream string) int64 {
	st, ev, err := s.opts.Backend.ReadLast(stream)
	if err != nil || st != store.ReadSuccess {
		return 0
	}
	return ev.Number + 1
}

func (w *userWatch) run() {
	defer close(w.done)
	spacing := time.NewTimer(0)
	defer spacing.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-w.poke:
		}
		w.pass()
		// Pokes during the wait coalesce into the one-slot channel.
		spacing.Reset(watchPassInterval)
		select {
		case <-w.stop:
			return
		case <-spacing.C:
		}
	}
}

// pass reads what is new in the watched streams and invalidates.
func (w *userWatch) pass() {
	s := w.s
	w.usersNext = w.follow(UsersStream, w.usersNext, func(ev store.EventRecord) {
		if ev.Type == EventTypeUser {
			s.Invalidate(string(ev.Data))
		}
	})
	w.notesNext = w.follow(PasswordNotificationsStream, w.notesNext, func(ev store.EventRecord) {
		var n struct {
			LoginName string `json:"loginName"`
		}
		if ev.Type == EventTypePasswordChanged && json.Unmarshal(ev.Data, &n) == nil && n.LoginName != "" {
			s.Invalidate(n.LoginName)
		}
	})
	if next := w.follow(StreamSettings, w.settingsNext, func(store.EventRecord) {}); next != w.settingsNext {
		w.settingsNext = next
		if err := s.RefreshSettings(); err != nil {
			s.log.Warn("cannot refresh $settings after a replicated change", "err", err)
		}
	}
}

// follow reads stream from next to its end, calling fn per event, and
// returns the new next. A read error leaves next where it is (the next
// commit retries).
func (w *userWatch) follow(stream string, next int64, fn func(store.EventRecord)) int64 {
	for {
		sl, err := w.s.opts.Backend.ReadStreamForward(stream, next, watchPage)
		if err != nil || sl.Status != store.ReadSuccess {
			return next
		}
		from := next
		for _, e := range sl.Events {
			if e.HasEvent && e.Event.Number >= next {
				fn(e.Event)
				next = e.Event.Number + 1
			}
		}
		if len(sl.Events) < watchPage || sl.IsEndOfStream || next == from {
			return next
		}
		select {
		case <-w.stop:
			return next
		default:
		}
	}
}
