package httpfront

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/eventstored/eventstored/node/auth"
)

// User management routes (spec http-api §4.8). Bodies are small JSON
// objects parsed with encoding/json (member names match
// case-insensitively); replies carry the result envelope of the original.

// errorName maps auth errors to the "error" member and status (§4.8).
func userError(err error) (string, int) {
	switch {
	case err == nil:
		return "Success", fasthttp.StatusOK
	case errors.Is(err, auth.ErrNotFound):
		return "NotFound", fasthttp.StatusNotFound
	case errors.Is(err, auth.ErrConflict):
		return "Conflict", fasthttp.StatusConflict
	case errors.Is(err, auth.ErrUnauthorized), errors.Is(err, auth.ErrNotAuthenticated):
		return "Unauthorized", fasthttp.StatusUnauthorized
	case errors.Is(err, auth.ErrTryAgain), errors.Is(err, context.DeadlineExceeded):
		return "TryAgain", fasthttp.StatusRequestTimeout
	case errors.Is(err, auth.ErrInvalidArgument):
		return "Error", fasthttp.StatusBadRequest
	}
	return "Error", fasthttp.StatusInternalServerError
}

func (h *Handler) userCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), h.timeout)
}

// userResult writes {"loginName","success","error","msgTypeId"}.
func (h *Handler) userResult(r *request, login string, err error, okCode int) {
	name, code := userError(err)
	if err == nil {
		code = okCode
	} else if code == fasthttp.StatusInternalServerError {
		h.log.Warn("user command failed", "login", login, "err", err)
	}
	var w jw
	w.reset(r.buf[:0])
	w.obj()
	w.kStr("loginName", login)
	w.kBool("success", err == nil)
	w.kStr("error", name)
	w.kInt("msgTypeId", msgTypeUserResult)
	w.endObj()
	r.buf = w.b
	r.reply(code, "", mtJSON, r.buf)
}

func (h *Handler) writeUserJSON(w *jw, r *request, u *auth.User, links bool) {
	w.obj()
	w.kStr("loginName", u.Login)
	w.kStr("fullName", u.FullName)
	w.key("groups")
	w.arr()
	for _, g := range u.Groups {
		w.str(g)
	}
	w.endArr()
	if !links {
		w.key("dateLastUpdated")
		w.str(u.Updated.UTC().Format("2006-01-02T15:04:05.9999999") + "+00:00")
	}
	w.kBool("disabled", u.Disabled)
	if links {
		// Login names are not percent-encoded here (§4.8).
		base := string(r.base) + "/users/" + u.Login
		link := func(href, rel string) {
			w.obj()
			w.kStr("href", href)
			w.kStr("rel", rel)
			w.endObj()
		}
		w.key("links")
		w.arr()
		link(base+"/command/reset-password", "reset-password")
		link(base+"/command/change-password", "change-password")
		link(base, "edit")
		link(base, "delete")
		if u.Disabled {
			link(base+"/command/enable", "enable")
		} else {
			link(base+"/command/disable", "disable")
		}
		w.endArr()
	}
	w.endObj()
}

func (h *Handler) userEnvelope(r *request, err error, data func(w *jw)) {
	name, code := userError(err)
	var w jw
	w.reset(r.buf[:0])
	w.obj()
	if err == nil {
		w.key("data")
		data(&w)
	}
	w.kBool("success", err == nil)
	w.kStr("error", name)
	w.kInt("msgTypeId", msgTypeUserResult)
	w.endObj()
	r.buf = w.b
	r.reply(code, "", mtJSON, r.buf)
}

func (h *Handler) listUsers(r *request) {
	ctx, cancel := h.userCtx()
	defer cancel()
	users, err := h.d.Auth.ListUsers(ctx)
	h.userEnvelope(r, err, func(w *jw) {
		w.arr()
		for i := range users {
			h.writeUserJSON(w, r, &users[i], true)
		}
		w.endArr()
	})
}

func (h *Handler) getUser(r *request) {
	ctx, cancel := h.userCtx()
	defer cancel()
	u, err := h.d.Auth.GetUser(ctx, string(r.param(0)))
	h.userEnvelope(r, err, func(w *jw) { h.writeUserJSON(w, r, &u, true) })
}

func (h *Handler) currentUser(r *request) {
	if r.user == nil {
		r.status(fasthttp.StatusUnauthorized, "Unauthorized")
		return
	}
	ctx, cancel := h.userCtx()
	defer cancel()
	u, err := h.d.Auth.GetUser(ctx, r.user.Login)
	if errors.Is(err, auth.ErrNotFound) {
		// A trusted-intermediary user has no record: describe the caller.
		u, err = auth.User{Login: r.user.Login, Groups: r.user.Groups}, nil
	}
	h.userEnvelope(r, err, func(w *jw) { h.writeUserJSON(w, r, &u, false) })
}

type userBody struct {
	LoginName       string   `json:"loginName"`
	FullName        string   `json:"fullName"`
	Groups          []string `json:"groups"`
	Password        string   `json:"password"`
	NewPassword     string   `json:"newPassword"`
	CurrentPassword string   `json:"currentPassword"`
}

// parseUserBody parses the JSON body; an unparsable body reads as empty
// (the original's "no object"), which the user service then refuses.
func parseUserBody(r *request) userBody {
	var b userBody
	_ = json.Unmarshal(r.ctx.Request.Body(), &b)
	return b
}

func (h *Handler) createUser(r *request) {
	b := parseUserBody(r)
	ctx, cancel := h.userCtx()
	defer cancel()
	err := h.d.Auth.CreateUser(ctx, r.user, b.LoginName, b.FullName, b.Groups, b.Password)
	if err == nil {
		r.tmp = append(append(r.tmp[:0], r.base...), "/users/"...)
		r.tmp = appendEscaped(r.tmp, b.LoginName)
		r.ctx.Response.Header.SetBytesKV(hdrLocation, r.tmp)
	}
	h.userResult(r, b.LoginName, err, fasthttp.StatusCreated)
}

func (h *Handler) updateUser(r *request) {
	b := parseUserBody(r)
	login := string(r.param(0))
	ctx, cancel := h.userCtx()
	defer cancel()
	h.userResult(r, login, h.d.Auth.UpdateUser(ctx, r.user, login, b.FullName, b.Groups), fasthttp.StatusOK)
}

func (h *Handler) deleteUser(r *request) {
	login := string(r.param(0))
	ctx, cancel := h.userCtx()
	defer cancel()
	h.userResult(r, login, h.d.Auth.DeleteUser(ctx, r.user, login), fasthttp.StatusOK)
}

func (h *Handler) enableUser(r *request) {
	login := string(r.param(0))
	ctx, cancel := h.userCtx()
	defer cancel()
	h.userResult(r, login, h.d.Auth.EnableUser(ctx, r.user, login), fasthttp.StatusOK)
}

func (h *Handler) disableUser(r *request) {
	login := string(r.param(0))
	ctx, cancel := h.userCtx()
	defer cancel()
	h.userResult(r, login, h.d.Auth.DisableUser(ctx, r.user, login), fasthttp.StatusOK)
}

func (h *Handler) resetPassword(r *request) {
	b := parseUserBody(r)
	login := string(r.param(0))
	ctx, cancel := h.userCtx()
	defer cancel()
	h.userResult(r, login, h.d.Auth.ResetPassword(ctx, r.user, login, b.NewPassword), fasthttp.StatusOK)
}

func (h *Handler) changePassword(r *request) {
	b := parseUserBody(r)
	login := string(r.param(0))
	ctx, cancel := h.userCtx()
	defer cancel()
	h.userResult(r, login, h.d.Auth.ChangePassword(ctx, login, b.CurrentPassword, b.NewPassword), fasthttp.StatusOK)
}
