package httpfront

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// ClusterHandler serves the node-to-node routes of a cluster (spec
// cluster-and-options §2.3, §3.3). The node implements it over the gossip
// driver; httpfront knows nothing of gossip itself. Methods are called on
// fasthttp's goroutines and must be safe for concurrent use.
type ClusterHandler interface {
	// GossipGet answers GET /gossip: status and JSON body.
	GossipGet() (status int, body []byte)
	// GossipPost answers POST /gossip from a peer whose cluster identity
	// header was clusterID; it returns our identity for the reply header.
	GossipPost(clusterID string, body []byte) (status int, ownClusterID string, reply []byte)
	// RaftPost answers POST /cluster/raft (consensus messages between
	// nodes); nil-safe implementations answer 404 while consensus is off.
	RaftPost(body []byte) (status int, reply []byte)
}

// ClusterIDHeader carries the cluster identity on node-to-node requests
// (same value as gossip.ClusterIDHeader).
const ClusterIDHeader = "ES-ClusterId"

var (
	pathGossip = []byte("/gossip")
	pathRaft   = []byte("/cluster/raft")
	ctJSON     = []byte("application/json")
)

// WithCluster puts the cluster routes in front of next, the interface's
// regular handler: on internal HTTP GET and POST /gossip and POST
// /cluster/raft; on external HTTP GET /gossip only when gossipOnExt
// (POSTs never). Everything else
// (and everything when ch is nil) goes to next, whose own route table
// decides — so a route an option removes answers exactly as any unknown
// route does.
func WithCluster(next fasthttp.RequestHandler, ch ClusterHandler, iface Interface, gossipOnExt bool) fasthttp.RequestHandler {
	if ch == nil {
		return next
	}
	return func(ctx *fasthttp.RequestCtx) {
		if iface == Internal && ctx.IsPost() && bytes.Equal(ctx.Path(), pathRaft) {
			status, body := ch.RaftPost(ctx.PostBody())
			reply(ctx, status, body)
			return
		}
		if !bytes.Equal(ctx.Path(), pathGossip) {
			next(ctx)
			return
		}
		switch {
		case ctx.IsGet() && (iface == Internal || gossipOnExt):
			status, body := ch.GossipGet()
			ctx.Response.Header.SetBytesKV(hdrCacheControl, ccRevalidate)
			ctx.Response.Header.SetBytesKV(hdrVary, valAccept)
			reply(ctx, status, body)
		case ctx.IsPost() && iface == Internal:
			if len(ctx.PostBody()) > maxClusterBody {
				reply(ctx, fasthttp.StatusRequestEntityTooLarge, []byte("gossip message too large"))
				return
			}
			status, own, body := ch.GossipPost(string(ctx.Request.Header.Peek(ClusterIDHeader)), ctx.PostBody())
			if own != "" {
				ctx.Response.Header.Set(ClusterIDHeader, own)
			}
			reply(ctx, status, body)
		default:
			next(ctx)
		}
	}
}

// maxClusterBody bounds node-to-node request bodies (gossip.MaxMessageBytes).
const maxClusterBody = 1 << 20

func reply(ctx *fasthttp.RequestCtx, status int, body []byte) {
	ctx.SetStatusCode(status)
	if status == fasthttp.StatusOK {
		ctx.SetContentTypeBytes(ctJSON)
	} else {
		ctx.SetContentType("text/plain; charset=utf-8")
	}
	ctx.SetBody(body)
}
