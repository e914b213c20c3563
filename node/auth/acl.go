package auth

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/eventstored/eventstored/store"
)

// Action is a stream operation subject to an ACL (spec §4.3).
type Action uint8

const (
	ActionRead      Action = iota + 1 // $r
	ActionWrite                       // $w
	ActionDelete                      // $d
	ActionMetaRead                    // $mr
	ActionMetaWrite                   // $mw
)

// String returns the ACL key of the action ("$r", "$w", ...).
func (a Action) String() string {
	switch a {
	case ActionRead:
		return "$r"
	case ActionWrite:
		return "$w"
	case ActionDelete:
		return "$d"
	case ActionMetaRead:
		return "$mr"
	case ActionMetaWrite:
		return "$mw"
	}
	return "?"
}

// Role names with a meaning of their own (spec §4.3).
const (
	RoleAll    = "$all"
	RoleAdmins = "$admins"
	RoleOps    = "$ops"
)

// Stream names with a meaning for access control.
const (
	StreamAll      = "$all"
	StreamSettings = "$settings"
)

// SystemSettings is the parsed latest event of "$settings": the default ACLs
// for user and system streams. A nil ACL (or a nil role list inside one)
// falls back to the built-in default.
type SystemSettings struct {
	UserStreamACL   *store.StreamACL
	SystemStreamACL *store.StreamACL
}

// builtinUserACL and builtinSystemACL are the defaults of SystemSettings.cs
// in 4.0.3: everyone on user streams, $admins on system streams.
var (
	allRoles         = []string{RoleAll}
	adminRoles       = []string{RoleAdmins}
	builtinUserACL   = store.StreamACL{Read: allRoles, Write: allRoles, Delete: allRoles, MetaRead: allRoles, MetaWrite: allRoles}
	builtinSystemACL = store.StreamACL{Read: adminRoles, Write: adminRoles, Delete: adminRoles, MetaRead: adminRoles, MetaWrite: adminRoles}
)

func aclRoles(acl *store.StreamACL, a Action) []string {
	if acl == nil {
		return nil
	}
	switch a {
	case ActionRead:
		return acl.Read
	case ActionWrite:
		return acl.Write
	case ActionDelete:
		return acl.Delete
	case ActionMetaRead:
		return acl.MetaRead
	case ActionMetaWrite:
		return acl.MetaWrite
	}
	return nil
}

// IsMetastream reports whether stream is the metastream "$$x" of some x.
func IsMetastream(stream string) bool { return strings.HasPrefix(stream, "$$") }

// IsSystemStream reports whether stream is a system stream ("$" prefix).
func IsSystemStream(stream string) bool { return strings.HasPrefix(stream, "$") }

// EvaluateACL decides whether p may perform a on stream, given the stream's
// own ACL (nil when its metadata has none) and the current settings. It is
// a pure function: CheckStreamAccess fetches the inputs and calls it.
//
// Order of the checks mirrors StreamAccessCheck / the ACL rules of spec
// §4.3: operations that are always refused come before the $admins
// override, so even an admin cannot write $all or delete a metastream.
// REQUIRES: stream is not a metastream (CheckStreamAccess maps those).
func EvaluateACL(p *Principal, stream string, a Action, streamACL *store.StreamACL, settings *SystemSettings) bool {
	if stream == StreamAll && (a == ActionWrite || a == ActionDelete) {
		return false
	}
	var settingsACL *store.StreamACL
	builtin := &builtinUserACL
	if IsSystemStream(stream) {
		builtin = &builtinSystemACL
		if settings != nil {
			settingsACL = settings.SystemStreamACL
		}
	} else if settings != nil {
		settingsACL = settings.UserStreamACL
	}
	roles := aclRoles(streamACL, a)
	if roles == nil {
		roles = aclRoles(settingsACL, a)
	}
	if roles == nil {
		roles = aclRoles(builtin, a)
	}
	for _, r := range roles {
		if r == RoleAll {
			return true
		}
	}
	if p == nil {
		return false
	}
	if p.admin {
		return true
	}
	for _, r := range roles {
		if p.HasRole(r) {
			return true
		}
	}
	return false
}

// ParseSystemSettings parses the JSON body of a "$settings" event
// ({"$userStreamAcl": {...}, "$systemStreamAcl": {...}}). Invalid JSON
// yields ok=false; the caller then keeps the built-in defaults (spec §4.3:
// "invalid JSON is ignored").
func ParseSystemSettings(data []byte) (s SystemSettings, ok bool) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return SystemSettings{}, false
	}
	if v, found := raw["$userStreamAcl"]; found {
		acl, ok := ParseACL(v)
		if !ok {
			return SystemSettings{}, false
		}
		s.UserStreamACL = acl
	}
	if v, found := raw["$systemStreamAcl"]; found {
		acl, ok := ParseACL(v)
		if !ok {
			return SystemSettings{}, false
		}
		s.SystemStreamACL = acl
	}
	return s, true
}

// ParseACL parses an $acl object (spec §4.9): keys $r, $w, $d, $mr, $mw,
// each a role string or an array of role strings. Unknown keys are ignored
// (the original rejects them; spec §4.9 allows ignoring). JSON null yields
// (nil, true).
func ParseACL(data []byte) (*store.StreamACL, bool) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, false
	}
	if raw == nil {
		return nil, true
	}
	acl := &store.StreamACL{}
	for k, v := range raw {
		var dst *[]string
		switch k {
		case "$r":
			dst = &acl.Read
		case "$w":
			dst = &acl.Write
		case "$d":
			dst = &acl.Delete
		case "$mr":
			dst = &acl.MetaRead
		case "$mw":
			dst = &acl.MetaWrite
		default:
			continue
		}
		roles, ok := parseRoles(v)
		if !ok {
			return nil, false
		}
		*dst = roles
	}
	return acl, true
}

func parseRoles(v json.RawMessage) ([]string, bool) {
	if string(bytes.TrimSpace(v)) == "null" {
		return nil, true
	}
	var one string
	if err := json.Unmarshal(v, &one); err == nil {
		return []string{one}, true
	}
	var many []string
	if err := json.Unmarshal(v, &many); err != nil {
		return nil, false
	}
	if many == nil {
		many = []string{}
	}
	return many, true
}
