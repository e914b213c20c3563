// Command gendto writes codec/dto_gen.go: Go structs, Size/Append/Decode
// functions for every payload message of the v4 TCP client protocol
// (spec tcp-client-protocol §3, ClientMessageDtos.proto of Event Store
// 4.0.3). Run it with `go generate ./codec` after editing the table below.
package main

import (
	"bytes"
	"fmt"
	"go/format"
	"os"
	"strings"
)

// Emission rules for a field on encode.
const (
	req    = 'R' // proto2 required: always written, checked on decode
	always = 'A' // optional, but always written (the original does, or it is harmless)
	nonemp = 'N' // optional string/bytes written only when non-empty
	flag   = 'F' // optional with a Has<Field> presence flag
)

type field struct {
	num   int
	proto string // proto field name
	goN   string
	kind  string // string, bytes, int64, int32, bool, enum:<T>, msg:<T>, []msg:<T>, [][]byte
	rule  byte
	doc   string
}

type message struct {
	name   string
	doc    string
	fields []field
}

var messages = []message{
	{"NewEvent", "NewEvent is an event supplied by a client (spec §3.2).", []field{
		{1, "event_id", "EventID", "bytes", req, "16-byte GUID, .NET order"},
		{2, "event_type", "EventType", "string", req, ""},
		{3, "data_content_type", "DataContentType", "int32", req, "1 = JSON"},
		{4, "metadata_content_type", "MetadataContentType", "int32", req, ""},
		{5, "data", "Data", "bytes", req, ""},
		{6, "metadata", "Metadata", "bytes", nonemp, ""},
	}},
	{"EventRecord", "EventRecord is a stored event as the server returns it (spec §3.2).", []field{
		{1, "event_stream_id", "EventStreamID", "string", req, ""},
		{2, "event_number", "EventNumber", "int64", req, ""},
		{3, "event_id", "EventID", "bytes", req, ""},
		{4, "event_type", "EventType", "string", req, ""},
		{5, "data_content_type", "DataContentType", "int32", req, ""},
		{6, "metadata_content_type", "MetadataContentType", "int32", req, ""},
		{7, "data", "Data", "bytes", req, ""},
		{8, "metadata", "Metadata", "bytes", always, "always written, as the original does"},
		{9, "created", "Created", "int64", always, ".NET ticks"},
		{10, "created_epoch", "CreatedEpoch", "int64", always, "Unix ms; the node client reads only this"},
	}},
	{"ResolvedIndexedEvent", "ResolvedIndexedEvent is one entry of a stream read (spec §3.2). Event is declared required but the original omits it for an unresolvable link, so it has a presence flag.", []field{
		{1, "event", "Event", "msg:EventRecord", flag, ""},
		{2, "link", "Link", "msg:EventRecord", flag, ""},
	}},
	{"ResolvedEvent", "ResolvedEvent is one entry of a $all read or volatile push (spec §3.2).", []field{
		{1, "event", "Event", "msg:EventRecord", flag, ""},
		{2, "link", "Link", "msg:EventRecord", flag, ""},
		{3, "commit_position", "CommitPosition", "int64", req, ""},
		{4, "prepare_position", "PreparePosition", "int64", req, ""},
	}},
	{"WriteEvents", "WriteEvents is the payload of 0x82 (spec §3.3).", []field{
		{1, "event_stream_id", "EventStreamID", "string", req, ""},
		{2, "expected_version", "ExpectedVersion", "int64", req, ""},
		{3, "events", "Events", "[]msg:NewEvent", 0, ""},
		{4, "require_master", "RequireMaster", "bool", req, ""},
	}},
	{"WriteEventsCompleted", "WriteEventsCompleted is the payload of 0x83 (spec §3.3).", []field{
		{1, "result", "Result", "enum:OperationResult", req, ""},
		{2, "message", "Message", "string", nonemp, ""},
		{3, "first_event_number", "FirstEventNumber", "int64", req, ""},
		{4, "last_event_number", "LastEventNumber", "int64", req, ""},
		{5, "prepare_position", "PreparePosition", "int64", always, ""},
		{6, "commit_position", "CommitPosition", "int64", always, ""},
		{7, "current_version", "CurrentVersion", "int64", always, ""},
	}},
	{"DeleteStream", "DeleteStream is the payload of 0x8A (spec §3.3).", []field{
		{1, "event_stream_id", "EventStreamID", "string", req, ""},
		{2, "expected_version", "ExpectedVersion", "int64", req, ""},
		{3, "require_master", "RequireMaster", "bool", req, ""},
		{4, "hard_delete", "HardDelete", "bool", always, ""},
	}},
	{"DeleteStreamCompleted", "DeleteStreamCompleted is the payload of 0x8B (spec §3.3).", []field{
		{1, "result", "Result", "enum:OperationResult", req, ""},
		{2, "message", "Message", "string", nonemp, ""},
		{3, "prepare_position", "PreparePosition", "int64", always, ""},
		{4, "commit_position", "CommitPosition", "int64", always, ""},
	}},
	{"TransactionStart", "TransactionStart is the payload of 0x84 (spec §3.3).", []field{
		{1, "event_stream_id", "EventStreamID", "string", req, ""},
		{2, "expected_version", "ExpectedVersion", "int64", req, ""},
		{3, "require_master", "RequireMaster", "bool", req, ""},
	}},
	{"TransactionStartCompleted", "TransactionStartCompleted is the payload of 0x85 (spec §3.3).", []field{
		{1, "transaction_id", "TransactionID", "int64", req, ""},
		{2, "result", "Result", "enum:OperationResult", req, ""},
		{3, "message", "Message", "string", nonemp, ""},
	}},
	{"TransactionWrite", "TransactionWrite is the payload of 0x86 (spec §3.3).", []field{
		{1, "transaction_id", "TransactionID", "int64", req, ""},
		{2, "events", "Events", "[]msg:NewEvent", 0, ""},
		{3, "require_master", "RequireMaster", "bool", req, ""},
	}},
	{"TransactionWriteCompleted", "TransactionWriteCompleted is the payload of 0x87 (spec §3.3).", []field{
		{1, "transaction_id", "TransactionID", "int64", req, ""},
		{2, "result", "Result", "enum:OperationResult", req, ""},
		{3, "message", "Message", "string", nonemp, ""},
	}},
	{"TransactionCommit", "TransactionCommit is the payload of 0x88 (spec §3.3).", []field{
		{1, "transaction_id", "TransactionID", "int64", req, ""},
		{2, "require_master", "RequireMaster", "bool", req, ""},
	}},
	{"TransactionCommitCompleted", "TransactionCommitCompleted is the payload of 0x89 (spec §3.3).", []field{
		{1, "transaction_id", "TransactionID", "int64", req, ""},
		{2, "result", "Result", "enum:OperationResult", req, ""},
		{3, "message", "Message", "string", nonemp, ""},
		{4, "first_event_number", "FirstEventNumber", "int64", req, ""},
		{5, "last_event_number", "LastEventNumber", "int64", req, ""},
		{6, "prepare_position", "PreparePosition", "int64", always, ""},
		{7, "commit_position", "CommitPosition", "int64", always, ""},
	}},
	{"ReadEvent", "ReadEvent is the payload of 0xB0 (spec §3.4).", []field{
		{1, "event_stream_id", "EventStreamID", "string", req, ""},
		{2, "event_number", "EventNumber", "int64", req, ""},
		{3, "resolve_link_tos", "ResolveLinkTos", "bool", req, ""},
		{4, "require_master", "RequireMaster", "bool", req, ""},
	}},
	{"ReadEventCompleted", "ReadEventCompleted is the payload of 0xB1 (spec §3.4). Event is always written, as an empty message when there is no event.", []field{
		{1, "result", "Result", "enum:ReadEventResult", req, ""},
		{2, "event", "Event", "msg:ResolvedIndexedEvent", req, ""},
		{3, "error", "Error", "string", nonemp, ""},
	}},
	{"ReadStreamEvents", "ReadStreamEvents is the payload of 0xB2 and 0xB4 (spec §3.4).", []field{
		{1, "event_stream_id", "EventStreamID", "string", req, ""},
		{2, "from_event_number", "FromEventNumber", "int64", req, ""},
		{3, "max_count", "MaxCount", "int32", req, ""},
		{4, "resolve_link_tos", "ResolveLinkTos", "bool", req, ""},
		{5, "require_master", "RequireMaster", "bool", req, ""},
	}},
	{"ReadStreamEventsCompleted", "ReadStreamEventsCompleted is the payload of 0xB3 and 0xB5 (spec §3.4).", []field{
		{1, "events", "Events", "[]msg:ResolvedIndexedEvent", 0, ""},
		{2, "result", "Result", "enum:ReadStreamResult", req, ""},
		{3, "next_event_number", "NextEventNumber", "int64", req, ""},
		{4, "last_event_number", "LastEventNumber", "int64", req, ""},
		{5, "is_end_of_stream", "IsEndOfStream", "bool", req, ""},
		{6, "last_commit_position", "LastCommitPosition", "int64", req, ""},
		{7, "error", "Error", "string", nonemp, ""},
	}},
	{"ReadAllEvents", "ReadAllEvents is the payload of 0xB6 and 0xB8 (spec §3.4).", []field{
		{1, "commit_position", "CommitPosition", "int64", req, ""},
		{2, "prepare_position", "PreparePosition", "int64", req, ""},
		{3, "max_count", "MaxCount", "int32", req, ""},
		{4, "resolve_link_tos", "ResolveLinkTos", "bool", req, ""},
		{5, "require_master", "RequireMaster", "bool", req, ""},
	}},
	{"ReadAllEventsCompleted", "ReadAllEventsCompleted is the payload of 0xB7 and 0xB9 (spec §3.4).", []field{
		{1, "commit_position", "CommitPosition", "int64", req, ""},
		{2, "prepare_position", "PreparePosition", "int64", req, ""},
		{3, "events", "Events", "[]msg:ResolvedEvent", 0, ""},
		{4, "next_commit_position", "NextCommitPosition", "int64", req, ""},
		{5, "next_prepare_position", "NextPreparePosition", "int64", req, ""},
		{6, "result", "Result", "enum:ReadAllResult", always, "optional, default Success; always written"},
		{7, "error", "Error", "string", nonemp, ""},
	}},
	{"SubscribeToStream", "SubscribeToStream is the payload of 0xC0 (spec §3.5). An empty stream means $all.", []field{
		{1, "event_stream_id", "EventStreamID", "string", req, ""},
		{2, "resolve_link_tos", "ResolveLinkTos", "bool", req, ""},
	}},
	{"SubscriptionConfirmation", "SubscriptionConfirmation is the payload of 0xC1 (spec §3.5). LastEventNumber is omitted for $all.", []field{
		{1, "last_commit_position", "LastCommitPosition", "int64", req, ""},
		{2, "last_event_number", "LastEventNumber", "int64", flag, ""},
	}},
	{"StreamEventAppeared", "StreamEventAppeared is the payload of 0xC2 (spec §3.5).", []field{
		{1, "event", "Event", "msg:ResolvedEvent", req, ""},
	}},
	{"SubscriptionDropped", "SubscriptionDropped is the payload of 0xC4 (spec §3.5).", []field{
		{1, "reason", "Reason", "enum:SubscriptionDropReason", always, "optional, default Unsubscribed; always written"},
	}},
	{"CreatePersistentSubscription", "CreatePersistentSubscription is the payload of 0xC8; UpdatePersistentSubscription (0xCE) has the same fields (spec §3.6).", []field{
		{1, "subscription_group_name", "SubscriptionGroupName", "string", req, ""},
		{2, "event_stream_id", "EventStreamID", "string", req, ""},
		{3, "resolve_link_tos", "ResolveLinkTos", "bool", req, ""},
		{4, "start_from", "StartFrom", "int64", req, ""},
		{5, "message_timeout_milliseconds", "MessageTimeoutMilliseconds", "int32", req, ""},
		{6, "record_statistics", "RecordStatistics", "bool", req, ""},
		{7, "live_buffer_size", "LiveBufferSize", "int32", req, ""},
		{8, "read_batch_size", "ReadBatchSize", "int32", req, ""},
		{9, "buffer_size", "BufferSize", "int32", req, ""},
		{10, "max_retry_count", "MaxRetryCount", "int32", req, ""},
		{11, "prefer_round_robin", "PreferRoundRobin", "bool", req, ""},
		{12, "checkpoint_after_time", "CheckpointAfterTime", "int32", req, ""},
		{13, "checkpoint_max_count", "CheckpointMaxCount", "int32", req, ""},
		{14, "checkpoint_min_count", "CheckpointMinCount", "int32", req, ""},
		{15, "subscriber_max_count", "SubscriberMaxCount", "int32", req, ""},
		{16, "named_consumer_strategy", "NamedConsumerStrategy", "string", nonemp, ""},
	}},
	{"CreatePersistentSubscriptionCompleted", "CreatePersistentSubscriptionCompleted is the payload of 0xC9 (spec §3.6).", []field{
		{1, "result", "Result", "enum:CreatePersistentSubscriptionResult", req, ""},
		{2, "reason", "Reason", "string", nonemp, ""},
	}},
	{"UpdatePersistentSubscriptionCompleted", "UpdatePersistentSubscriptionCompleted is the payload of 0xCF (spec §3.6).", []field{
		{1, "result", "Result", "enum:UpdatePersistentSubscriptionResult", req, ""},
		{2, "reason", "Reason", "string", nonemp, ""},
	}},
	{"DeletePersistentSubscription", "DeletePersistentSubscription is the payload of 0xCA (spec §3.6).", []field{
		{1, "subscription_group_name", "SubscriptionGroupName", "string", req, ""},
		{2, "event_stream_id", "EventStreamID", "string", req, ""},
	}},
	{"DeletePersistentSubscriptionCompleted", "DeletePersistentSubscriptionCompleted is the payload of 0xCB (spec §3.6).", []field{
		{1, "result", "Result", "enum:DeletePersistentSubscriptionResult", req, ""},
		{2, "reason", "Reason", "string", nonemp, ""},
	}},
	{"ConnectToPersistentSubscription", "ConnectToPersistentSubscription is the payload of 0xC5 (spec §3.6). SubscriptionID is the group name.", []field{
		{1, "subscription_id", "SubscriptionID", "string", req, ""},
		{2, "event_stream_id", "EventStreamID", "string", req, ""},
		{3, "allowed_in_flight_messages", "AllowedInFlightMessages", "int32", req, ""},
	}},
	{"PersistentSubscriptionConfirmation", "PersistentSubscriptionConfirmation is the payload of 0xC6 (spec §3.6).", []field{
		{1, "last_commit_position", "LastCommitPosition", "int64", req, ""},
		{2, "subscription_id", "SubscriptionID", "string", req, "<stream>::<group>"},
		{3, "last_event_number", "LastEventNumber", "int64", flag, ""},
	}},
	{"PersistentSubscriptionStreamEventAppeared", "PersistentSubscriptionStreamEventAppeared is the payload of 0xC7 (spec §3.6). RetryCount (field 2) does not exist in 4.0.x; set HasRetryCount only for 4.1+ behaviour.", []field{
		{1, "event", "Event", "msg:ResolvedIndexedEvent", req, ""},
		{2, "retryCount", "RetryCount", "int32", flag, ""},
	}},
	{"PersistentSubscriptionAckEvents", "PersistentSubscriptionAckEvents is the payload of 0xCC (spec §3.6).", []field{
		{1, "subscription_id", "SubscriptionID", "string", req, ""},
		{2, "processed_event_ids", "ProcessedEventIDs", "[][]byte", 0, ""},
	}},
	{"PersistentSubscriptionNakEvents", "PersistentSubscriptionNakEvents is the payload of 0xCD (spec §3.6).", []field{
		{1, "subscription_id", "SubscriptionID", "string", req, ""},
		{2, "processed_event_ids", "ProcessedEventIDs", "[][]byte", 0, ""},
		{3, "message", "Message", "string", nonemp, ""},
		{4, "action", "Action", "enum:NakAction", req, ""},
	}},
	{"NotHandled", "NotHandled is the payload of 0xF1 (spec §3.7). For NotMaster, AdditionalInfo holds an encoded MasterInfo (AppendMasterInfo / DecodeMasterInfo).", []field{
		{1, "reason", "Reason", "enum:NotHandledReason", req, ""},
		{2, "additional_info", "AdditionalInfo", "bytes", nonemp, ""},
	}},
	{"MasterInfo", "MasterInfo is NotHandled.MasterInfo (spec §3.7). The secure endpoint is written only when ExternalSecureTCPAddress is non-empty.", []field{
		{1, "external_tcp_address", "ExternalTCPAddress", "string", req, ""},
		{2, "external_tcp_port", "ExternalTCPPort", "int32", req, ""},
		{3, "external_http_address", "ExternalHTTPAddress", "string", req, ""},
		{4, "external_http_port", "ExternalHTTPPort", "int32", req, ""},
		{5, "external_secure_tcp_address", "ExternalSecureTCPAddress", "string", nonemp, ""},
		{6, "external_secure_tcp_port", "ExternalSecureTCPPort", "int32", flag, ""},
	}},
	{"ScavengeDatabaseResponse", "ScavengeDatabaseResponse is the 5.x payload of 0xD1 (spec §3.7).", []field{
		{1, "result", "Result", "enum:ScavengeResult", req, ""},
		{2, "scavengeId", "ScavengeID", "string", nonemp, ""},
	}},
	{"ScavengeDatabaseCompleted", "ScavengeDatabaseCompleted is the 4.x payload of 0xD1 (spec §3.7), the one 4.0.3 clients expect.", []field{
		{1, "result", "Result", "enum:ScavengeCompletedResult", req, ""},
		{2, "error", "Error", "string", nonemp, ""},
		{3, "total_time_ms", "TotalTimeMs", "int32", req, ""},
		{4, "total_space_saved", "TotalSpaceSaved", "int64", req, ""},
	}},
	{"IdentifyClient", "IdentifyClient is the payload of 0xF5 (spec §3.7).", []field{
		{1, "version", "Version", "int32", req, "ClientVersionV1 or ClientVersionV2"},
		{2, "connection_name", "ConnectionName", "string", nonemp, ""},
	}},
}

func goType(k string) string {
	switch {
	case k == "string":
		return "string"
	case k == "bytes":
		return "[]byte"
	case k == "int64":
		return "int64"
	case k == "int32":
		return "int32"
	case k == "bool":
		return "bool"
	case k == "[][]byte":
		return "[][]byte"
	case strings.HasPrefix(k, "enum:"):
		return k[5:]
	case strings.HasPrefix(k, "msg:"):
		return k[4:]
	case strings.HasPrefix(k, "[]msg:"):
		return "[]" + k[6:]
	}
	panic(k)
}

func lowerFirst(s string) string { return strings.ToLower(s[:1]) + s[1:] }

func main() {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("// Code generated by codec/internal/gendto; DO NOT EDIT.\n\npackage codec\n\n")
	for _, m := range messages {
		names := lowerFirst(m.name) + "Fields"
		maxNum := 0
		for _, f := range m.fields {
			if f.num > maxNum {
				maxNum = f.num
			}
		}
		// struct
		p("// %s\n//\n// Decoded strings and byte slices alias the source buffer.\ntype %s struct {\n", m.doc, m.name)
		for _, f := range m.fields {
			c := ""
			if f.doc != "" {
				c = " // " + f.doc
			}
			p("\t%s %s%s\n", f.goN, goType(f.kind), c)
			if f.rule == flag {
				p("\t// Has%s reports (decode) or selects (encode) the presence of %s.\n\tHas%s bool\n", f.goN, f.proto, f.goN)
			}
		}
		p("}\n\n")
		// names
		p("var %s = [...]string{", names)
		for _, f := range m.fields {
			p("%d: %q, ", f.num, f.proto)
		}
		p("}\n\n")
		// size
		p("// Size%s returns the encoded size of m.\nfunc Size%s(m *%s) (n int) {\n", m.name, m.name, m.name)
		for _, f := range m.fields {
			cond := ""
			switch f.rule {
			case flag:
				cond = "m.Has" + f.goN
			case nonemp:
				cond = "len(m." + f.goN + ") > 0"
			}
			if cond != "" {
				p("\tif %s {\n", cond)
			}
			switch {
			case f.kind == "string" || f.kind == "bytes":
				p("\tn += sizeBytesField(%d, len(m.%s))\n", f.num, f.goN)
			case f.kind == "int64" || f.kind == "int32" || strings.HasPrefix(f.kind, "enum:"):
				p("\tn += sizeVarintField(%d, uint64(m.%s))\n", f.num, f.goN)
			case f.kind == "bool":
				p("\tn += sizeVarintField(%d, boolU64(m.%s))\n", f.num, f.goN)
			case strings.HasPrefix(f.kind, "msg:"):
				p("\tn += sizeBytesField(%d, Size%s(&m.%s))\n", f.num, f.kind[4:], f.goN)
			case strings.HasPrefix(f.kind, "[]msg:"):
				p("\tfor i := range m.%s {\n\t\tn += sizeBytesField(%d, Size%s(&m.%s[i]))\n\t}\n", f.goN, f.num, f.kind[6:], f.goN)
			case f.kind == "[][]byte":
				p("\tfor _, v := range m.%s {\n\t\tn += sizeBytesField(%d, len(v))\n\t}\n", f.goN, f.num)
			}
			if cond != "" {
				p("\t}\n")
			}
		}
		p("\treturn n\n}\n\n")
		// append
		p("// Append%s appends the protobuf encoding of m to dst. Every required\n// field is written, even when zero (spec §3.1).\nfunc Append%s(dst []byte, m *%s) []byte {\n", m.name, m.name, m.name)
		for _, f := range m.fields {
			cond := ""
			switch f.rule {
			case flag:
				cond = "m.Has" + f.goN
			case nonemp:
				cond = "len(m." + f.goN + ") > 0"
			}
			if cond != "" {
				p("\tif %s {\n", cond)
			}
			switch {
			case f.kind == "string":
				p("\tdst = appendStringField(dst, %d, m.%s)\n", f.num, f.goN)
			case f.kind == "bytes":
				p("\tdst = appendBytesField(dst, %d, m.%s)\n", f.num, f.goN)
			case f.kind == "int64" || f.kind == "int32" || strings.HasPrefix(f.kind, "enum:"):
				// NB: int32 values are sign-extended to 64 bits, as protobuf requires.
				p("\tdst = appendVarintField(dst, %d, uint64(m.%s))\n", f.num, f.goN)
			case f.kind == "bool":
				p("\tdst = appendBoolField(dst, %d, m.%s)\n", f.num, f.goN)
			case strings.HasPrefix(f.kind, "msg:"):
				t := f.kind[4:]
				p("\tdst = appendMessageHeader(dst, %d, Size%s(&m.%s))\n\tdst = Append%s(dst, &m.%s)\n", f.num, t, f.goN, t, f.goN)
			case strings.HasPrefix(f.kind, "[]msg:"):
				t := f.kind[6:]
				p("\tfor i := range m.%s {\n\t\tdst = appendMessageHeader(dst, %d, Size%s(&m.%s[i]))\n\t\tdst = Append%s(dst, &m.%s[i])\n\t}\n", f.goN, f.num, t, f.goN, t, f.goN)
			case f.kind == "[][]byte":
				p("\tfor _, v := range m.%s {\n\t\tdst = appendBytesField(dst, %d, v)\n\t}\n", f.goN, f.num)
			}
			if cond != "" {
				p("\t}\n")
			}
		}
		p("\treturn dst\n}\n\n")
		// decode
		var reqMask uint64
		for _, f := range m.fields {
			if f.rule == req {
				reqMask |= 1 << uint(f.num)
			}
		}
		p("// Decode%s decodes src into m, reusing m's slices. Unknown fields are\n// skipped; a missing required field, a wrong wire type or malformed bytes\n// give a *FieldError. On error m holds a partial result.\nfunc Decode%s(src []byte, m *%s) error {\n", m.name, m.name, m.name)
		var reuse []field
		for _, f := range m.fields {
			if strings.HasPrefix(f.kind, "[]") {
				reuse = append(reuse, f)
				p("\t%s := m.%s[:0]\n", lowerFirst(f.goN), f.goN)
			}
		}
		p("\t*m = %s{}\n", m.name)
		p("\td := decoder{b: src, msg: %q}\n\tfor d.next() {\n\t\tswitch d.num {\n", m.name)
		for _, f := range m.fields {
			p("\t\tcase %d:\n", f.num)
			pn := fmt.Sprintf("%q", f.proto)
			switch {
			case f.kind == "string":
				p("\t\t\tm.%s = d.string(%s)\n", f.goN, pn)
			case f.kind == "bytes":
				p("\t\t\tm.%s = d.bytes(%s)\n", f.goN, pn)
			case f.kind == "int64":
				p("\t\t\tm.%s = d.int64(%s)\n", f.goN, pn)
			case f.kind == "int32":
				p("\t\t\tm.%s = d.int32(%s)\n", f.goN, pn)
			case strings.HasPrefix(f.kind, "enum:"):
				p("\t\t\tm.%s = %s(d.int32(%s))\n", f.goN, f.kind[5:], pn)
			case f.kind == "bool":
				p("\t\t\tm.%s = d.bool(%s)\n", f.goN, pn)
			case strings.HasPrefix(f.kind, "msg:"):
				p("\t\t\tif b := d.bytes(%s); d.err == nil {\n\t\t\t\td.sub(Decode%s(b, &m.%s))\n\t\t\t}\n", pn, f.kind[4:], f.goN)
			case strings.HasPrefix(f.kind, "[]msg:"):
				v := lowerFirst(f.goN)
				p("\t\t\tif b := d.bytes(%s); d.err == nil && d.room(%s, len(%s)) {\n\t\t\t\t%s = growSlice(%s)\n\t\t\t\td.sub(Decode%s(b, &%s[len(%s)-1]))\n\t\t\t}\n", pn, pn, v, v, v, f.kind[6:], v, v)
			case f.kind == "[][]byte":
				v := lowerFirst(f.goN)
				p("\t\t\tif b := d.bytes(%s); d.err == nil && d.room(%s, len(%s)) {\n\t\t\t\t%s = append(%s, b)\n\t\t\t}\n", pn, pn, v, v, v)
			}
			if f.rule == flag {
				p("\t\t\tm.Has%s = true\n", f.goN)
			}
		}
		p("\t\tdefault:\n\t\t\td.skip()\n\t\t}\n\t}\n")
		for _, f := range reuse {
			p("\tm.%s = %s\n", f.goN, lowerFirst(f.goN))
		}
		p("\treturn d.finish(%#x, %s[:])\n}\n\n", reqMask, names)
	}
	src, err := format.Source(b.Bytes())
	if err != nil {
		os.Stdout.Write(b.Bytes())
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile("dto_gen.go", src, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
