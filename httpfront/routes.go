package httpfront

// routes builds the route table of this interface (spec http-api §1.1,
// §2.1, §4; cluster-and-options §2.3). Route groups that an option keeps
// off the external interface are simply not registered (→ 404).
func (h *Handler) routes() []*route {
	ext := h.d.Interface == External
	o := &h.d.Options
	var rs []*route
	add := func(m method, tmpl string, fn handlerFunc, offers, accepts []mediaType) {
		rs = append(rs, &route{m: m, tmpl: tmpl, fn: fn, offers: offers, accepts: accepts})
	}
	// Streams (AtomPub).
	add(mPOST, "/streams/{stream}", (*Handler).postStream, writeCodecs, writeCodecs)
	add(mDELETE, "/streams/{stream}", (*Handler).deleteStream, writeCodecs, nil)
	add(mGET, "/streams/{stream}", (*Handler).feedHead, feedCodecs, nil)
	add(mPOST, "/streams/{stream}/incoming/{guid}", (*Handler).postIncoming, incomingCodecs, incomingCodecs)
	add(mGET, "/streams/{stream}/{event}", (*Handler).getEvent, eventCodecs, nil)
	add(mGET, "/streams/{stream}/{event}/{count}", (*Handler).feedBackward, feedCodecs, nil)
	add(mGET, "/streams/{stream}/{event}/backward/{count}", (*Handler).feedBackward, feedCodecs, nil)
	add(mGET, "/streams/{stream}/{event}/forward/{count}", (*Handler).feedForward, feedCodecs, nil)
	add(mPOST, "/streams/{stream}/metadata", (*Handler).postMetadata, writeCodecs, writeCodecs)
	add(mGET, "/streams/{stream}/metadata", (*Handler).getMetadataEvent, eventCodecs, nil)
	add(mGET, "/streams/{stream}/metadata/{event}", (*Handler).getMetadataEvent, eventCodecs, nil)
	add(mGET, "/streams/{stream}/metadata/{event}/{count}", (*Handler).metaFeedBackward, feedCodecs, nil)
	add(mGET, "/streams/{stream}/metadata/{event}/backward/{count}", (*Handler).metaFeedBackward, feedCodecs, nil)
	add(mGET, "/streams/{stream}/metadata/{event}/forward/{count}", (*Handler).metaFeedForward, feedCodecs, nil)
	add(mGET, "/streams/$all", (*Handler).allHead, feedCodecs, nil)
	add(mGET, "/streams/$all/{position}/{count}", (*Handler).allBackward, feedCodecs, nil)
	add(mGET, "/streams/$all/{position}/backward/{count}", (*Handler).allBackward, feedCodecs, nil)
	add(mGET, "/streams/$all/{position}/forward/{count}", (*Handler).allForward, feedCodecs, nil)
	add(mGET, "/streams/{stream}/", (*Handler).redirectSlash, writeCodecs, nil)
	add(mPOST, "/streams/{stream}/", (*Handler).redirectSlash, writeCodecs, writeCodecs)
	add(mDELETE, "/streams/{stream}/", (*Handler).redirectSlash, writeCodecs, nil)
	add(mPOST, "/streams/{stream}/metadata/", (*Handler).redirectSlash, writeCodecs, writeCodecs)
	add(mGET, "/streams/{stream}/metadata/", (*Handler).redirectSlash, eventCodecs, nil)
	add(mGET, "/streams/$all/", (*Handler).redirectSlash, feedCodecs, nil)

	// Users.
	add(mGET, "/users/", (*Handler).listUsers, jsonXMLCodecs, nil)
	add(mGET, "/users", (*Handler).listUsers, jsonXMLCodecs, nil) // [4.1+], harmless
	add(mGET, "/users/$current", (*Handler).currentUser, jsonXMLCodecs, nil)
	add(mGET, "/users/{login}", (*Handler).getUser, jsonXMLCodecs, nil)
	add(mPOST, "/users/", (*Handler).createUser, jsonXMLCodecs, jsonXMLCodecs)
	add(mPOST, "/users", (*Handler).createUser, jsonXMLCodecs, jsonXMLCodecs)
	add(mPUT, "/users/{login}", (*Handler).updateUser, jsonXMLCodecs, jsonXMLCodecs)
	add(mDELETE, "/users/{login}", (*Handler).deleteUser, jsonXMLCodecs, nil)
	add(mPOST, "/users/{login}/command/enable", (*Handler).enableUser, jsonXMLCodecs, nil)
	add(mPOST, "/users/{login}/command/disable", (*Handler).disableUser, jsonXMLCodecs, nil)
	add(mPOST, "/users/{login}/command/reset-password", (*Handler).resetPassword, jsonXMLCodecs, jsonXMLCodecs)
	add(mPOST, "/users/{login}/command/change-password", (*Handler).changePassword, jsonXMLCodecs, jsonXMLCodecs)

	// Node.
	add(mGET, "/ping", (*Handler).ping, pingCodecs, nil)
	add(mGET, "/info", (*Handler).info, pingCodecs, nil)
	add(mGET, "/info/options", (*Handler).infoOptions, pingCodecs, nil)
	add(mGET, "/histogram/{name}", (*Handler).histogram, pingCodecs, nil)
	add(mGET, "/health/live", (*Handler).healthLive, anyCodecs, nil)
	add(mGET, "/health/ready", (*Handler).healthReady, anyCodecs, nil)
	add(mGET, "/metrics", (*Handler).serveMetrics, anyCodecs, nil)
	if !ext || o.StatsOnExt {
		add(mGET, "/stats", (*Handler).stats, statsCodecs, nil)
		add(mGET, "/stats/{*path}", (*Handler).stats, statsCodecs, nil)
		add(mGET, "/stats/tcp", (*Handler).statsTCP, statsCodecs, nil)
		add(mGET, "/stats/replication", (*Handler).statsReplication, statsCodecs, nil)
	}
	if !ext || o.AdminOnExt {
		add(mPOST, "/admin/shutdown", (*Handler).adminShutdown, adminCodecs, nil)
		add(mPOST, "/admin/scavenge", (*Handler).adminScavenge, adminCodecs, nil)
		add(mGET, "/", (*Handler).redirectWeb, anyCodecs, nil)
		add(mGET, "/web", (*Handler).redirectWeb, anyCodecs, nil)
		add(mGET, "/web/{*path}", (*Handler).webFile, anyCodecs, nil)
		add(mGET, "/sys/subsystems", (*Handler).subsystems, jsonOnly, nil)
	}
	rs = append(rs, h.subscriptionRoutes()...) // subscriptions.go
	if !ext || o.GossipOnExt {
		add(mGET, "/gossip", (*Handler).gossip, gossipCodecs, nil)
	}
	return rs
}
