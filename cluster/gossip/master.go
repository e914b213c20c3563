package gossip

import (
	"github.com/eventstored/eventstored/cluster"
	"github.com/eventstored/eventstored/codec"
)

// Master returns the master as this view shows it: the alive member in
// state Master; when several claim it (during a change of master), the
// one with the highest epoch number, then writer checkpoint. Followers
// use it for NotHandled(NotMaster) replies and HTTP redirects (spec §7).
func (ci ClusterInfo) Master() (Member, bool) {
	var best Member
	found := false
	for _, m := range ci.Members {
		if !m.IsAlive || m.State != cluster.StateMaster {
			continue
		}
		if !found || m.EpochNumber > best.EpochNumber ||
			(m.EpochNumber == best.EpochNumber && m.WriterCheckpoint > best.WriterCheckpoint) {
			best, found = m, true
		}
	}
	return best, found
}

// NotMasterInfo is the MasterInfo of a NotHandled(NotMaster) reply: the
// master's advertised external endpoints, never bound ones (spec §2.4,
// §7.1). The secure port is present only when the master has one.
func NotMasterInfo(m Member) codec.MasterInfo {
	mi := codec.MasterInfo{
		ExternalTCPAddress: m.ExternalTCP.Addr().String(), ExternalTCPPort: int32(m.ExternalTCP.Port()),
		ExternalHTTPAddress: m.ExternalHTTP.Addr().String(), ExternalHTTPPort: int32(m.ExternalHTTP.Port()),
	}
	if m.ExternalSecureTCP != 0 {
		mi.ExternalSecureTCPAddress = m.ExternalTCP.Addr().String()
		mi.ExternalSecureTCPPort = int32(m.ExternalSecureTCP)
		mi.HasExternalSecureTCPPort = true
	}
	return mi
}

// RedirectURL is the Location of the 307 a follower answers to an HTTP
// request with ES-RequireMaster: True (spec §7.3): the same path and query
// on the master's advertised external HTTP endpoint, scheme kept.
// requestURI starts with '/'.
func RedirectURL(m Member, scheme, requestURI string) string {
	if scheme == "" {
		scheme = "http"
	}
	return scheme + "://" + m.ExternalHTTP.String() + requestURI
}
