package auth

// Principal is an authenticated user: its login and groups. A nil
// *Principal is the anonymous caller. A Principal is immutable once built
// and may be shared between goroutines; a change to the user produces a new
// Principal on the next authentication.
type Principal struct {
	Login  string
	Groups []string
	admin  bool
	ops    bool
}

// NewPrincipal builds a principal for login with the given groups. The
// HTTP front uses it for trusted-intermediary authentication (http-api
// §5.1), where the user is not looked up.
func NewPrincipal(login string, groups []string) *Principal {
	p := &Principal{Login: login, Groups: append([]string(nil), groups...)}
	for _, g := range p.Groups {
		switch g {
		case RoleAdmins:
			p.admin = true
		case RoleOps:
			p.ops = true
		}
	}
	return p
}

// IsAdmin reports whether p is in $admins (false for anonymous).
func (p *Principal) IsAdmin() bool { return p != nil && p.admin }

// IsOps reports whether p is in $ops (false for anonymous). Use
// IsAdminOrOps for the scavenge / persistent-subscription checks.
func (p *Principal) IsOps() bool { return p != nil && p.ops }

// IsAdminOrOps reports whether p may scavenge or manage persistent
// subscriptions (spec §4.3).
func (p *Principal) IsAdminOrOps() bool { return p != nil && (p.admin || p.ops) }

// HasRole reports whether role is one of p's roles: its groups plus its own
// login (spec §4.3). Anonymous has no roles.
func (p *Principal) HasRole(role string) bool {
	if p == nil {
		return false
	}
	if role == p.Login {
		return true
	}
	for _, g := range p.Groups {
		if g == role {
			return true
		}
	}
	return false
}

// Name returns the login, or "" for anonymous (for logs).
func (p *Principal) Name() string {
	if p == nil {
		return ""
	}
	return p.Login
}
