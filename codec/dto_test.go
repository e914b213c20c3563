package codec

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func id16(first byte) []byte { g := seqGUID(first); return g[:] }

func TestWriteEventsBytesArePinned(t *testing.T) {
	want := unhex(t, `
		0a 01 73                                   # 1 event_stream_id "s"
		10 fe ff ff ff ff ff ff ff ff 01           # 2 expected_version -2 (10-byte varint, no zig-zag)
		1a 1d                                      # 3 events, 29 bytes
		   0a 10 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10  # event_id
		   12 01 74                                # event_type "t"
		   18 01                                   # data_content_type 1
		   20 00                                   # metadata_content_type 0 (required: written)
		   2a 02 7b 7d                             # data "{}"
		20 00                                      # 4 require_master false (required: written)`)
	m := WriteEvents{EventStreamID: "s", ExpectedVersion: -2, Events: []NewEvent{{
		EventID: id16(1), EventType: "t", DataContentType: 1, Data: []byte("{}")}}}
	if got := AppendWriteEvents(nil, &m); !bytes.Equal(got, want) {
		t.Fatalf("unexpected encoding;\ngot  % x\nwant % x", got, want)
	}
	var d WriteEvents
	if err := DecodeWriteEvents(want, &d); err != nil {
		t.Fatal(err)
	}
	if d.EventStreamID != "s" || d.ExpectedVersion != -2 || len(d.Events) != 1 || d.RequireMaster ||
		!bytes.Equal(d.Events[0].EventID, id16(1)) || d.Events[0].EventType != "t" ||
		d.Events[0].DataContentType != 1 || string(d.Events[0].Data) != "{}" || d.Events[0].Metadata != nil {
		t.Fatalf("unexpected decode %+v", d)
	}
}

func TestWriteEventsCompletedBytesArePinned(t *testing.T) {
	want := unhex(t, `
		08 00        # result Success
		18 00        # first_event_number 0
		20 02        # last_event_number 2
		28 64        # prepare_position 100
		30 64        # commit_position 100
		38 ff ff ff ff ff ff ff ff ff 01  # current_version -1`)
	m := WriteEventsCompleted{LastEventNumber: 2, PreparePosition: 100, CommitPosition: 100, CurrentVersion: -1}
	if got := AppendWriteEventsCompleted(nil, &m); !bytes.Equal(got, want) {
		t.Fatalf("unexpected encoding;\ngot  % x\nwant % x", got, want)
	}
	m = WriteEventsCompleted{Result: OperationWrongExpectedVersion, Message: "Wrong expected version.",
		FirstEventNumber: -2147483648, LastEventNumber: -2147483648, CurrentVersion: 5}
	got := AppendWriteEventsCompleted(nil, &m)
	want = unhex(t, `08 04 12 17`+hexOf("Wrong expected version.")+`
		18 80 80 80 80 f8 ff ff ff ff 01
		20 80 80 80 80 f8 ff ff ff ff 01
		28 00 30 00 38 05`)
	if !bytes.Equal(got, want) {
		t.Fatalf("unexpected failure encoding;\ngot  % x\nwant % x", got, want)
	}
}

func hexOf(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteString(" ")
		b.WriteString(strings.ToLower(string("0123456789abcdef"[s[i]>>4]) + string("0123456789abcdef"[s[i]&15])))
	}
	return b.String() + " "
}

func sampleRecord() EventRecord {
	return EventRecord{EventStreamID: "s", EventID: id16(1), EventType: "t",
		DataContentType: 1, MetadataContentType: 1, Created: 5, CreatedEpoch: 6}
}

const sampleRecordHex = `
	0a 01 73        # event_stream_id "s"
	10 00           # event_number 0
	1a 10 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10
	22 01 74        # event_type "t"
	28 01 30 01     # content types
	3a 00           # data: empty but written (node client requires it)
	42 00           # metadata: written even when empty
	48 05 50 06     # created, created_epoch`

func TestReadStreamEventsCompletedBytesArePinned(t *testing.T) {
	want := unhex(t, `0a 28 0a 26`+sampleRecordHex+`
		10 00    # result Success
		18 01    # next_event_number 1
		20 00    # last_event_number 0
		28 01    # is_end_of_stream true
		30 07    # last_commit_position 7`)
	m := ReadStreamEventsCompleted{
		Events:          []ResolvedIndexedEvent{{Event: sampleRecord(), HasEvent: true}},
		NextEventNumber: 1, IsEndOfStream: true, LastCommitPosition: 7}
	if got := AppendReadStreamEventsCompleted(nil, &m); !bytes.Equal(got, want) {
		t.Fatalf("unexpected encoding;\ngot  % x\nwant % x", got, want)
	}
	var d ReadStreamEventsCompleted
	if err := DecodeReadStreamEventsCompleted(want, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != 1 || !d.Events[0].HasEvent || d.Events[0].HasLink || d.Events[0].Event.CreatedEpoch != 6 ||
		d.Events[0].Event.Data == nil && false || !d.IsEndOfStream || d.LastCommitPosition != 7 {
		t.Fatalf("unexpected decode %+v", d)
	}
}

func TestReadEventCompletedAlwaysWritesEvent(t *testing.T) {
	m := ReadEventCompleted{Result: ReadEventNotFound}
	want := unhex(t, "08 01 12 00") // result NotFound, event = empty message
	if got := AppendReadEventCompleted(nil, &m); !bytes.Equal(got, want) {
		t.Fatalf("got % x; want % x", got, want)
	}
	if err := DecodeReadEventCompleted(unhex(t, "08 01"), &m); !errors.Is(err, ErrMissingField) ||
		!strings.Contains(err.Error(), "ReadEventCompleted.event") {
		t.Fatalf("decode without event: got %v", err)
	}
}

func TestNotHandledNotMasterBytesArePinned(t *testing.T) {
	info := MasterInfo{ExternalTCPAddress: "127.0.0.1", ExternalTCPPort: 1113,
		ExternalHTTPAddress: "127.0.0.1", ExternalHTTPPort: 2113}
	wantInfo := unhex(t, `0a 09`+hexOf("127.0.0.1")+`10 d9 08  1a 09`+hexOf("127.0.0.1")+`20 c1 10`)
	gotInfo := AppendMasterInfo(nil, &info)
	if !bytes.Equal(gotInfo, wantInfo) {
		t.Fatalf("MasterInfo: got % x; want % x", gotInfo, wantInfo)
	}
	nh := NotHandled{Reason: NotHandledNotMaster, AdditionalInfo: gotInfo}
	want := append(unhex(t, "08 02 12 1c"), wantInfo...)
	if got := AppendNotHandled(nil, &nh); !bytes.Equal(got, want) {
		t.Fatalf("NotHandled: got % x; want % x", got, want)
	}
	if got := AppendNotHandled(nil, &NotHandled{Reason: NotHandledNotReady}); !bytes.Equal(got, unhex(t, "08 00")) {
		t.Fatalf("NotReady: got % x", got)
	}
	info.ExternalSecureTCPAddress, info.ExternalSecureTCPPort, info.HasExternalSecureTCPPort = "10.0.0.1", 1115, true
	var d MasterInfo
	if err := DecodeMasterInfo(AppendMasterInfo(nil, &info), &d); err != nil || d != info {
		t.Fatalf("MasterInfo round trip: %+v %v", d, err)
	}
}

func TestSmallMessagesBytesArePinned(t *testing.T) {
	f := func(name string, got []byte, want string) {
		t.Helper()
		if w := unhex(t, want); !bytes.Equal(got, w) {
			t.Errorf("%s: got % x; want % x", name, got, w)
		}
	}
	f("IdentifyClient", AppendIdentifyClient(nil, &IdentifyClient{Version: 1, ConnectionName: "c"}), "08 01 12 01 63")
	f("SubscriptionConfirmation stream", AppendSubscriptionConfirmation(nil, &SubscriptionConfirmation{LastCommitPosition: 300, LastEventNumber: -1, HasLastEventNumber: true}),
		"08 ac 02 10 ff ff ff ff ff ff ff ff ff 01")
	f("SubscriptionConfirmation $all", AppendSubscriptionConfirmation(nil, &SubscriptionConfirmation{LastCommitPosition: 300}), "08 ac 02")
	f("SubscriptionDropped", AppendSubscriptionDropped(nil, &SubscriptionDropped{}), "08 00")
	f("ReadEvent", AppendReadEvent(nil, &ReadEvent{EventStreamID: "a", EventNumber: -1, ResolveLinkTos: true}),
		"0a 01 61 10 ff ff ff ff ff ff ff ff ff 01 18 01 20 00")
	f("ReadStreamEvents", AppendReadStreamEvents(nil, &ReadStreamEvents{EventStreamID: "a", MaxCount: 4096}),
		"0a 01 61 10 00 18 80 20 20 00 28 00")
	f("ReadAllEvents", AppendReadAllEvents(nil, &ReadAllEvents{CommitPosition: -1, PreparePosition: -1, MaxCount: 1}),
		"08 ff ff ff ff ff ff ff ff ff 01 10 ff ff ff ff ff ff ff ff ff 01 18 01 20 00 28 00")
	f("StreamEventAppeared", AppendStreamEventAppeared(nil, &StreamEventAppeared{Event: ResolvedEvent{CommitPosition: 1, PreparePosition: 2}}),
		"0a 04 18 01 20 02")
	f("PersistentSubscriptionStreamEventAppeared 4.0", AppendPersistentSubscriptionStreamEventAppeared(nil, &PersistentSubscriptionStreamEventAppeared{}), "0a 00")
	f("PersistentSubscriptionConfirmation", AppendPersistentSubscriptionConfirmation(nil, &PersistentSubscriptionConfirmation{LastCommitPosition: 1, SubscriptionID: "s::g", LastEventNumber: 3, HasLastEventNumber: true}),
		"08 01 12 04"+hexOf("s::g")+"18 03")
	f("PersistentSubscriptionNakEvents", AppendPersistentSubscriptionNakEvents(nil, &PersistentSubscriptionNakEvents{SubscriptionID: "x", ProcessedEventIDs: [][]byte{{1}, {2}}, Action: NakRetry}),
		"0a 01 78 12 01 01 12 01 02 20 02")
	f("ScavengeDatabaseCompleted", AppendScavengeDatabaseCompleted(nil, &ScavengeDatabaseCompleted{Result: ScavengeCompletedFailed, Error: "Access denied."}),
		"08 02 12 0e"+hexOf("Access denied.")+"18 00 20 00")
	f("DeleteStream", AppendDeleteStream(nil, &DeleteStream{EventStreamID: "a", ExpectedVersion: 3, HardDelete: true}), "0a 01 61 10 03 18 00 20 01")
	f("TransactionCommitCompleted", AppendTransactionCommitCompleted(nil, &TransactionCommitCompleted{TransactionID: 9, FirstEventNumber: 1, LastEventNumber: 2, PreparePosition: 3, CommitPosition: 3}),
		"08 09 10 00 20 01 28 02 30 03 38 03")
}

// dtoCase drives the generic round-trip, required-field and fuzz tests.
type dtoCase struct {
	name    string
	encoded []byte
	decode  func([]byte) ([]byte, error) // decode, then re-encode
	// reuse decodes into a fresh message and returns a function that
	// decodes the same bytes into that message again.
	reuse    func([]byte) func() error
	required []protowire.Number
}

func mk[T any](name string, m T, enc func([]byte, *T) []byte, dec func([]byte, *T) error, required ...protowire.Number) dtoCase {
	return dtoCase{
		name:    name,
		encoded: enc(nil, &m),
		decode: func(b []byte) ([]byte, error) {
			var d T
			if err := dec(b, &d); err != nil {
				return nil, err
			}
			return enc(nil, &d), nil
		},
		reuse: func(b []byte) func() error {
			var d T
			_ = dec(b, &d)
			return func() error { return dec(b, &d) }
		},
		required: required,
	}
}

func allDTOCases() []dtoCase {
	rec := sampleRecord()
	link := sampleRecord()
	link.EventType, link.Data = "$>", []byte("0@s")
	ne := NewEvent{EventID: id16(3), EventType: "type", DataContentType: 1, Data: []byte(`{"a":1}`), Metadata: []byte("m")}
	settings := CreatePersistentSubscription{SubscriptionGroupName: "g", EventStreamID: "s", ResolveLinkTos: true, StartFrom: -1,
		MessageTimeoutMilliseconds: 30000, RecordStatistics: true, LiveBufferSize: 500, ReadBatchSize: 20, BufferSize: 500,
		MaxRetryCount: 10, PreferRoundRobin: true, CheckpointAfterTime: 2000, CheckpointMaxCount: 1000, CheckpointMinCount: 10,
		SubscriberMaxCount: 5, NamedConsumerStrategy: "RoundRobin"}
	return []dtoCase{
		mk("NewEvent", ne, AppendNewEvent, DecodeNewEvent, 1, 2, 3, 4, 5),
		mk("EventRecord", rec, AppendEventRecord, DecodeEventRecord, 1, 2, 3, 4, 5, 6, 7),
		mk("ResolvedIndexedEvent", ResolvedIndexedEvent{Event: rec, HasEvent: true, Link: link, HasLink: true}, AppendResolvedIndexedEvent, DecodeResolvedIndexedEvent),
		mk("ResolvedEvent", ResolvedEvent{Link: link, HasLink: true, CommitPosition: 10, PreparePosition: 9}, AppendResolvedEvent, DecodeResolvedEvent, 3, 4),
		mk("WriteEvents", WriteEvents{EventStreamID: "s", ExpectedVersion: -4, Events: []NewEvent{ne, ne}, RequireMaster: true}, AppendWriteEvents, DecodeWriteEvents, 1, 2, 4),
		mk("WriteEventsCompleted", WriteEventsCompleted{Result: OperationStreamDeleted, Message: "Stream is deleted.", FirstEventNumber: 1, LastEventNumber: 2, PreparePosition: 3, CommitPosition: 4, CurrentVersion: 5}, AppendWriteEventsCompleted, DecodeWriteEventsCompleted, 1, 3, 4),
		mk("DeleteStream", DeleteStream{EventStreamID: "s", ExpectedVersion: -2, RequireMaster: true, HardDelete: true}, AppendDeleteStream, DecodeDeleteStream, 1, 2, 3),
		mk("DeleteStreamCompleted", DeleteStreamCompleted{Result: OperationAccessDenied, Message: "Access denied.", PreparePosition: -1, CommitPosition: -1}, AppendDeleteStreamCompleted, DecodeDeleteStreamCompleted, 1),
		mk("TransactionStart", TransactionStart{EventStreamID: "s", ExpectedVersion: 7, RequireMaster: true}, AppendTransactionStart, DecodeTransactionStart, 1, 2, 3),
		mk("TransactionStartCompleted", TransactionStartCompleted{TransactionID: 77, Result: OperationSuccess, Message: "x"}, AppendTransactionStartCompleted, DecodeTransactionStartCompleted, 1, 2),
		mk("TransactionWrite", TransactionWrite{TransactionID: 77, Events: []NewEvent{ne}, RequireMaster: true}, AppendTransactionWrite, DecodeTransactionWrite, 1, 3),
		mk("TransactionWriteCompleted", TransactionWriteCompleted{TransactionID: 77, Result: OperationInvalidTransaction, Message: "x"}, AppendTransactionWriteCompleted, DecodeTransactionWriteCompleted, 1, 2),
		mk("TransactionCommit", TransactionCommit{TransactionID: 77, RequireMaster: true}, AppendTransactionCommit, DecodeTransactionCommit, 1, 2),
		mk("TransactionCommitCompleted", TransactionCommitCompleted{TransactionID: 77, Result: OperationSuccess, FirstEventNumber: 1, LastEventNumber: 3, PreparePosition: 9, CommitPosition: 9}, AppendTransactionCommitCompleted, DecodeTransactionCommitCompleted, 1, 2, 4, 5),
		mk("ReadEvent", ReadEvent{EventStreamID: "s", EventNumber: 3, ResolveLinkTos: true, RequireMaster: true}, AppendReadEvent, DecodeReadEvent, 1, 2, 3, 4),
		mk("ReadEventCompleted", ReadEventCompleted{Result: ReadEventSuccess, Event: ResolvedIndexedEvent{Event: rec, HasEvent: true}, Error: "e"}, AppendReadEventCompleted, DecodeReadEventCompleted, 1, 2),
		mk("ReadStreamEvents", ReadStreamEvents{EventStreamID: "s", FromEventNumber: -1, MaxCount: 20, ResolveLinkTos: true, RequireMaster: true}, AppendReadStreamEvents, DecodeReadStreamEvents, 1, 2, 3, 4, 5),
		mk("ReadStreamEventsCompleted", ReadStreamEventsCompleted{Events: []ResolvedIndexedEvent{{Event: rec, HasEvent: true}, {Link: link, HasLink: true}}, Result: ReadStreamSuccess, NextEventNumber: -1, LastEventNumber: 1, IsEndOfStream: true, LastCommitPosition: 100, Error: "e"}, AppendReadStreamEventsCompleted, DecodeReadStreamEventsCompleted, 2, 3, 4, 5, 6),
		mk("ReadAllEvents", ReadAllEvents{CommitPosition: 5, PreparePosition: 4, MaxCount: 3, ResolveLinkTos: true, RequireMaster: true}, AppendReadAllEvents, DecodeReadAllEvents, 1, 2, 3, 4, 5),
		mk("ReadAllEventsCompleted", ReadAllEventsCompleted{CommitPosition: 1, PreparePosition: 1, Events: []ResolvedEvent{{Event: rec, HasEvent: true, CommitPosition: 5, PreparePosition: 5}}, NextCommitPosition: 6, NextPreparePosition: 6, Result: ReadAllAccessDenied, Error: "e"}, AppendReadAllEventsCompleted, DecodeReadAllEventsCompleted, 1, 2, 4, 5),
		mk("SubscribeToStream", SubscribeToStream{EventStreamID: "s", ResolveLinkTos: true}, AppendSubscribeToStream, DecodeSubscribeToStream, 1, 2),
		mk("SubscriptionConfirmation", SubscriptionConfirmation{LastCommitPosition: 1, LastEventNumber: 2, HasLastEventNumber: true}, AppendSubscriptionConfirmation, DecodeSubscriptionConfirmation, 1),
		mk("StreamEventAppeared", StreamEventAppeared{Event: ResolvedEvent{Event: rec, HasEvent: true, CommitPosition: 3, PreparePosition: 3}}, AppendStreamEventAppeared, DecodeStreamEventAppeared, 1),
		mk("SubscriptionDropped", SubscriptionDropped{Reason: DropSubscriberMaxCountReached}, AppendSubscriptionDropped, DecodeSubscriptionDropped),
		mk("CreatePersistentSubscription", settings, AppendCreatePersistentSubscription, DecodeCreatePersistentSubscription, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
		mk("CreatePersistentSubscriptionCompleted", CreatePersistentSubscriptionCompleted{Result: CreatePersistentSubscriptionAlreadyExists, Reason: "r"}, AppendCreatePersistentSubscriptionCompleted, DecodeCreatePersistentSubscriptionCompleted, 1),
		mk("UpdatePersistentSubscriptionCompleted", UpdatePersistentSubscriptionCompleted{Result: UpdatePersistentSubscriptionDoesNotExist, Reason: "r"}, AppendUpdatePersistentSubscriptionCompleted, DecodeUpdatePersistentSubscriptionCompleted, 1),
		mk("DeletePersistentSubscription", DeletePersistentSubscription{SubscriptionGroupName: "g", EventStreamID: "s"}, AppendDeletePersistentSubscription, DecodeDeletePersistentSubscription, 1, 2),
		mk("DeletePersistentSubscriptionCompleted", DeletePersistentSubscriptionCompleted{Result: DeletePersistentSubscriptionFail, Reason: "r"}, AppendDeletePersistentSubscriptionCompleted, DecodeDeletePersistentSubscriptionCompleted, 1),
		mk("ConnectToPersistentSubscription", ConnectToPersistentSubscription{SubscriptionID: "g", EventStreamID: "s", AllowedInFlightMessages: 10}, AppendConnectToPersistentSubscription, DecodeConnectToPersistentSubscription, 1, 2, 3),
		mk("PersistentSubscriptionConfirmation", PersistentSubscriptionConfirmation{LastCommitPosition: 1, SubscriptionID: "s::g", LastEventNumber: -1, HasLastEventNumber: true}, AppendPersistentSubscriptionConfirmation, DecodePersistentSubscriptionConfirmation, 1, 2),
		mk("PersistentSubscriptionStreamEventAppeared", PersistentSubscriptionStreamEventAppeared{Event: ResolvedIndexedEvent{Event: rec, HasEvent: true}, RetryCount: 2, HasRetryCount: true}, AppendPersistentSubscriptionStreamEventAppeared, DecodePersistentSubscriptionStreamEventAppeared, 1),
		mk("PersistentSubscriptionAckEvents", PersistentSubscriptionAckEvents{SubscriptionID: "s::g", ProcessedEventIDs: [][]byte{id16(1), id16(2)}}, AppendPersistentSubscriptionAckEvents, DecodePersistentSubscriptionAckEvents, 1),
		mk("PersistentSubscriptionNakEvents", PersistentSubscriptionNakEvents{SubscriptionID: "s::g", ProcessedEventIDs: [][]byte{id16(1)}, Message: "m", Action: NakPark}, AppendPersistentSubscriptionNakEvents, DecodePersistentSubscriptionNakEvents, 1, 4),
		mk("NotHandled", NotHandled{Reason: NotHandledNotMaster, AdditionalInfo: []byte{1, 2}}, AppendNotHandled, DecodeNotHandled, 1),
		mk("MasterInfo", MasterInfo{ExternalTCPAddress: "a", ExternalTCPPort: 1, ExternalHTTPAddress: "b", ExternalHTTPPort: 2, ExternalSecureTCPAddress: "c", ExternalSecureTCPPort: 3, HasExternalSecureTCPPort: true}, AppendMasterInfo, DecodeMasterInfo, 1, 2, 3, 4),
		mk("ScavengeDatabaseResponse", ScavengeDatabaseResponse{Result: ScavengeInProgress, ScavengeID: "x"}, AppendScavengeDatabaseResponse, DecodeScavengeDatabaseResponse, 1),
		mk("ScavengeDatabaseCompleted", ScavengeDatabaseCompleted{Result: ScavengeCompletedSuccess, Error: "e", TotalTimeMs: 5, TotalSpaceSaved: 6}, AppendScavengeDatabaseCompleted, DecodeScavengeDatabaseCompleted, 1, 3, 4),
		mk("IdentifyClient", IdentifyClient{Version: 1, ConnectionName: "conn"}, AppendIdentifyClient, DecodeIdentifyClient, 1),
	}
}

// stripField removes every occurrence of field num from an encoding
// (parsed with protowire, not with the code under test).
func stripField(t *testing.T, b []byte, num protowire.Number) []byte {
	var out []byte
	for len(b) > 0 {
		n, _, l := protowire.ConsumeField(b)
		if l < 0 {
			t.Fatalf("bad encoding: %v", protowire.ParseError(l))
		}
		if n != num {
			out = append(out, b[:l]...)
		}
		b = b[l:]
	}
	return out
}

func TestEveryMessageRoundTrips(t *testing.T) {
	for _, c := range allDTOCases() {
		again, err := c.decode(c.encoded)
		if err != nil {
			t.Errorf("%s: decode of own encoding failed: %v", c.name, err)
			continue
		}
		if !bytes.Equal(again, c.encoded) {
			t.Errorf("%s: round trip changed bytes;\ngot  % x\nwant % x", c.name, again, c.encoded)
		}
	}
}

func TestEveryRequiredFieldIsWrittenAndChecked(t *testing.T) {
	for _, c := range allDTOCases() {
		for _, num := range c.required {
			stripped := stripField(t, c.encoded, num)
			if len(stripped) == len(c.encoded) {
				t.Errorf("%s: required field %d was not written", c.name, num)
				continue
			}
			_, err := c.decode(stripped)
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrMissingField) || fe.Message != c.name || fe.Field == "" {
				t.Errorf("%s without field %d: got %v; want a missing-field error naming it", c.name, num, err)
			}
		}
	}
}

func TestDecodersSkipUnknownFields(t *testing.T) {
	extra := unhex(t, `f8 07 01      # field 127 varint
		fa 07 02 aa bb                # field 127 bytes
		fd 07 01 02 03 04             # field 127 fixed32
		f9 07 01 02 03 04 05 06 07 08 # field 127 fixed64`)
	for _, c := range allDTOCases() {
		in := append(append(append([]byte{}, extra...), c.encoded...), extra...)
		again, err := c.decode(in)
		if err != nil || !bytes.Equal(again, c.encoded) {
			t.Errorf("%s with unknown fields: err=%v", c.name, err)
		}
	}
}

func TestDecodersRejectWrongWireTypeAndTruncation(t *testing.T) {
	for _, c := range allDTOCases() {
		if len(c.encoded) == 0 {
			continue
		}
		// Flip the wire type of the first field: varint<->bytes.
		bad := append([]byte{}, c.encoded...)
		num, typ, _ := protowire.ConsumeTag(bad)
		if typ == protowire.VarintType {
			bad = append(protowire.AppendTag(nil, num, protowire.BytesType), append([]byte{0}, bad[1:]...)...)
		} else {
			bad = append(protowire.AppendTag(nil, num, protowire.VarintType), 1)
		}
		if _, err := c.decode(bad); !errors.Is(err, ErrWireType) {
			t.Errorf("%s: wrong wire type: got %v; want ErrWireType", c.name, err)
		}
		// Every proper prefix either decodes (ends on a field boundary) or
		// fails cleanly; none may panic.
		for i := 0; i < len(c.encoded); i++ {
			_, _ = c.decode(c.encoded[:i])
		}
		if _, err := c.decode(c.encoded[:len(c.encoded)-1]); err == nil && c.encoded[len(c.encoded)-1] != 0 {
			// dropping the last byte of a varint or bytes field must fail
			t.Errorf("%s: truncated encoding decoded without error", c.name)
		}
	}
}

func TestRepeatedFieldLimit(t *testing.T) {
	var b []byte
	for i := 0; i <= RepeatedCountMax; i++ {
		b = append(b, 0x12, 0x00) // processed_event_ids: empty bytes
	}
	b = append(b, 0x0a, 0x00)
	var m PersistentSubscriptionAckEvents
	if err := DecodePersistentSubscriptionAckEvents(b, &m); !errors.Is(err, ErrTooManyElements) {
		t.Fatalf("got %v; want ErrTooManyElements", err)
	}
	if err := DecodePersistentSubscriptionAckEvents(b[2:], &m); err != nil || len(m.ProcessedEventIDs) != RepeatedCountMax {
		t.Fatalf("exactly the limit: %v, %d", err, len(m.ProcessedEventIDs))
	}
}

func TestDecodeReusesSlices(t *testing.T) {
	m := WriteEvents{EventStreamID: "s", Events: []NewEvent{{EventID: id16(1), EventType: "a", Metadata: []byte("old")}, {EventID: id16(2), EventType: "b"}}}
	enc := AppendWriteEvents(nil, &m)
	var d WriteEvents
	if err := DecodeWriteEvents(enc, &d); err != nil {
		t.Fatal(err)
	}
	first := &d.Events[0]
	one := WriteEvents{EventStreamID: "t", Events: []NewEvent{{EventID: id16(3), EventType: "c"}}}
	if err := DecodeWriteEvents(AppendWriteEvents(nil, &one), &d); err != nil {
		t.Fatal(err)
	}
	if &d.Events[0] != first || len(d.Events) != 1 || d.Events[0].Metadata != nil || d.Events[0].EventType != "c" {
		t.Fatalf("slice not reused or element not reset: %+v", d.Events)
	}
}
