package httpfront

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"sort"
	"strings"

	"github.com/eventstored/eventstored/store"
)

// Request body parsing for appends (spec http-api §2.3.2). Parsed events
// keep their own copies of every byte: nothing aliases the RequestCtx.

// maxEventDataBytes is the HTTP limit on data + metadata of one event
// (4 MiB, spec §2.3.1 step 9); larger events get 413.
const maxEventDataBytes = 4 * 1024 * 1024

// maxEventsPerWrite bounds the events of one POST (the body size limit
// bounds bytes; this bounds per-event overhead). The TCP protocol's frame
// limit allows far fewer events of any real size.
const maxEventsPerWrite = 10_000

var (
	errBodyInvalid = errors.New(reasonBodyInvalid)
	errEmptyID     = errors.New(reasonEmptyEventID)
	errEmptyType   = errors.New(reasonEmptyEventType)
	errTooMany     = errors.New("Too many events in one request")
	// errTooLarge: converting data or metadata grew it past the 4 MiB
	// event limit (spec §2.3.1 step 9 → 413).
	errTooLarge = errors.New(reasonTooLarge)
)

// carriesEvents reports whether the media type's body holds event ids and
// types (the batch forms).
func carriesEvents(m mediaType) bool {
	switch m {
	case mtEventsJSON, mtEventJSON, mtEventsXML, mtEventXML:
		return true
	}
	return false
}

type jsonEvent struct {
	EventID   *string         `json:"eventId"`
	EventType string          `json:"eventType"`
	Data      json.RawMessage `json:"data"`
	Metadata  json.RawMessage `json:"metadata"`
}

// parseJSONEvents parses the events+json array form with encoding/json.
// Member names match case-insensitively (encoding/json's rule, as the
// original's). It is the reference the hand-written parser
// (parseJSONEventsInto, used on the request path) is tested against.
func parseJSONEvents(body []byte, out []store.NewEvent) ([]store.NewEvent, error) {
	var evs []jsonEvent
	if err := json.Unmarshal(body, &evs); err != nil {
		return out, errBodyInvalid
	}
	if len(evs) == 0 {
		return out, errBodyInvalid
	}
	if len(evs) > maxEventsPerWrite {
		return out, errTooMany
	}
	for i := range evs {
		e := &evs[i]
		var ne store.NewEvent
		if e.EventID != nil && *e.EventID != "" {
			id, ok := parseGUID([]byte(*e.EventID))
			if !ok {
				return out, errBodyInvalid
			}
			ne.ID = id
		}
		if ne.ID == ([16]byte{}) {
			return out, errEmptyID
		}
		if e.EventType == "" {
			return out, errEmptyType
		}
		ne.Type = e.EventType
		var dj, mj bool
		ne.Data, dj = convertJSONMember(e.Data)
		ne.Metadata, mj = convertJSONMember(e.Metadata)
		ne.IsJSON = dj || mj
		out = append(out, ne)
	}
	return out, nil
}

// convertJSONMember turns a posted data/metadata value into stored bytes
// (spec §2.3.2, the 4.1+ column): objects and arrays are stored re-indented
// and count as JSON; a string holding a JSON object or array likewise; any
// other string is stored as its text; numbers, booleans and null store
// nothing.
//
// NB: 4.0.3 dropped arrays and never parsed strings. We follow 4.1+ here:
// silently storing nothing for a posted array loses data, and no client can
// depend on that.
func convertJSONMember(v json.RawMessage) ([]byte, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return nil, false
	}
	switch v[0] {
	case '{', '[':
		return appendIndentedJSON(nil, v, 0), true
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil, false
		}
		t := strings.TrimSpace(s)
		if len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid([]byte(t)) {
			return appendIndentedJSON(nil, []byte(t), 0), true
		}
		return []byte(s), false
	}
	return nil, false
}

// xmlNode is a generic element tree for the XML batch form.
type xmlNode struct {
	name     string
	attrs    []xml.Attr
	text     strings.Builder
	children []*xmlNode
}

// maxXMLDepth bounds element nesting in posted XML.
const maxXMLDepth = 64

func parseXMLTree(body []byte) (*xmlNode, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	var stack []*xmlNode
	var root *xmlNode
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errBodyInvalid
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= maxXMLDepth {
				return nil, errBodyInvalid
			}
			n := &xmlNode{name: t.Name.Local, attrs: t.Attr}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else if root == nil {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			}
		}
	}
	if root == nil {
		return nil, errBodyInvalid
	}
	return root, nil
}

// parseXMLEvents parses the XML batch form: each child of the root is one
// event with eventId, eventType, data, metadata children (names matched
// case-insensitively).
func parseXMLEvents(body []byte, out []store.NewEvent) ([]store.NewEvent, error) {
	root, err := parseXMLTree(body)
	if err != nil {
		return out, err
	}
	if len(root.children) == 0 {
		return out, errBodyInvalid
	}
	if len(root.children) > maxEventsPerWrite {
		return out, errTooMany
	}
	for _, ev := range root.children {
		var ne store.NewEvent
		var dj, mj bool
		for _, c := range ev.children {
			switch strings.ToLower(c.name) {
			case "eventid":
				id, ok := parseGUID([]byte(strings.TrimSpace(c.text.String())))
				if !ok {
					return out, errBodyInvalid
				}
				ne.ID = id
			case "eventtype":
				ne.Type = strings.TrimSpace(c.text.String())
			case "data":
				ne.Data, dj = xmlValue(c)
			case "metadata":
				ne.Metadata, mj = xmlValue(c)
			}
		}
		if ne.ID == ([16]byte{}) {
			return out, errEmptyID
		}
		if ne.Type == "" {
			return out, errEmptyType
		}
		ne.IsJSON = dj || mj
		out = append(out, ne)
	}
	return out, nil
}

// xmlValue converts a data/metadata element: with child elements it becomes
// a JSON object (counts as JSON), otherwise its text (not JSON).
func xmlValue(n *xmlNode) ([]byte, bool) {
	if len(n.children) == 0 {
		return []byte(n.text.String()), false
	}
	var w jw
	w.reset(nil)
	writeXMLAsJSON(&w, n)
	return w.b, true
}

func writeXMLAsJSON(w *jw, n *xmlNode) {
	if len(n.children) == 0 && len(n.attrs) == 0 {
		w.str(n.text.String())
		return
	}
	w.obj()
	for _, a := range n.attrs {
		w.kStr("@"+a.Name.Local, a.Value)
	}
	// Group repeated elements into arrays, keeping first-seen order.
	order := []string{}
	groups := map[string][]*xmlNode{}
	for _, c := range n.children {
		if _, ok := groups[c.name]; !ok {
			order = append(order, c.name)
		}
		groups[c.name] = append(groups[c.name], c)
	}
	for _, name := range order {
		g := groups[name]
		w.key(name)
		if len(g) == 1 {
			writeXMLAsJSON(w, g[0])
			continue
		}
		w.arr()
		for _, c := range g {
			writeXMLAsJSON(w, c)
		}
		w.endArr()
	}
	w.endObj()
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
