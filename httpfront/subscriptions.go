package httpfront

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/node/auth"
	"github.com/eventstored/eventstored/node/subscriptions"
)

// Persistent subscriptions over HTTP (spec http-api §3). The groups live in
// node/subscriptions (Deps.Persistent); these handlers translate. They
// block the fasthttp goroutine only while waiting for the service's reply.
// Response bodies are JSON (and competingatom+json for messages); the XML
// variants are not offered yet (→ 406).

var competingCodecs = []mediaType{mtCompetingJSON}

// subscriptionRoutes is appended to the route table when Deps.Persistent
// is set.
func (h *Handler) subscriptionRoutes() []*route {
	if h.d.Persistent == nil {
		return nil
	}
	var rs []*route
	add := func(m method, tmpl string, fn handlerFunc, offers []mediaType) {
		rs = append(rs, &route{m: m, tmpl: tmpl, fn: fn, offers: offers})
	}
	add(mGET, "/subscriptions", (*Handler).subsList, jsonOnly)
	add(mGET, "/subscriptions/{stream}", (*Handler).subsList, jsonOnly)
	add(mPUT, "/subscriptions/{stream}/{group}", (*Handler).subsCreate, jsonOnly)
	add(mPOST, "/subscriptions/{stream}/{group}", (*Handler).subsUpdate, jsonOnly)
	add(mDELETE, "/subscriptions/{stream}/{group}", (*Handler).subsDelete, jsonOnly)
	add(mGET, "/subscriptions/{stream}/{group}", (*Handler).subsTake, competingCodecs)
	add(mGET, "/subscriptions/{stream}/{group}/{count}", (*Handler).subsTake, competingCodecs)
	add(mGET, "/subscriptions/{stream}/{group}/info", (*Handler).subsInfo, jsonOnly)
	add(mPOST, "/subscriptions/{stream}/{group}/ack/{messageid}", (*Handler).subsAck, anyCodecs)
	add(mPOST, "/subscriptions/{stream}/{group}/ack", (*Handler).subsAck, anyCodecs)
	add(mPOST, "/subscriptions/{stream}/{group}/nack/{messageid}", (*Handler).subsNack, anyCodecs)
	add(mPOST, "/subscriptions/{stream}/{group}/nack", (*Handler).subsNack, anyCodecs)
	add(mPOST, "/subscriptions/{stream}/{group}/replayParked", (*Handler).subsReplayParked, jsonOnly)
	return rs
}

// subsWait bounds how long a handler waits for the service.
const subsWait = 10 * time.Second

func waitErr(ch chan error) error {
	select {
	case err := <-ch:
		return err
	case <-time.After(subsWait):
		return errors.New("the persistent subscription service did not answer in time")
	}
}

// subsBody is the create/update body (spec §3.2); members are matched
// case-insensitively by encoding/json.
type subsBody struct {
	ResolveLinktos              bool
	StartFrom                   int64
	MessageTimeoutMilliseconds  int64
	ExtraStatistics             bool
	MaxRetryCount               int
	LiveBufferSize              int
	BufferSize                  int
	ReadBatchSize               int
	PreferRoundRobin            bool
	CheckPointAfterMilliseconds int64
	MinCheckPointCount          int
	MaxCheckPointCount          int
	MaxSubscriberCount          int
	NamedConsumerStrategy       string
}

func (h *Handler) subsConfig(r *request) (subscriptions.GroupConfig, string) {
	b := subsBody{MessageTimeoutMilliseconds: 10000, MaxRetryCount: 10, LiveBufferSize: 500, BufferSize: 500,
		ReadBatchSize: 20, CheckPointAfterMilliseconds: 1000, MinCheckPointCount: 10, MaxCheckPointCount: 500,
		MaxSubscriberCount: 10, NamedConsumerStrategy: subscriptions.StrategyRoundRobin}
	// An empty or unparsable body means all defaults (quirk, spec §3.2).
	if err := json.Unmarshal(r.ctx.PostBody(), &b); err != nil {
		b = subsBody{MessageTimeoutMilliseconds: 10000, MaxRetryCount: 10, LiveBufferSize: 500, BufferSize: 500,
			ReadBatchSize: 20, CheckPointAfterMilliseconds: 1000, MinCheckPointCount: 10, MaxCheckPointCount: 500,
			MaxSubscriberCount: 10, NamedConsumerStrategy: subscriptions.StrategyRoundRobin}
	}
	switch {
	case b.BufferSize <= 0:
		return subscriptions.GroupConfig{}, "Buffer Size (" + strconv.Itoa(b.BufferSize) + ") must be positive"
	case b.LiveBufferSize <= 0:
		return subscriptions.GroupConfig{}, "Live Buffer Size (" + strconv.Itoa(b.LiveBufferSize) + ") must be positive"
	case b.ReadBatchSize <= 0:
		return subscriptions.GroupConfig{}, "Read Batch Size (" + strconv.Itoa(b.ReadBatchSize) + ") must be positive"
	case b.BufferSize <= b.ReadBatchSize:
		return subscriptions.GroupConfig{}, "BufferSize (" + strconv.Itoa(b.BufferSize) + ") must be larger than ReadBatchSize (" +
			strconv.Itoa(b.ReadBatchSize) + ")"
	}
	st := b.NamedConsumerStrategy
	if st == "" {
		st = subscriptions.StrategyDispatchToSingle
		if b.PreferRoundRobin {
			st = subscriptions.StrategyRoundRobin
		}
	}
	return subscriptions.GroupConfig{Stream: string(r.param(0)), Group: string(r.param(1)), ResolveLinkTos: b.ResolveLinktos,
		ExtraStatistics: b.ExtraStatistics, MessageTimeoutMs: b.MessageTimeoutMilliseconds, StartFrom: b.StartFrom,
		LiveBufferSize: b.LiveBufferSize, HistoryBufferSize: b.BufferSize, MaxRetryCount: b.MaxRetryCount,
		ReadBatchSize: b.ReadBatchSize, CheckPointAfterMs: b.CheckPointAfterMilliseconds, MinCheckPointCount: b.MinCheckPointCount,
		MaxCheckPointCount: b.MaxCheckPointCount, MaxSubscriberCount: b.MaxSubscriberCount, Strategy: st}, ""
}

// subsResult writes {correlationId, reason, result, msgTypeId} with the
// location header of spec §3.2.
func (h *Handler) subsResult(r *request, code int, result, reason string, msgType int64) {
	loc := string(r.base) + "/subscriptions/" + string(r.param(0)) + "/" + string(r.param(1))
	r.ctx.Response.Header.Set("Location", loc)
	var w jw
	w.reset(r.buf[:0])
	w.obj()
	id := [16]byte(codec.NewGUID())
	w.key("correlationId")
	w.guid(&id)
	w.kStr("reason", reason)
	w.kStr("result", result)
	w.kInt("msgTypeId", msgType)
	w.endObj()
	r.buf = w.b
	r.reply(code, fasthttp.StatusMessage(code), mtJSON, r.buf)
}

func (h *Handler) subsMayManage(r *request) bool {
	if !r.user.IsAdminOrOps() {
		r.status(fasthttp.StatusUnauthorized, "Unauthorized")
		return false
	}
	return true
}

func (h *Handler) subsCreate(r *request) { h.subsCreateOrUpdate(r, false) }
func (h *Handler) subsUpdate(r *request) { h.subsCreateOrUpdate(r, true) }

func (h *Handler) subsCreateOrUpdate(r *request, update bool) {
	if !h.subsMayManage(r) {
		return
	}
	cfg, bad := h.subsConfig(r)
	if bad != "" {
		r.status(fasthttp.StatusBadRequest, bad)
		return
	}
	ch := make(chan error, 1)
	if update {
		h.d.Persistent.Update(cfg, func(err error) { ch <- err })
	} else {
		h.d.Persistent.Create(cfg, func(err error) { ch <- err })
	}
	err := waitErr(ch)
	const createdType, updatedType = 412, 418
	switch {
	case err == nil && update:
		h.subsResult(r, fasthttp.StatusOK, "Success", "", updatedType)
	case err == nil:
		h.subsResult(r, fasthttp.StatusCreated, "Success", "", createdType)
	case errors.Is(err, subscriptions.ErrGroupExists):
		h.subsResult(r, fasthttp.StatusConflict, "AlreadyExists", "Group '"+cfg.Group+"' already exists.", createdType)
	case errors.Is(err, subscriptions.ErrGroupNotFound):
		h.subsResult(r, fasthttp.StatusNotFound, "DoesNotExist", "Group '"+cfg.Group+"' does not exist.", updatedType)
	default:
		h.subsResult(r, fasthttp.StatusInternalServerError, "Fail", err.Error(), createdType)
	}
}

func (h *Handler) subsDelete(r *request) {
	if !h.subsMayManage(r) {
		return
	}
	ch := make(chan error, 1)
	h.d.Persistent.Delete(string(r.param(0)), string(r.param(1)), func(err error) { ch <- err })
	const deletedType = 416
	switch err := waitErr(ch); {
	case err == nil:
		h.subsResult(r, fasthttp.StatusOK, "Success", "", deletedType)
	case errors.Is(err, subscriptions.ErrGroupNotFound):
		h.subsResult(r, fasthttp.StatusNotFound, "DoesNotExist", "", deletedType)
	default:
		h.subsResult(r, fasthttp.StatusInternalServerError, "Fail", err.Error(), deletedType)
	}
}

func (h *Handler) subsReplayParked(r *request) {
	if !h.subsMayManage(r) {
		return
	}
	ch := make(chan error, 1)
	h.d.Persistent.ReplayParked(string(r.param(0)), string(r.param(1)), func(err error) { ch <- err })
	const replayType = 2003
	switch err := waitErr(ch); {
	case err == nil:
		h.subsResult(r, fasthttp.StatusOK, "Success", "", replayType)
	case errors.Is(err, subscriptions.ErrGroupNotFound):
		h.subsResult(r, fasthttp.StatusNotFound, "DoesNotExist", "", replayType)
	default:
		h.subsResult(r, fasthttp.StatusInternalServerError, "Fail", err.Error(), replayType)
	}
}

func (h *Handler) subsGroups() ([]subscriptions.GroupInfo, bool) {
	ch := make(chan []subscriptions.GroupInfo, 1)
	if !h.d.Persistent.Groups(func(g []subscriptions.GroupInfo) { ch <- g }) {
		return nil, false
	}
	select {
	case g := <-ch:
		return g, true
	case <-time.After(subsWait):
		return nil, false
	}
}

func (h *Handler) subsURI(r *request, stream, group string) string {
	return string(r.base) + "/subscriptions/" + url.PathEscape(stream) + "/" + url.PathEscape(group)
}

func (h *Handler) writeGroupSummary(r *request, w *jw, g *subscriptions.GroupInfo, detail bool) {
	uri := h.subsURI(r, g.Config.Stream, g.Config.Group)
	w.obj()
	w.key("links")
	w.arr()
	w.obj()
	w.kStr("href", uri+"/info")
	w.kStr("rel", "detail")
	w.endObj()
	w.endArr()
	if detail {
		w.key("config")
		w.obj()
		w.kBool("resolveLinktos", g.Config.ResolveLinkTos)
		w.kInt("startFrom", g.Config.StartFrom)
		w.kInt("messageTimeoutMilliseconds", g.Config.MessageTimeoutMs)
		w.kBool("extraStatistics", g.Config.ExtraStatistics)
		w.kInt("maxRetryCount", int64(g.Config.MaxRetryCount))
		w.kInt("liveBufferSize", int64(g.Config.LiveBufferSize))
		w.kInt("bufferSize", int64(g.Config.HistoryBufferSize))
		w.kInt("readBatchSize", int64(g.Config.ReadBatchSize))
		w.kBool("preferRoundRobin", g.Config.Strategy == subscriptions.StrategyRoundRobin)
		w.kInt("checkPointAfterMilliseconds", g.Config.CheckPointAfterMs)
		w.kInt("minCheckPointCount", int64(g.Config.MinCheckPointCount))
		w.kInt("maxCheckPointCount", int64(g.Config.MaxCheckPointCount))
		w.kInt("maxSubscriberCount", int64(g.Config.MaxSubscriberCount))
		w.kStr("namedConsumerStrategy", g.Config.Strategy)
		w.endObj()
	}
	w.kStr("eventStreamId", g.Config.Stream)
	w.kStr("groupName", g.Config.Group)
	w.kStr("status", "Live")
	w.kStr("parkedMessageUri", string(r.base)+"/streams/"+url.PathEscape(subscriptions.ParkedStream(g.ID)))
	w.kStr("getMessagesUri", uri+"/1")
	w.kInt("totalItemsProcessed", int64(g.Stats.Acked+g.Stats.Parked))
	w.kInt("lastProcessedEventNumber", g.LastCheckpoint)
	w.kInt("lastKnownEventNumber", g.LastReadNumber)
	w.kInt("connectionCount", int64(g.Consumers))
	w.kInt("totalInFlightMessages", int64(g.InFlight))
	if detail {
		w.kInt("readBufferCount", int64(g.Buffered))
		w.kInt("retryCount", int64(g.Stats.Retried))
		w.kInt("parkedMessageCount", int64(g.Stats.Parked))
		w.kInt("timedOutCount", int64(g.Stats.TimedOut))
		w.kInt("deliveredCount", int64(g.Stats.Delivered))
	}
	w.endObj()
}

func (h *Handler) subsList(r *request) {
	groups, ok := h.subsGroups()
	if !ok {
		r.status(fasthttp.StatusServiceUnavailable, "Persistent subscriptions are busy")
		return
	}
	stream := ""
	if r.mr.np > 0 {
		stream = string(r.param(0))
	}
	var w jw
	w.reset(r.buf[:0])
	w.arr()
	for i := range groups {
		if stream == "" || groups[i].Config.Stream == stream {
			h.writeGroupSummary(r, &w, &groups[i], false)
		}
	}
	w.endArr()
	r.buf = w.b
	r.reply(fasthttp.StatusOK, "", mtJSON, r.buf)
}

func (h *Handler) subsInfo(r *request) {
	groups, ok := h.subsGroups()
	if !ok {
		r.status(fasthttp.StatusServiceUnavailable, "Persistent subscriptions are busy")
		return
	}
	id := subscriptions.GroupID(string(r.param(0)), string(r.param(1)))
	for i := range groups {
		if groups[i].ID == id {
			var w jw
			w.reset(r.buf[:0])
			h.writeGroupSummary(r, &w, &groups[i], true)
			r.buf = w.b
			r.reply(fasthttp.StatusOK, "", mtJSON, r.buf)
			return
		}
	}
	r.status(fasthttp.StatusNotFound, "Not Found")
}

// subsTake hands out messages (spec §3.4).
func (h *Handler) subsTake(r *request) {
	stream, group := string(r.param(0)), string(r.param(1))
	count := 1
	if r.mr.np > 2 {
		n, err := strconv.Atoi(string(r.param(2)))
		if err != nil || n < 1 || n > subscriptions.PullMax {
			if err != nil {
				n = 0
			}
			r.status(fasthttp.StatusBadRequest, "Message count must be an integer between 1 and 100 'count' ='"+strconv.Itoa(n)+"'")
			return
		}
		count = n
	}
	if !h.d.Auth.CheckStreamAccess(r.user, stream, auth.ActionRead) {
		r.status(fasthttp.StatusUnauthorized, "Unauthorized")
		return
	}
	type pulled struct {
		m   []subscriptions.Message
		err error
	}
	ch := make(chan pulled, 1)
	h.d.Persistent.Pull(stream, group, count, func(m []subscriptions.Message, err error) { ch <- pulled{m, err} })
	var p pulled
	select {
	case p = <-ch:
	case <-time.After(subsWait):
		p.err = errors.New("timeout")
	}
	switch {
	case errors.Is(p.err, subscriptions.ErrGroupNotFound):
		r.status(fasthttp.StatusNotFound, "Not Found")
		return
	case p.err != nil:
		r.status(fasthttp.StatusInternalServerError, p.err.Error())
		return
	}
	uri := h.subsURI(r, stream, group)
	var ids strings.Builder
	for i := range p.m {
		if i > 0 {
			ids.WriteByte(',')
		}
		ids.Write(appendGUID(nil, &p.m[i].ID))
	}
	var w jw
	w.reset(r.buf[:0])
	w.obj()
	w.kStr("title", "Messages for '"+stream+"/"+group+"'")
	w.kStr("id", uri)
	if len(p.m) > 0 {
		w.key("updated")
		w.time(p.m[len(p.m)-1].Event.Event.CreatedUnixNano)
	} else {
		w.kStr("updated", "0001-01-01T00:00:00Z")
	}
	w.key("author")
	w.obj()
	w.kStr("name", "EventStore")
	w.endObj()
	w.kBool("headOfStream", false)
	w.key("links")
	w.arr()
	link := func(href, rel string) {
		w.obj()
		w.kStr("uri", href)
		w.kStr("relation", rel)
		w.endObj()
	}
	if len(p.m) > 0 {
		link(uri+"/ack?ids="+ids.String(), "ackAll")
		link(uri+"/nack?ids="+ids.String(), "nackAll")
	}
	link(uri+"/"+strconv.Itoa(count), "previous")
	link(uri, "self")
	w.endArr()
	w.key("entries")
	w.arr()
	for i := len(p.m) - 1; i >= 0; i-- { // newest first
		m := &p.m[i]
		rec := &m.Event.Event
		orig := rec
		if m.Event.HasLink {
			orig = &m.Event.Link
		}
		if !m.Event.HasEvent {
			rec = orig
		}
		mid := string(appendGUID(nil, &m.ID))
		eventURI := string(r.base) + "/streams/" + url.PathEscape(rec.Stream) + "/" + strconv.FormatInt(rec.Number, 10)
		w.obj()
		w.key("eventId")
		w.guid(&rec.ID)
		w.kStr("eventType", rec.Type)
		w.kInt("eventNumber", rec.Number)
		if rec.IsJSON && json.Valid(rec.Data) {
			w.key("data")
			w.raw(rec.Data)
		} else {
			w.kStr("data", string(rec.Data))
		}
		if len(rec.Metadata) > 0 && json.Valid(rec.Metadata) {
			w.key("metaData")
			w.raw(rec.Metadata)
		}
		w.kStr("streamId", rec.Stream)
		w.kBool("isJson", rec.IsJSON)
		w.kInt("positionEventNumber", orig.Number)
		w.kStr("positionStreamId", orig.Stream)
		w.kInt("retryCount", int64(m.RetryCount))
		w.kStr("title", strconv.FormatInt(rec.Number, 10)+"@"+rec.Stream)
		w.kStr("id", eventURI)
		w.key("updated")
		w.time(rec.CreatedUnixNano)
		w.key("links")
		w.arr()
		link(eventURI, "edit")
		link(eventURI, "alternate")
		link(uri+"/ack/"+mid, "ack")
		link(uri+"/nack/"+mid, "nack")
		w.endArr()
		w.endObj()
	}
	w.endArr()
	w.endObj()
	r.buf = w.b
	r.reply(fasthttp.StatusOK, "", mtCompetingJSON, r.buf)
}

// subsIDs parses {messageid} or ?ids=a,b; false after a 400.
func (h *Handler) subsIDs(r *request) ([][16]byte, bool) {
	var raw [][]byte
	if r.mr.np > 2 {
		raw = [][]byte{r.param(2)}
	} else if v, ok := r.queryArg("ids"); ok {
		raw = bytes.Split(v, []byte{','})
	}
	if len(raw) > 10*subscriptions.PullMax {
		raw = raw[:10*subscriptions.PullMax]
	}
	out := make([][16]byte, 0, len(raw))
	for _, b := range raw {
		id, ok := parseGUID(b)
		if !ok {
			r.status(fasthttp.StatusBadRequest, "messageid should be a properly formed guid")
			return nil, false
		}
		out = append(out, id)
	}
	return out, true
}

func (h *Handler) subsAck(r *request) {
	ids, ok := h.subsIDs(r)
	if !ok {
		return
	}
	h.d.Persistent.Ack(subscriptions.GroupID(string(r.param(0)), string(r.param(1))), nil, ids)
	r.status(fasthttp.StatusAccepted, "")
}

func (h *Handler) subsNack(r *request) {
	ids, ok := h.subsIDs(r)
	if !ok {
		return
	}
	action := codec.NakUnknown
	if v, ok := r.queryArg("action"); ok {
		switch strings.ToLower(string(v)) {
		case "park":
			action = codec.NakPark
		case "retry":
			action = codec.NakRetry
		case "skip":
			action = codec.NakSkip
		case "stop":
			action = codec.NakStop
		}
	}
	h.d.Persistent.Nak(subscriptions.GroupID(string(r.param(0)), string(r.param(1))), nil, ids, action, "nacked over HTTP")
	r.status(fasthttp.StatusAccepted, "")
}
