package gossip

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/eventstored/eventstored/cluster"
)

// GUID is a 16-byte .NET Guid in its memory layout (first three groups
// little-endian), rendered hyphenated lower case like Event Store does.
type GUID [16]byte

// guidOrder maps text position to byte index (-1 = hyphen) for the first
// four groups; the last 6 bytes are in order.
var guidOrder = [...]int{3, 2, 1, 0, -1, 5, 4, -1, 7, 6, -1, 8, 9, -1, 10, 11, 12, 13, 14, 15}

func (g GUID) String() string {
	var b [36]byte
	o := 0
	const hx = "0123456789abcdef"
	for _, i := range guidOrder {
		if i < 0 {
			b[o] = '-'
			o++
			continue
		}
		b[o], b[o+1] = hx[g[i]>>4], hx[g[i]&0xF]
		o += 2
	}
	return string(b[:])
}

// IsZero reports the all-zero GUID of seed/manager placeholders.
func (g GUID) IsZero() bool { return g == GUID{} }

// ParseGUID parses the hyphenated (or 32-digit) form.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 {
		return g, fmt.Errorf("invalid GUID %q", s)
	}
	raw, err := hex.DecodeString(h)
	if err != nil {
		return g, fmt.Errorf("invalid GUID %q", s)
	}
	j := 0
	for _, i := range guidOrder {
		if i < 0 {
			continue
		}
		g[i] = raw[j]
		j++
	}
	return g, nil
}

func (g GUID) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

func (g *GUID) UnmarshalText(b []byte) error {
	v, err := ParseGUID(string(b))
	if err != nil {
		return err
	}
	*g = v
	return nil
}

// Time is a UTC timestamp serialized as .NET does: ISO-8601 with up to 7
// fractional digits, trailing zeros trimmed (spec §3.4).
type Time struct{ time.Time }

const netTimeLayout = "2006-01-02T15:04:05.9999999Z"

func (t Time) MarshalText() ([]byte, error) {
	return []byte(t.UTC().Truncate(100 * time.Nanosecond).Format(netTimeLayout)), nil
}

func (t *Time) UnmarshalText(b []byte) error {
	v, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		// .NET also emits local offsets without 'Z' in some versions;
		// a timestamp that does not parse is a bad body.
		return fmt.Errorf("invalid timestamp %q", b)
	}
	t.Time = v.UTC()
	return nil
}

// Member is one gossip entry (MemberInfo, spec §3.4).
type Member struct {
	InstanceID        GUID
	TimeStamp         time.Time
	State             cluster.VNodeState
	IsAlive           bool
	InternalTCP       netip.AddrPort
	InternalSecureTCP uint16
	ExternalTCP       netip.AddrPort
	ExternalSecureTCP uint16
	InternalHTTP      netip.AddrPort
	ExternalHTTP      netip.AddrPort
	Position
	NodePriority int32
}

// Position is what a node reports of its log: checkpoints and the epoch
// (in this implementation the epoch number is the consensus term and the
// epoch position the log position where that term's first entry lies).
type Position struct {
	LastCommitPosition int64
	WriterCheckpoint   int64
	ChaserCheckpoint   int64
	EpochPosition      int64
	EpochNumber        int32
	EpochID            GUID
}

// NoPosition is the position of a seed placeholder or an empty log.
var NoPosition = Position{-1, -1, -1, -1, -1, GUID{}}

// hasEndpoint reports whether ep is any of m's endpoints (spec §3.5 rule 2).
func (m *Member) hasEndpoint(ep netip.AddrPort) bool {
	if m.InternalHTTP == ep || m.ExternalHTTP == ep || m.InternalTCP == ep || m.ExternalTCP == ep {
		return true
	}
	if m.InternalSecureTCP != 0 && netip.AddrPortFrom(m.InternalTCP.Addr(), m.InternalSecureTCP) == ep {
		return true
	}
	return m.ExternalSecureTCP != 0 && netip.AddrPortFrom(m.ExternalTCP.Addr(), m.ExternalSecureTCP) == ep
}

// moreUpToDate is rule 3 of §3.5: larger epoch number, else larger writer
// checkpoint, else newer timestamp.
func (m *Member) moreUpToDate(o *Member) bool {
	if m.EpochNumber != o.EpochNumber {
		return m.EpochNumber > o.EpochNumber
	}
	if m.WriterCheckpoint != o.WriterCheckpoint {
		return m.WriterCheckpoint > o.WriterCheckpoint
	}
	return m.TimeStamp.After(o.TimeStamp)
}

// endpointLess orders endpoints like Event Store's gossip list: ordinal
// comparison of the IP text, then port.
func endpointLess(a, b netip.AddrPort) bool {
	as, bs := a.Addr().String(), b.Addr().String()
	if as != bs {
		return as < bs
	}
	return a.Port() < b.Port()
}

// ClusterInfo is a gossip message or response: the sender's view and its
// advertised internal HTTP endpoint.
type ClusterInfo struct {
	Members []Member
	Server  netip.AddrPort
}

// wire forms, field order exactly as §3.4 serializes them.
type memberJSON struct {
	InstanceID            GUID   `json:"instanceId"`
	TimeStamp             Time   `json:"timeStamp"`
	State                 string `json:"state"`
	IsAlive               bool   `json:"isAlive"`
	InternalTcpIp         string `json:"internalTcpIp"`
	InternalTcpPort       int    `json:"internalTcpPort"`
	InternalSecureTcpPort int    `json:"internalSecureTcpPort"`
	ExternalTcpIp         string `json:"externalTcpIp"`
	ExternalTcpPort       int    `json:"externalTcpPort"`
	ExternalSecureTcpPort int    `json:"externalSecureTcpPort"`
	InternalHttpIp        string `json:"internalHttpIp"`
	InternalHttpPort      int    `json:"internalHttpPort"`
	ExternalHttpIp        string `json:"externalHttpIp"`
	ExternalHttpPort      int    `json:"externalHttpPort"`
	LastCommitPosition    int64  `json:"lastCommitPosition"`
	WriterCheckpoint      int64  `json:"writerCheckpoint"`
	ChaserCheckpoint      int64  `json:"chaserCheckpoint"`
	EpochPosition         int64  `json:"epochPosition"`
	EpochNumber           int32  `json:"epochNumber"`
	EpochId               GUID   `json:"epochId"`
	NodePriority          int32  `json:"nodePriority"`
}

type clusterJSON struct {
	Members    []memberJSON `json:"members"`
	ServerIp   string       `json:"serverIp"`
	ServerPort int          `json:"serverPort"`
}

// MaxMessageBytes bounds an incoming gossip body; a view of a few hundred
// members fits many times over.
const MaxMessageBytes = 1 << 20

// MaxMembers bounds the members of one incoming view (and so the size of
// this node's view: entries are keyed by internal HTTP endpoint).
const MaxMembers = 256

// Sentinel errors of message decoding.
var (
	ErrTooLarge   = errors.New("gossip: message too large")
	ErrBadMessage = errors.New("gossip: malformed message")
)

// Encode writes ci as Event Store does: members ordered by internal HTTP
// endpoint descending, indented, camelCase, enums as names (spec §3.4).
func (ci ClusterInfo) Encode() []byte {
	b, err := json.MarshalIndent(ci.wire(), "", "  ")
	if err != nil {
		panic(err) // only plain values: cannot fail
	}
	return b
}

// MarshalJSON is the compact form (json.Marshal re-compacts anyway); use
// Encode for what goes on the wire.
func (ci ClusterInfo) MarshalJSON() ([]byte, error) { return json.Marshal(ci.wire()) }

func (ci ClusterInfo) wire() clusterJSON {
	ms := make([]Member, len(ci.Members))
	copy(ms, ci.Members)
	sortMembers(ms)
	cj := clusterJSON{Members: make([]memberJSON, len(ms)), ServerIp: ci.Server.Addr().String(), ServerPort: int(ci.Server.Port())}
	for i := range ms {
		m := &ms[i]
		cj.Members[i] = memberJSON{
			InstanceID: m.InstanceID, TimeStamp: Time{m.TimeStamp}, State: m.State.String(), IsAlive: m.IsAlive,
			InternalTcpIp: m.InternalTCP.Addr().String(), InternalTcpPort: int(m.InternalTCP.Port()),
			InternalSecureTcpPort: int(m.InternalSecureTCP),
			ExternalTcpIp:         m.ExternalTCP.Addr().String(), ExternalTcpPort: int(m.ExternalTCP.Port()),
			ExternalSecureTcpPort: int(m.ExternalSecureTCP),
			InternalHttpIp:        m.InternalHTTP.Addr().String(), InternalHttpPort: int(m.InternalHTTP.Port()),
			ExternalHttpIp: m.ExternalHTTP.Addr().String(), ExternalHttpPort: int(m.ExternalHTTP.Port()),
			LastCommitPosition: m.LastCommitPosition, WriterCheckpoint: m.WriterCheckpoint,
			ChaserCheckpoint: m.ChaserCheckpoint, EpochPosition: m.EpochPosition, EpochNumber: m.EpochNumber,
			EpochId: m.EpochID, NodePriority: m.NodePriority,
		}
	}
	return cj
}

// Decode parses a gossip body leniently (spec §3.4: unknown fields
// ignored, enum names case-insensitive, missing numbers 0) but strictly
// where a wrong value would corrupt the view: IPs must be IP literals,
// ports 0-65535, states known names.
func Decode(body []byte) (ClusterInfo, error) {
	var ci ClusterInfo
	if len(body) > MaxMessageBytes {
		return ci, ErrTooLarge
	}
	var cj clusterJSON
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&cj); err != nil {
		return ci, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if len(cj.Members) > MaxMembers {
		return ci, fmt.Errorf("%w: %d members (at most %d)", ErrTooLarge, len(cj.Members), MaxMembers)
	}
	var err error
	if ci.Server, err = endpoint(cj.ServerIp, cj.ServerPort); err != nil {
		return ci, fmt.Errorf("%w: serverIp/serverPort: %v", ErrBadMessage, err)
	}
	ci.Members = make([]Member, 0, len(cj.Members))
	for i := range cj.Members {
		mj := &cj.Members[i]
		st, ok := cluster.ParseVNodeState(mj.State)
		if !ok {
			return ci, fmt.Errorf("%w: member %d: unknown state %q", ErrBadMessage, i, mj.State)
		}
		m := Member{InstanceID: mj.InstanceID, TimeStamp: mj.TimeStamp.Time, State: st, IsAlive: mj.IsAlive,
			Position: Position{mj.LastCommitPosition, mj.WriterCheckpoint, mj.ChaserCheckpoint, mj.EpochPosition,
				mj.EpochNumber, mj.EpochId}, NodePriority: mj.NodePriority}
		var errs [4]error
		m.InternalTCP, errs[0] = endpoint(mj.InternalTcpIp, mj.InternalTcpPort)
		m.ExternalTCP, errs[1] = endpoint(mj.ExternalTcpIp, mj.ExternalTcpPort)
		m.InternalHTTP, errs[2] = endpoint(mj.InternalHttpIp, mj.InternalHttpPort)
		m.ExternalHTTP, errs[3] = endpoint(mj.ExternalHttpIp, mj.ExternalHttpPort)
		if e := errors.Join(errs[:]...); e != nil {
			return ci, fmt.Errorf("%w: member %d: %v", ErrBadMessage, i, e)
		}
		if !validPort(mj.InternalSecureTcpPort) || !validPort(mj.ExternalSecureTcpPort) {
			return ci, fmt.Errorf("%w: member %d: secure port out of range", ErrBadMessage, i)
		}
		m.InternalSecureTCP, m.ExternalSecureTCP = uint16(mj.InternalSecureTcpPort), uint16(mj.ExternalSecureTcpPort)
		ci.Members = append(ci.Members, m)
	}
	return ci, nil
}

func validPort(p int) bool { return p >= 0 && p <= 65535 }

func endpoint(ip string, port int) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q is not an IP literal", ip)
	}
	if !validPort(port) {
		return netip.AddrPort{}, fmt.Errorf("port %d out of range", port)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}
