package tcpsvc

import (
	"testing"

	"github.com/eventstored/eventstored/codec"
)

// FuzzHandle feeds arbitrary commands, flags, credentials and payloads to
// a session over a real store and auth. Nothing may panic (a panic on a
// worker or the writer would kill the test binary), and every package
// gets at most one reply. The seed corpus covers every command code with
// a valid and a truncated payload; `go test` runs only the seeds.
func FuzzHandle(f *testing.F) {
	ev := newEvent("t", "{}")
	valid := map[codec.Command][]byte{}
	we := codec.WriteEvents{EventStreamID: "fz", ExpectedVersion: -2, Events: []codec.NewEvent{ev}}
	valid[codec.WriteEventsCommand] = codec.AppendWriteEvents(nil, &we)
	ds := codec.DeleteStream{EventStreamID: "fz-d", ExpectedVersion: -2}
	valid[codec.DeleteStreamCommand] = codec.AppendDeleteStream(nil, &ds)
	ts := codec.TransactionStart{EventStreamID: "fz", ExpectedVersion: -2}
	valid[codec.TransactionStartCommand] = codec.AppendTransactionStart(nil, &ts)
	tw := codec.TransactionWrite{TransactionID: 1, Events: []codec.NewEvent{ev}}
	valid[codec.TransactionWriteCommand] = codec.AppendTransactionWrite(nil, &tw)
	tc := codec.TransactionCommit{TransactionID: 1}
	valid[codec.TransactionCommitCommand] = codec.AppendTransactionCommit(nil, &tc)
	re := codec.ReadEvent{EventStreamID: "fz", EventNumber: -1, ResolveLinkTos: true}
	valid[codec.ReadEventCommand] = codec.AppendReadEvent(nil, &re)
	rs := codec.ReadStreamEvents{EventStreamID: "fz", MaxCount: 5, ResolveLinkTos: true}
	valid[codec.ReadStreamEventsForwardCommand] = codec.AppendReadStreamEvents(nil, &rs)
	valid[codec.ReadStreamEventsBackwardCommand] = codec.AppendReadStreamEvents(nil, &rs)
	ra := codec.ReadAllEvents{MaxCount: 5}
	valid[codec.ReadAllEventsForwardCommand] = codec.AppendReadAllEvents(nil, &ra)
	valid[codec.ReadAllEventsBackwardCommand] = codec.AppendReadAllEvents(nil, &ra)
	ic := codec.IdentifyClient{Version: 1, ConnectionName: "fz"}
	valid[codec.IdentifyClientCommand] = codec.AppendIdentifyClient(nil, &ic)
	for c := 0; c < 256; c++ {
		cmd := codec.Command(c)
		p := valid[cmd]
		f.Add(byte(c), byte(0), "", "", p)
		f.Add(byte(c), byte(codec.FlagAuthenticated), "admin", "changeit", p)
		if len(p) > 2 {
			f.Add(byte(c), byte(0), "", "", p[:len(p)/2])
		}
	}
	f.Add(byte(codec.WriteEventsCommand), byte(codec.FlagAuthenticated), "admin", "bad", valid[codec.WriteEventsCommand])
	// One worker: its FIFO queue orders the sentinel read after the fuzzed
	// request (see below).
	e := newEnv(f, func(o *Options) { o.Workers = 1 })
	f.Fuzz(func(t *testing.T, cmd, flags byte, login, password string, payload []byte) {
		if len(login) > codec.CredentialLengthMax || len(password) > codec.CredentialLengthMax {
			return
		}
		c := e.client(t)
		id := codec.NewGUID()
		p := codec.Package{Command: codec.Command(cmd), Flags: codec.Flags(flags), CorrelationID: id, Payload: payload}
		if p.Flags&codec.FlagAuthenticated != 0 {
			p.Login, p.Password = []byte(login), []byte(password)
		}
		c.sess.Handle(&p)
		// Sentinels: a read queued behind the fuzzed request on the single
		// worker, then (once it is answered, so after any write the fuzzed
		// request submitted) a write queued behind it at the writer.
		// Everything else that arrives meanwhile answers the fuzzed id.
		replies := 0
		sentinel := func(cmd codec.Command, payload []byte) {
			sid := codec.NewGUID()
			c.send(cmd, sid, anon, payload)
			for {
				r := c.reply()
				if r.CorrelationID == sid {
					return
				}
				if r.CorrelationID != id {
					t.Fatalf("reply %s with id %s; want %s", r.Command, r.CorrelationID, id)
				}
				replies++
			}
		}
		sentinel(codec.ReadEventCommand, valid[codec.ReadEventCommand])
		sentinel(codec.WriteEventsCommand, valid[codec.WriteEventsCommand])
		c.noReply()
		if replies > 1 {
			t.Fatalf("%d replies to one package", replies)
		}
	})
}
