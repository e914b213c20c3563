package codec

func sampleWriteEvents(n int) WriteEvents {
	m := WriteEvents{EventStreamID: "orders-123", ExpectedVersion: -2}
	for i := 0; i < n; i++ {
		m.Events = append(m.Events, NewEvent{EventID: id16(byte(i)), EventType: "OrderPlaced", DataContentType: 1,
			Data: []byte(`{"orderId":"123","amount":42.5,"currency":"EUR"}`), Metadata: []byte(`{"user":"u1"}`)})
	}
	return m
}

func sampleReadCompleted(n int) ReadStreamEventsCompleted {
	m := ReadStreamEventsCompleted{Result: ReadStreamSuccess, NextEventNumber: int64(n), LastEventNumber: 100, LastCommitPosition: 1 << 30}
	for i := 0; i < n; i++ {
		rec := EventRecord{EventStreamID: "orders-123", EventNumber: int64(i), EventID: id16(byte(i)), EventType: "OrderPlaced",
			DataContentType: 1, MetadataContentType: 1, Data: []byte(`{"orderId":"123","amount":42.5,"currency":"EUR"}`),
			Metadata: []byte(`{"user":"u1"}`), Created: 638000000000000000, CreatedEpoch: 1700000000000}
		m.Events = append(m.Events, ResolvedIndexedEvent{Event: rec, HasEvent: true})
	}
	return m
}
