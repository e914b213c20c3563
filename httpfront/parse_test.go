package httpfront

import (
	"bytes"
	"strings"
	"testing"

	"github.com/eventstored/eventstored/store"
)

var parseSeeds = []string{
	`[{"eventId":"3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11","eventType":"A","data":{"x":1,"y":[1,{"z":null}]},"metadata":{"m":"v"}}]`,
	`[{"EVENTID":"3b0a4f5e2d5c4f1e9a570d6f0b3e8c11","EventType":"A","Data":"text","other":{"ignored":[1,2]}}]`,
	`[{"eventId":"3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11","eventType":"A","data":"{\"json\": \"in a string\"}"}]`,
	`[{"eventId":"3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11","eventType":"A","data":"esc\\u0041pe\n"}]`,
	`[{"eventId":"3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11","eventType":"A","data":[]},{"eventId":"4b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11","eventType":"B","data":12,"metadata":true}]`,
	`  [ { "eventId" : "3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11" , "eventType" : "A" , "data" : { } } ]  `,
	`[{"eventId":null,"eventType":"A"}]`, `[{"eventId":"","eventType":"A"}]`, `[{"eventId":"3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11"}]`,
	`[{"eventId":"3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11","eventType":null}]`, `[null]`, `[1]`, `[]`, `{}`, `[`, `"x"`,
	`[{"eventId":12,"eventType":"A"}]`, `[{"eventId":"nope","eventType":"A"}]`, `[{"eventId":"3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11","eventType":7}]`,
	`[{"eventId":"3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11","eventType":"A","eventType":"B","data":{"a":1},"data":{"b":2}}]`,
}

func sameEvents(a, b []store.NewEvent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || x.Type != y.Type || x.IsJSON != y.IsJSON || !bytes.Equal(x.Data, y.Data) || !bytes.Equal(x.Metadata, y.Metadata) {
			return false
		}
	}
	return true
}

// checkParsers compares the hand-written parser with the encoding/json
// reference on one body.
func checkParsers(t *testing.T, body []byte) {
	var names internTable
	want, werr := parseJSONEvents(body, nil)
	got, _, gerr := parseJSONEventsInto(body, nil, nil, &names)
	if (werr == nil) != (gerr == nil) || (werr != nil && werr != gerr) {
		t.Fatalf("body %q: errors differ; fast %v; reference %v", body, gerr, werr)
	}
	if werr == nil && !sameEvents(got, want) {
		t.Fatalf("body %q: events differ;\nfast %+v\nreference %+v", body, got, want)
	}
}

func TestFastEventParserMatchesReference(t *testing.T) {
	for _, s := range parseSeeds {
		checkParsers(t, []byte(s))
	}
}

func FuzzFastEventParser(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1<<16 {
			return
		}
		checkParsers(t, body)
	})
}

func TestDeepNestingIsBounded(t *testing.T) {
	n := newTestNode(t)
	depth := 9000 // below encoding/json's nesting limit; re-indented it would be ~80 MB
	data := strings.Repeat("[", depth) + strings.Repeat("]", depth)
	body := `[{"eventId":"3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11","eventType":"Deep","data":` + data + `}]`
	expectStatus(t, n.req(t, "POST", "/streams/deep", body, ctEvents), 413, reasonTooLarge)
	expectStatus(t, n.req(t, "GET", "/streams/deep", "", acceptAtomJSON), 404, "")
}

func TestFastEventParserInvalidUTF8(t *testing.T) {
	checkParsers(t, []byte("[{\"eventId\":\"3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11\",\"eventType\":\"A\xff\",\"data\":\"b\xfe\"}]"))
}
