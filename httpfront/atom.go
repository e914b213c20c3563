package httpfront

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/eventstored/eventstored/store"
)

// AtomPub rendering (spec http-api §2.4–§2.6): entries and feeds in JSON
// (hand-written with jw, so the common read path allocates nothing) and in
// Atom XML.

// entryInfo is what an entry shows of one ResolvedEvent.
type entryInfo struct {
	rec        *store.EventRecord // the record described by rich members; nil for a broken link
	named      string             // stream the entry is named after
	number     int64              // number the entry is named after
	updated    int64              // unix ns shown as "updated"
	summary    string
	resolved   bool // reached through a resolved link
	link       *store.EventRecord
	posNumber  int64
	posStream  string
	hasContent bool // candidate for "content" (JSON event, not through a link)
}

func describe(e *store.ResolvedEvent, out *entryInfo) {
	*out = entryInfo{}
	switch {
	case e.HasEvent && e.HasLink:
		out.rec = &e.Event
		out.link = &e.Link
		out.resolved = true
		out.named, out.number = e.Event.Stream, e.Event.Number
		out.updated = e.Link.CreatedUnixNano
		out.summary = "$>"
		out.posNumber, out.posStream = e.Link.Number, e.Link.Stream
	case e.HasEvent:
		out.rec = &e.Event
		out.named, out.number = e.Event.Stream, e.Event.Number
		out.updated = e.Event.CreatedUnixNano
		out.summary = e.Event.Type
		out.posNumber, out.posStream = e.Event.Number, e.Event.Stream
		out.hasContent = e.Event.IsJSON
	case e.HasLink:
		// Broken link: named after its data "N@stream" (spec §2.5.3).
		out.named, out.number = e.Link.Stream, e.Link.Number
		if n, s, ok := parseLinkData(e.Link.Data); ok {
			out.named, out.number = s, n
		}
		out.updated = e.Link.CreatedUnixNano
		out.summary = e.Link.Type
		out.posNumber, out.posStream = e.Link.Number, e.Link.Stream
	}
}

// parseLinkData parses a link event's data "N@stream".
func parseLinkData(d []byte) (int64, string, bool) {
	i := bytes.IndexByte(d, '@')
	if i <= 0 {
		return 0, "", false
	}
	n, ok := parseInt64(d[:i])
	if !ok || n < 0 {
		return 0, "", false
	}
	return n, string(d[i+1:]), true
}

// appendEventURL appends base/streams/<enc stream>/<n>.
func appendEventURL(dst, base []byte, stream string, n int64) []byte {
	dst = append(dst, base...)
	dst = append(dst, "/streams/"...)
	dst = appendEscaped(dst, stream)
	dst = append(dst, '/')
	return strconv.AppendInt(dst, n, 10)
}

// writeContentJSON writes the content object of spec §2.4.
func writeContentJSON(w *jw, rec *store.EventRecord) {
	w.obj()
	w.kStr("eventStreamId", rec.Stream)
	w.kInt("eventNumber", rec.Number)
	w.kStr("eventType", rec.Type)
	w.key("eventId")
	w.guid(&rec.ID)
	w.key("data")
	writeDataValue(w, rec.Data, rec.IsJSON)
	w.key("metadata")
	writeDataValue(w, rec.Metadata, rec.IsJSON)
	w.endObj()
}

// writeDataValue writes JSON data as a value when the event is JSON and it
// parses, else as a string.
func writeDataValue(w *jw, d []byte, isJSON bool) {
	if isJSON && len(d) > 0 && json.Valid(d) {
		w.raw(d)
		return
	}
	w.strB(d)
}

// writePrettyText writes text as a JSON string, re-indented when it is a
// JSON object and pretty is set (spec §2.5.3 "re-indented").
func (r *request) writePrettyText(w *jw, d []byte, pretty bool) {
	if pretty && isJSONObject(d) {
		r.tmp = appendIndentedJSON(r.tmp[:0], d, 0)
		w.strB(r.tmp)
		return
	}
	w.strB(d)
}

// writeEntryJSON writes one entry object. single selects the single-event
// rules for content (spec §2.5.3).
func (r *request) writeEntryJSON(w *jw, e *store.ResolvedEvent, level embedLevel, single bool) {
	var inf entryInfo
	describe(e, &inf)
	w.obj()
	if level >= embedRich && inf.rec != nil {
		rec := inf.rec
		w.key("eventId")
		w.guid(&rec.ID)
		w.kStr("eventType", rec.Type)
		w.kInt("eventNumber", rec.Number)
		if level >= embedBody {
			pretty := level >= embedPrettyBody
			switch {
			case rec.IsJSON:
				w.key("data")
				r.writePrettyText(w, rec.Data, pretty)
			case level == embedTryHarder:
				w.key("data")
				r.writePrettyText(w, rec.Data, true)
			}
			if len(rec.Metadata) > 0 {
				w.key("metaData")
				r.writePrettyText(w, rec.Metadata, pretty)
			}
			if inf.resolved {
				w.key("linkMetaData")
				r.writePrettyText(w, inf.link.Metadata, pretty)
			}
		}
		w.kStr("streamId", rec.Stream)
		isJSON := rec.IsJSON
		if level == embedTryHarder && !isJSON && isJSONObject(rec.Data) {
			isJSON = true
		}
		w.kBool("isJson", isJSON)
		w.kBool("isMetaData", len(rec.Metadata) > 0)
		w.kBool("isLinkMetaData", inf.resolved && len(inf.link.Metadata) > 0)
		w.kInt("positionEventNumber", inf.posNumber)
		w.kStr("positionStreamId", inf.posStream)
	}
	w.key("title")
	r.tmp = strconv.AppendInt(r.tmp[:0], inf.number, 10)
	r.tmp = append(r.tmp, '@')
	r.tmp = append(r.tmp, inf.named...)
	w.strB(r.tmp)
	r.tmp = appendEventURL(r.tmp[:0], r.base, inf.named, inf.number)
	w.key("id")
	w.strB(r.tmp)
	w.key("updated")
	w.time(inf.updated)
	w.key("author")
	w.obj()
	w.kStr("name", "EventStore")
	w.endObj()
	w.kStr("summary", inf.summary)
	if inf.hasContent && (single || level == embedContent) {
		w.key("content")
		writeContentJSON(w, inf.rec)
	}
	w.key("links")
	w.arr()
	for _, rel := range [2]string{"edit", "alternate"} {
		w.obj()
		w.key("uri")
		w.strB(r.tmp)
		w.kStr("relation", rel)
		w.endObj()
	}
	w.endArr()
	w.endObj()
}

// feedPage is everything a feed shows, in either representation.
type feedPage struct {
	title   string
	stream  string // "" for $all
	selfURL []byte // base/streams/<enc>
	updated int64
	headOf  bool
	hasSelf bool // selfUrl member (backward stream pages)
	etag    bool
	etagVer int64
	links   [6]struct {
		rel string
		uri []byte
	}
	nLinks    int
	entries   []store.ResolvedEvent
	reverse   bool // entries are oldest first; render newest first
	level     embedLevel
	streamMem bool // streamId member
}

func (p *feedPage) addLink(rel string, uri []byte) {
	p.links[p.nLinks].rel = rel
	p.links[p.nLinks].uri = uri
	p.nLinks++
}

func (r *request) writeFeedJSON(w *jw, p *feedPage) {
	w.obj()
	w.kStr("title", p.title)
	w.key("id")
	w.strB(p.selfURL)
	w.key("updated")
	w.time(p.updated)
	if p.streamMem {
		w.kStr("streamId", p.stream)
	}
	w.key("author")
	w.obj()
	w.kStr("name", "EventStore")
	w.endObj()
	w.kBool("headOfStream", p.headOf)
	if p.hasSelf {
		w.key("selfUrl")
		w.strB(p.selfURL)
	}
	if p.etag {
		r.tmp = strconv.AppendInt(r.tmp[:0], p.etagVer, 10)
		r.tmp = append(r.tmp, ';')
		r.tmp = strconv.AppendInt(r.tmp, int64(etagHashes[mtAtomJSON]), 10)
		w.key("eTag")
		w.strB(r.tmp)
	}
	w.key("links")
	w.arr()
	for i := 0; i < p.nLinks; i++ {
		w.obj()
		w.key("uri")
		w.strB(p.links[i].uri)
		w.kStr("relation", p.links[i].rel)
		w.endObj()
	}
	w.endArr()
	w.key("entries")
	w.arr()
	n := len(p.entries)
	for i := 0; i < n; i++ {
		j := i
		if p.reverse {
			j = n - 1 - i
		}
		r.writeEntryJSON(w, &p.entries[j], p.level, false)
	}
	w.endArr()
	w.endObj()
}

// ---- XML ----

const xmlHeader = `<?xml version="1.0" encoding="utf-8"?>`

func appendXMLText(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '&':
			b = append(b, "&amp;"...)
		case '"':
			b = append(b, "&quot;"...)
		default:
			if c < 0x20 && c != '\n' && c != '\r' && c != '\t' {
				continue // not representable in XML 1.0
			}
			b = append(b, c)
		}
	}
	return b
}

func appendXMLElem(b []byte, name, text string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = appendXMLText(b, text)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

func appendXMLLink(b []byte, href []byte, rel string) []byte {
	b = append(b, `<link href="`...)
	b = appendXMLText(b, b2s(href))
	b = append(b, `" rel="`...)
	b = append(b, rel...)
	return append(b, `" />`...)
}

func (r *request) appendEntryXML(b []byte, e *store.ResolvedEvent, level embedLevel, single, root bool) []byte {
	var inf entryInfo
	describe(e, &inf)
	if root {
		b = append(b, `<entry xmlns="http://www.w3.org/2005/Atom">`...)
	} else {
		b = append(b, "<entry>"...)
	}
	r.tmp = strconv.AppendInt(r.tmp[:0], inf.number, 10)
	r.tmp = append(r.tmp, '@')
	r.tmp = append(r.tmp, inf.named...)
	b = appendXMLElem(b, "title", b2s(r.tmp))
	r.tmp = appendEventURL(r.tmp[:0], r.base, inf.named, inf.number)
	b = appendXMLElem(b, "id", b2s(r.tmp))
	b = append(b, "<updated>"...)
	b = appendTime(b, inf.updated)
	b = append(b, "</updated><author><name>EventStore</name></author>"...)
	b = appendXMLElem(b, "summary", inf.summary)
	b = appendXMLLink(b, r.tmp, "edit")
	b = appendXMLLink(b, r.tmp, "alternate")
	if inf.hasContent && (single || level == embedContent) {
		b = append(b, `<content type="application/xml">`...)
		b = appendContentXML(b, inf.rec)
		b = append(b, "</content>"...)
	}
	return append(b, "</entry>"...)
}

func appendContentXML(b []byte, rec *store.EventRecord) []byte {
	b = appendXMLElem(b, "eventStreamId", rec.Stream)
	b = append(b, "<eventNumber>"...)
	b = strconv.AppendInt(b, rec.Number, 10)
	b = append(b, "</eventNumber>"...)
	b = appendXMLElem(b, "eventType", rec.Type)
	b = append(b, "<eventId>"...)
	b = appendGUID(b, &rec.ID)
	b = append(b, "</eventId>"...)
	b = appendDataXML(b, "data", rec.Data, rec.IsJSON)
	b = appendDataXML(b, "metadata", rec.Metadata, rec.IsJSON)
	return b
}

// appendDataXML writes JSON data converted to XML elements under name, or
// the data as text.
func appendDataXML(b []byte, name string, d []byte, isJSON bool) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	if isJSON && json.Valid(d) {
		b = appendJSONAsXML(b, d)
	} else {
		b = appendXMLText(b, b2s(d))
	}
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

// appendJSONAsXML converts a JSON value to XML content the way Newtonsoft's
// DeserializeXmlNode does for the common shapes: members become elements,
// arrays repeat the member's element, scalars become text.
func appendJSONAsXML(b []byte, d []byte) []byte {
	var v any
	dec := json.NewDecoder(bytes.NewReader(d))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return appendXMLText(b, b2s(d))
	}
	return appendXMLValue(b, v)
}

func appendXMLValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case map[string]any:
		// encoding/json loses member order; sort for a stable document.
		keys := sortedKeys(x)
		for _, k := range keys {
			name := xmlName(k)
			if arr, ok := x[k].([]any); ok {
				for _, el := range arr {
					b = append(b, '<')
					b = append(b, name...)
					b = append(b, '>')
					b = appendXMLValue(b, el)
					b = append(b, "</"...)
					b = append(b, name...)
					b = append(b, '>')
				}
				continue
			}
			b = append(b, '<')
			b = append(b, name...)
			b = append(b, '>')
			b = appendXMLValue(b, x[k])
			b = append(b, "</"...)
			b = append(b, name...)
			b = append(b, '>')
		}
	case []any:
		for _, el := range x {
			b = append(b, "<item>"...)
			b = appendXMLValue(b, el)
			b = append(b, "</item>"...)
		}
	case string:
		b = appendXMLText(b, x)
	case json.Number:
		b = append(b, x...)
	case bool:
		b = strconv.AppendBool(b, x)
	}
	return b
}

// xmlName makes a JSON member name usable as an element name.
func xmlName(k string) string {
	if k == "" {
		return "_"
	}
	out := []byte(k)
	for i, c := range out {
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 || (i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.'))
		if !ok {
			out[i] = '_'
		}
	}
	return string(out)
}

func (r *request) appendFeedXML(b []byte, p *feedPage) []byte {
	b = append(b, xmlHeader...)
	b = append(b, `<feed xmlns="http://www.w3.org/2005/Atom">`...)
	b = appendXMLElem(b, "title", p.title)
	b = appendXMLElem(b, "id", b2s(p.selfURL))
	b = append(b, "<updated>"...)
	b = appendTime(b, p.updated)
	b = append(b, "</updated><author><name>EventStore</name></author>"...)
	for i := 0; i < p.nLinks; i++ {
		b = appendXMLLink(b, p.links[i].uri, p.links[i].rel)
	}
	n := len(p.entries)
	for i := 0; i < n; i++ {
		j := i
		if p.reverse {
			j = n - 1 - i
		}
		b = r.appendEntryXML(b, &p.entries[j], p.level, false, false)
	}
	return append(b, "</feed>"...)
}

// appendHTMLPage writes the small page that sends a browser into the admin
// UI (spec §2.13); the JSON representation is embedded for reference.
func appendHTMLPage(b []byte, target string, embedded []byte) []byte {
	b = append(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>EventStore</title>\n<script>window.location.replace('/web/index.html#/streams/"...)
	for i := 0; i < len(target); i++ {
		c := target[i]
		if c == '\'' || c == '\\' || c == '<' || c == '>' || c < 0x20 {
			b = append(b, '%', upperHex[c>>4], upperHex[c&0xF])
			continue
		}
		b = append(b, c)
	}
	b = append(b, "');</script></head><body><pre>"...)
	b = appendXMLText(b, b2s(embedded))
	return append(b, "</pre></body></html>\n"...)
}
