package codec

// Enumerations of spec §3.8, values as in ClientMessageDtos.proto (4.0.3).

// OperationResult is the result of writes, deletes and transactions.
type OperationResult int32

const (
	OperationSuccess              OperationResult = 0
	OperationPrepareTimeout       OperationResult = 1
	OperationCommitTimeout        OperationResult = 2
	OperationForwardTimeout       OperationResult = 3
	OperationWrongExpectedVersion OperationResult = 4
	OperationStreamDeleted        OperationResult = 5
	OperationInvalidTransaction   OperationResult = 6
	OperationAccessDenied         OperationResult = 7
)

// ReadEventResult is ReadEventCompleted.ReadEventResult.
type ReadEventResult int32

const (
	ReadEventSuccess       ReadEventResult = 0
	ReadEventNotFound      ReadEventResult = 1
	ReadEventNoStream      ReadEventResult = 2
	ReadEventStreamDeleted ReadEventResult = 3
	ReadEventError         ReadEventResult = 4
	ReadEventAccessDenied  ReadEventResult = 5
)

// ReadStreamResult is ReadStreamEventsCompleted.ReadStreamResult.
type ReadStreamResult int32

const (
	ReadStreamSuccess       ReadStreamResult = 0
	ReadStreamNoStream      ReadStreamResult = 1
	ReadStreamStreamDeleted ReadStreamResult = 2
	// ReadStreamNotModified is never sent over TCP (spec §3.8).
	ReadStreamNotModified  ReadStreamResult = 3
	ReadStreamError        ReadStreamResult = 4
	ReadStreamAccessDenied ReadStreamResult = 5
)

// ReadAllResult is ReadAllEventsCompleted.ReadAllResult.
type ReadAllResult int32

const (
	ReadAllSuccess ReadAllResult = 0
	// ReadAllNotModified is never sent over TCP (spec §3.8).
	ReadAllNotModified  ReadAllResult = 1
	ReadAllError        ReadAllResult = 2
	ReadAllAccessDenied ReadAllResult = 3
)

// CreatePersistentSubscriptionResult is the result of 0xC9.
type CreatePersistentSubscriptionResult int32

const (
	CreatePersistentSubscriptionSuccess       CreatePersistentSubscriptionResult = 0
	CreatePersistentSubscriptionAlreadyExists CreatePersistentSubscriptionResult = 1
	CreatePersistentSubscriptionFail          CreatePersistentSubscriptionResult = 2
	CreatePersistentSubscriptionAccessDenied  CreatePersistentSubscriptionResult = 3
)

// UpdatePersistentSubscriptionResult is the result of 0xCF.
type UpdatePersistentSubscriptionResult int32

const (
	UpdatePersistentSubscriptionSuccess      UpdatePersistentSubscriptionResult = 0
	UpdatePersistentSubscriptionDoesNotExist UpdatePersistentSubscriptionResult = 1
	UpdatePersistentSubscriptionFail         UpdatePersistentSubscriptionResult = 2
	UpdatePersistentSubscriptionAccessDenied UpdatePersistentSubscriptionResult = 3
)

// DeletePersistentSubscriptionResult is the result of 0xCB.
type DeletePersistentSubscriptionResult int32

const (
	DeletePersistentSubscriptionSuccess      DeletePersistentSubscriptionResult = 0
	DeletePersistentSubscriptionDoesNotExist DeletePersistentSubscriptionResult = 1
	DeletePersistentSubscriptionFail         DeletePersistentSubscriptionResult = 2
	DeletePersistentSubscriptionAccessDenied DeletePersistentSubscriptionResult = 3
)

// NakAction is PersistentSubscriptionNakEvents.NakAction.
type NakAction int32

const (
	NakUnknown NakAction = 0
	NakPark    NakAction = 1
	NakRetry   NakAction = 2
	NakSkip    NakAction = 3
	NakStop    NakAction = 4
)

// SubscriptionDropReason is SubscriptionDropped.SubscriptionDropReason.
type SubscriptionDropReason int32

const (
	DropUnsubscribed                  SubscriptionDropReason = 0
	DropAccessDenied                  SubscriptionDropReason = 1
	DropNotFound                      SubscriptionDropReason = 2
	DropPersistentSubscriptionDeleted SubscriptionDropReason = 3
	DropSubscriberMaxCountReached     SubscriptionDropReason = 4
)

// NotHandledReason is NotHandled.NotHandledReason.
type NotHandledReason int32

const (
	NotHandledNotReady  NotHandledReason = 0
	NotHandledTooBusy   NotHandledReason = 1
	NotHandledNotMaster NotHandledReason = 2
)

// ScavengeResult is ScavengeDatabaseResponse.ScavengeResult (5.x schema).
type ScavengeResult int32

const (
	ScavengeStarted      ScavengeResult = 0
	ScavengeInProgress   ScavengeResult = 1
	ScavengeUnauthorized ScavengeResult = 2
)

// ScavengeCompletedResult is ScavengeDatabaseCompleted.ScavengeResult (4.x).
type ScavengeCompletedResult int32

const (
	ScavengeCompletedSuccess    ScavengeCompletedResult = 0
	ScavengeCompletedInProgress ScavengeCompletedResult = 1
	ScavengeCompletedFailed     ScavengeCompletedResult = 2
)

// Client protocol versions carried by IdentifyClient.version.
const (
	ClientVersionV1 int32 = 0
	ClientVersionV2 int32 = 1
)
