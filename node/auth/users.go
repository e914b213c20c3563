package auth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/eventstored/eventstored/store"
)

// userRecord is the JSON body of $UserCreated / $UserUpdated (field names
// of UserData in 4.0.3, plus hashAlg).
type userRecord struct {
	LoginName string   `json:"loginName"`
	FullName  string   `json:"fullName"`
	Salt      string   `json:"salt"`
	Hash      string   `json:"hash"`
	Disabled  bool     `json:"disabled"`
	Groups    []string `json:"groups"`
	HashAlg   string   `json:"hashAlg"`
}

// User is a user as the HTTP /users routes show it.
type User struct {
	Login    string
	FullName string
	Groups   []string
	Disabled bool
	// Updated is the creation time of the latest user event.
	Updated time.Time
}

func validateLogin(login string) error {
	if login == "" || len(login) > loginBytesMax || !utf8.ValidString(login) {
		return fmt.Errorf("%w: login must be 1-%d bytes of UTF-8", ErrInvalidArgument, loginBytesMax)
	}
	return nil
}

func validateProfile(fullName string, groups []string) error {
	if len(fullName) > fullNameBytesMax {
		return fmt.Errorf("%w: full name longer than %d bytes", ErrInvalidArgument, fullNameBytesMax)
	}
	if len(groups) > groupsMax {
		return fmt.Errorf("%w: more than %d groups", ErrInvalidArgument, groupsMax)
	}
	for _, g := range groups {
		if g == "" || len(g) > loginBytesMax {
			return fmt.Errorf("%w: group names must be 1-%d bytes", ErrInvalidArgument, loginBytesMax)
		}
	}
	return nil
}

// readUser returns the latest record of login and its event.
func (s *Service) readUser(login string) (*userRecord, store.EventRecord, error) {
	st, ev, err := s.opts.Backend.ReadLast(UserStreamPrefix + login)
	if err != nil {
		return nil, ev, fmt.Errorf("%w: cannot read user %q: %v", ErrInternal, login, err)
	}
	switch st {
	case store.ReadSuccess:
	case store.ReadNoStream, store.ReadStreamDeleted, store.ReadNotFound:
		return nil, ev, ErrNotFound
	default:
		return nil, ev, fmt.Errorf("%w: reading user %q: status %d", ErrInternal, login, st)
	}
	rec := &userRecord{}
	if err := json.Unmarshal(ev.Data, rec); err != nil {
		return nil, ev, fmt.Errorf("%w: user record %q is not valid JSON: %v", ErrInternal, login, err)
	}
	if rec.LoginName == "" {
		rec.LoginName = login
	}
	return rec, ev, nil
}

func newEventID() [16]byte {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		panic("BUG: crypto/rand failed: " + err.Error())
	}
	return id
}

// write appends one event and maps the outcome to this package's errors.
func (s *Service) write(ctx context.Context, stream string, expected int64, typ string, isJSON bool, data []byte) error {
	op := &store.Op{Kind: store.OpWrite, Stream: stream, ExpectedVersion: expected,
		Events: []store.NewEvent{{ID: newEventID(), Type: typ, IsJSON: isJSON, Data: data}}}
	if err := s.opts.Backend.Do(ctx, op); err != nil {
		return fmt.Errorf("%w: writing %s: %v", ErrTryAgain, stream, err)
	}
	return resultErr(stream, &op.Result)
}

func resultErr(stream string, r *store.OpResult) error {
	if r.Err != nil {
		return fmt.Errorf("%w: writing %s: %v", ErrTryAgain, stream, r.Err)
	}
	switch r.Status {
	case store.OpSuccess:
		return nil
	case store.OpWrongExpectedVersion:
		return fmt.Errorf("%w: %s changed concurrently", ErrConflict, stream)
	case store.OpPrepareTimeout, store.OpCommitTimeout, store.OpForwardTimeout:
		return fmt.Errorf("%w: writing %s timed out", ErrTryAgain, stream)
	default:
		return fmt.Errorf("%w: writing %s: result %d", ErrInternal, stream, r.Status)
	}
}

// createUser writes the user's stream ACL, its $UserCreated event and its
// entry in $users, in that order (as UserManagementService does).
func (s *Service) createUser(ctx context.Context, login, fullName string, groups []string, password string) error {
	hash, salt, alg, err := hashPassword(password, s.opts.HashIterations)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInternal, err)
	}
	if groups == nil {
		groups = []string{}
	}
	rec := userRecord{LoginName: login, FullName: fullName, Salt: salt, Hash: hash, Groups: groups, HashAlg: alg}
	body, _ := json.Marshal(rec)
	// The user stream is readable by admins only (system stream default)
	// and writable by admins only; the explicit ACL mirrors the original.
	meta := []byte(`{"$acl":{"$w":"$admins","$d":"$admins","$mw":"$admins"}}`)
	if err := s.write(ctx, "$$"+UserStreamPrefix+login, store.ExpectedVersionAny, "$metadata", true, meta); err != nil {
		return err
	}
	if err := s.write(ctx, UserStreamPrefix+login, store.ExpectedVersionNoStream, EventTypeUserCreated, true, body); err != nil {
		return err
	}
	if err := s.write(ctx, UsersStream, store.ExpectedVersionAny, EventTypeUser, false, []byte(login)); err != nil {
		return err
	}
	s.Invalidate(login)
	return nil
}

// CreateUser creates a user (admins only). Creating an existing user with
// the same password succeeds again, with a different password it is
// ErrConflict (quirk of 4.0.3, http-api §4.8).
func (s *Service) CreateUser(ctx context.Context, actor *Principal, login, fullName string, groups []string, password string) error {
	if !actor.IsAdmin() {
		return ErrUnauthorized
	}
	if err := validateLogin(login); err != nil {
		return err
	}
	if err := validateProfile(fullName, groups); err != nil {
		return err
	}
	s.mgmt.Lock()
	defer s.mgmt.Unlock()
	rec, _, err := s.readUser(login)
	switch {
	case err == nil:
		if verifyPassword(password, rec) {
			return nil
		}
		return ErrConflict
	case !errors.Is(err, ErrNotFound):
		return err
	}
	return s.createUser(ctx, login, fullName, groups, password)
}

// update reads the user, applies fn and writes $UserUpdated with the read
// version as expected version. fn returning an error aborts.
func (s *Service) update(ctx context.Context, login string, fn func(*userRecord) error) error {
	if err := validateLogin(login); err != nil {
		return err
	}
	s.mgmt.Lock()
	defer s.mgmt.Unlock()
	rec, ev, err := s.readUser(login)
	if err != nil {
		return err
	}
	if err := fn(rec); err != nil {
		return err
	}
	body, _ := json.Marshal(rec)
	err = s.write(ctx, UserStreamPrefix+login, ev.Number, EventTypeUserUpdated, true, body)
	s.Invalidate(login)
	if err != nil {
		return err
	}
	s.notifyPasswordChanged(ctx, login)
	return nil
}

// notifyPasswordChanged appends to $users-password-notifications so that
// other nodes (later) and tools learn that cached credentials are stale.
// Failure is only logged: the local cache is already invalidated.
func (s *Service) notifyPasswordChanged(ctx context.Context, login string) {
	body, _ := json.Marshal(struct {
		LoginName string `json:"loginName"`
	}{login})
	if err := s.write(ctx, PasswordNotificationsStream, store.ExpectedVersionAny, EventTypePasswordChanged, true, body); err != nil {
		s.log.Warn("cannot write password notification", "login", login, "err", err)
	}
}

// UpdateUser replaces full name and groups (admins only).
func (s *Service) UpdateUser(ctx context.Context, actor *Principal, login, fullName string, groups []string) error {
	if !actor.IsAdmin() {
		return ErrUnauthorized
	}
	if err := validateProfile(fullName, groups); err != nil {
		return err
	}
	if groups == nil {
		groups = []string{}
	}
	return s.update(ctx, login, func(r *userRecord) error {
		r.FullName, r.Groups = fullName, append([]string(nil), groups...)
		return nil
	})
}

// EnableUser enables a user (admins only).
func (s *Service) EnableUser(ctx context.Context, actor *Principal, login string) error {
	if !actor.IsAdmin() {
		return ErrUnauthorized
	}
	return s.update(ctx, login, func(r *userRecord) error { r.Disabled = false; return nil })
}

// DisableUser disables a user (admins only); its cached credentials are
// dropped at once.
func (s *Service) DisableUser(ctx context.Context, actor *Principal, login string) error {
	if !actor.IsAdmin() {
		return ErrUnauthorized
	}
	return s.update(ctx, login, func(r *userRecord) error { r.Disabled = true; return nil })
}

// ResetPassword sets a new password (admins only).
func (s *Service) ResetPassword(ctx context.Context, actor *Principal, login, newPassword string) error {
	if !actor.IsAdmin() {
		return ErrUnauthorized
	}
	hash, salt, alg, err := hashPassword(newPassword, s.opts.HashIterations)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInternal, err)
	}
	return s.update(ctx, login, func(r *userRecord) error {
		r.Hash, r.Salt, r.HashAlg = hash, salt, alg
		return nil
	})
}

// ChangePassword sets a new password for anyone who knows the current one;
// a wrong current password is ErrUnauthorized.
func (s *Service) ChangePassword(ctx context.Context, login, currentPassword, newPassword string) error {
	hash, salt, alg, err := hashPassword(newPassword, s.opts.HashIterations)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInternal, err)
	}
	return s.update(ctx, login, func(r *userRecord) error {
		if !verifyPassword(currentPassword, r) {
			return ErrUnauthorized
		}
		r.Hash, r.Salt, r.HashAlg = hash, salt, alg
		return nil
	})
}

// DeleteUser soft-deletes the user's stream (admins only).
func (s *Service) DeleteUser(ctx context.Context, actor *Principal, login string) error {
	if !actor.IsAdmin() {
		return ErrUnauthorized
	}
	if err := validateLogin(login); err != nil {
		return err
	}
	s.mgmt.Lock()
	defer s.mgmt.Unlock()
	_, ev, err := s.readUser(login)
	if err != nil {
		return err
	}
	op := &store.Op{Kind: store.OpDelete, Stream: UserStreamPrefix + login, ExpectedVersion: ev.Number}
	err = s.opts.Backend.Do(ctx, op)
	s.Invalidate(login)
	if err != nil {
		return fmt.Errorf("%w: deleting user %q: %v", ErrTryAgain, login, err)
	}
	if err := resultErr(op.Stream, &op.Result); err != nil {
		return err
	}
	s.notifyPasswordChanged(ctx, login)
	return nil
}

// GetUser returns one user; ErrNotFound if it does not exist or was
// deleted.
func (s *Service) GetUser(ctx context.Context, login string) (User, error) {
	if err := validateLogin(login); err != nil {
		return User{}, ErrNotFound
	}
	rec, ev, err := s.readUser(login)
	if err != nil {
		return User{}, err
	}
	return User{Login: rec.LoginName, FullName: rec.FullName, Groups: rec.Groups, Disabled: rec.Disabled,
		Updated: time.Unix(0, ev.CreatedUnixNano).UTC()}, nil
}

// ListUsers returns every existing user sorted by login, found through the
// $users index stream (at most 100,000 entries are considered).
func (s *Service) ListUsers(ctx context.Context) ([]User, error) {
	seen := make(map[string]bool)
	var users []User
	for from := int64(0); len(seen) < usersListMax; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sl, err := s.opts.Backend.ReadStreamForward(UsersStream, from, 1000)
		if err != nil {
			return nil, fmt.Errorf("%w: cannot read %s: %v", ErrInternal, UsersStream, err)
		}
		if sl.Status == store.ReadNoStream {
			break
		}
		if sl.Status != store.ReadSuccess {
			return nil, fmt.Errorf("%w: reading %s: status %d", ErrInternal, UsersStream, sl.Status)
		}
		for i := range sl.Events {
			login := string(sl.Events[i].Event.Data)
			if seen[login] {
				continue
			}
			seen[login] = true
			u, err := s.GetUser(ctx, login)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			users = append(users, u)
		}
		if sl.IsEndOfStream || len(sl.Events) == 0 {
			break
		}
		from = sl.NextEventNumber
	}
	sort.Slice(users, func(i, j int) bool { return strings.Compare(users[i].Login, users[j].Login) < 0 })
	return users, nil
}
