package node

import (
	"encoding/json"

	"github.com/valyala/fasthttp"
)

// pingMsgTypeID is the msgTypeId of the /ping reply. Clients ignore it
// (spec http-api Appendix C); it is a fixed constant so that it is stable
// across builds.
const pingMsgTypeID = 11

// basicHTTPHandler serves what a node answers before the HTTP front end is
// wired in: GET /ping and GET /info (spec http-api §4.1, §4.2). Anything
// else is 404. It runs on fasthttp's goroutines and reads only immutable
// or atomic state.
func (n *Node) basicHTTPHandler(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Error("Method Not Allowed", fasthttp.StatusMethodNotAllowed)
		return
	}
	switch string(ctx.Path()) {
	case "/ping":
		writeJSON(ctx, struct {
			Text      string `json:"text"`
			MsgTypeID int    `json:"msgTypeId"`
		}{"Ping request successfully handled", pingMsgTypeID})
	case "/info":
		writeJSON(ctx, struct {
			ESVersion       string `json:"esVersion"`
			State           string `json:"state"`
			ProjectionsMode string `json:"projectionsMode"`
		}{ESVersion, n.State().InfoName(), n.opts.RunProjections.String()})
	default:
		ctx.Error("Not Found", fasthttp.StatusNotFound)
	}
}

func writeJSON(ctx *fasthttp.RequestCtx, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic("BUG: cannot marshal a fixed reply: " + err.Error())
	}
	ctx.SetContentType("application/json; charset=utf-8")
	ctx.SetBody(b)
}
