package codec

import "strconv"

// Command is the TcpCommand byte at offset 0 of every package (spec §2.1).
// Values and names match TcpCommand.cs of Event Store 4.0.3.
type Command uint8

// Every TcpCommand of the v4 protocol, including the internal replication
// codes that the client port must reject (spec §2.3).
const (
	HeartbeatRequestCommand  Command = 0x01
	HeartbeatResponseCommand Command = 0x02

	Ping Command = 0x03
	Pong Command = 0x04

	PrepareAck      Command = 0x05
	CommitAck       Command = 0x06
	SlaveAssignment Command = 0x07
	CloneAssignment Command = 0x08

	SubscribeReplica         Command = 0x10
	ReplicaLogPositionAck    Command = 0x11
	CreateChunk              Command = 0x12
	RawChunkBulk             Command = 0x13
	DataChunkBulk            Command = 0x14
	ReplicaSubscriptionRetry Command = 0x15
	ReplicaSubscribed        Command = 0x16

	WriteEventsCommand                Command = 0x82
	WriteEventsCompletedCommand       Command = 0x83
	TransactionStartCommand           Command = 0x84
	TransactionStartCompletedCommand  Command = 0x85
	TransactionWriteCommand           Command = 0x86
	TransactionWriteCompletedCommand  Command = 0x87
	TransactionCommitCommand          Command = 0x88
	TransactionCommitCompletedCommand Command = 0x89
	DeleteStreamCommand               Command = 0x8A
	DeleteStreamCompletedCommand      Command = 0x8B

	ReadEventCommand                         Command = 0xB0
	ReadEventCompletedCommand                Command = 0xB1
	ReadStreamEventsForwardCommand           Command = 0xB2
	ReadStreamEventsForwardCompletedCommand  Command = 0xB3
	ReadStreamEventsBackwardCommand          Command = 0xB4
	ReadStreamEventsBackwardCompletedCommand Command = 0xB5
	ReadAllEventsForwardCommand              Command = 0xB6
	ReadAllEventsForwardCompletedCommand     Command = 0xB7
	ReadAllEventsBackwardCommand             Command = 0xB8
	ReadAllEventsBackwardCompletedCommand    Command = 0xB9

	SubscribeToStreamCommand                         Command = 0xC0
	SubscriptionConfirmationCommand                  Command = 0xC1
	StreamEventAppearedCommand                       Command = 0xC2
	UnsubscribeFromStreamCommand                     Command = 0xC3
	SubscriptionDroppedCommand                       Command = 0xC4
	ConnectToPersistentSubscriptionCommand           Command = 0xC5
	PersistentSubscriptionConfirmationCommand        Command = 0xC6
	PersistentSubscriptionStreamEventAppearedCommand Command = 0xC7
	CreatePersistentSubscriptionCommand              Command = 0xC8
	CreatePersistentSubscriptionCompletedCommand     Command = 0xC9
	DeletePersistentSubscriptionCommand              Command = 0xCA
	DeletePersistentSubscriptionCompletedCommand     Command = 0xCB
	PersistentSubscriptionAckEventsCommand           Command = 0xCC
	PersistentSubscriptionNakEventsCommand           Command = 0xCD
	UpdatePersistentSubscriptionCommand              Command = 0xCE
	UpdatePersistentSubscriptionCompletedCommand     Command = 0xCF

	ScavengeDatabaseCommand Command = 0xD0
	// ScavengeDatabaseCompletedCommand is 0xD1; 4.x sends the
	// ScavengeDatabaseCompleted payload, 5.x names it ScavengeDatabaseResponse.
	ScavengeDatabaseCompletedCommand Command = 0xD1

	BadRequest              Command = 0xF0
	NotHandledCommand       Command = 0xF1
	Authenticate            Command = 0xF2
	Authenticated           Command = 0xF3
	NotAuthenticated        Command = 0xF4
	IdentifyClientCommand   Command = 0xF5
	ClientIdentifiedCommand Command = 0xF6
)

var commandNames = [256]string{
	HeartbeatRequestCommand:  "HeartbeatRequestCommand",
	HeartbeatResponseCommand: "HeartbeatResponseCommand",
	Ping:                     "Ping",
	Pong:                     "Pong",
	PrepareAck:               "PrepareAck",
	CommitAck:                "CommitAck",
	SlaveAssignment:          "SlaveAssignment",
	CloneAssignment:          "CloneAssignment",
	SubscribeReplica:         "SubscribeReplica",
	ReplicaLogPositionAck:    "ReplicaLogPositionAck",
	CreateChunk:              "CreateChunk",
	RawChunkBulk:             "RawChunkBulk",
	DataChunkBulk:            "DataChunkBulk",
	ReplicaSubscriptionRetry: "ReplicaSubscriptionRetry",
	ReplicaSubscribed:        "ReplicaSubscribed",

	WriteEventsCommand:                "WriteEvents",
	WriteEventsCompletedCommand:       "WriteEventsCompleted",
	TransactionStartCommand:           "TransactionStart",
	TransactionStartCompletedCommand:  "TransactionStartCompleted",
	TransactionWriteCommand:           "TransactionWrite",
	TransactionWriteCompletedCommand:  "TransactionWriteCompleted",
	TransactionCommitCommand:          "TransactionCommit",
	TransactionCommitCompletedCommand: "TransactionCommitCompleted",
	DeleteStreamCommand:               "DeleteStream",
	DeleteStreamCompletedCommand:      "DeleteStreamCompleted",

	ReadEventCommand:                         "ReadEvent",
	ReadEventCompletedCommand:                "ReadEventCompleted",
	ReadStreamEventsForwardCommand:           "ReadStreamEventsForward",
	ReadStreamEventsForwardCompletedCommand:  "ReadStreamEventsForwardCompleted",
	ReadStreamEventsBackwardCommand:          "ReadStreamEventsBackward",
	ReadStreamEventsBackwardCompletedCommand: "ReadStreamEventsBackwardCompleted",
	ReadAllEventsForwardCommand:              "ReadAllEventsForward",
	ReadAllEventsForwardCompletedCommand:     "ReadAllEventsForwardCompleted",
	ReadAllEventsBackwardCommand:             "ReadAllEventsBackward",
	ReadAllEventsBackwardCompletedCommand:    "ReadAllEventsBackwardCompleted",

	SubscribeToStreamCommand:                         "SubscribeToStream",
	SubscriptionConfirmationCommand:                  "SubscriptionConfirmation",
	StreamEventAppearedCommand:                       "StreamEventAppeared",
	UnsubscribeFromStreamCommand:                     "UnsubscribeFromStream",
	SubscriptionDroppedCommand:                       "SubscriptionDropped",
	ConnectToPersistentSubscriptionCommand:           "ConnectToPersistentSubscription",
	PersistentSubscriptionConfirmationCommand:        "PersistentSubscriptionConfirmation",
	PersistentSubscriptionStreamEventAppearedCommand: "PersistentSubscriptionStreamEventAppeared",
	CreatePersistentSubscriptionCommand:              "CreatePersistentSubscription",
	CreatePersistentSubscriptionCompletedCommand:     "CreatePersistentSubscriptionCompleted",
	DeletePersistentSubscriptionCommand:              "DeletePersistentSubscription",
	DeletePersistentSubscriptionCompletedCommand:     "DeletePersistentSubscriptionCompleted",
	PersistentSubscriptionAckEventsCommand:           "PersistentSubscriptionAckEvents",
	PersistentSubscriptionNakEventsCommand:           "PersistentSubscriptionNakEvents",
	UpdatePersistentSubscriptionCommand:              "UpdatePersistentSubscription",
	UpdatePersistentSubscriptionCompletedCommand:     "UpdatePersistentSubscriptionCompleted",

	ScavengeDatabaseCommand:          "ScavengeDatabase",
	ScavengeDatabaseCompletedCommand: "ScavengeDatabaseCompleted",

	BadRequest:              "BadRequest",
	NotHandledCommand:       "NotHandled",
	Authenticate:            "Authenticate",
	Authenticated:           "Authenticated",
	NotAuthenticated:        "NotAuthenticated",
	IdentifyClientCommand:   "IdentifyClient",
	ClientIdentifiedCommand: "ClientIdentified",
}

// String returns the TcpCommand name as Event Store spells it (without the
// "Command" suffix our Go constants carry to avoid clashing with DTO types),
// or "Unknown(0xNN)" for unassigned values. It allocates only for unknown
// values.
func (c Command) String() string {
	if s := commandNames[c]; s != "" {
		return s
	}
	return "Unknown(0x" + strconv.FormatUint(uint64(c), 16) + ")"
}

// Known reports whether c is a TcpCommand of the v4 protocol (client or
// internal). The obsolete 0x80/0x81 are not known (spec §2.1).
func (c Command) Known() bool { return commandNames[c] != "" }
