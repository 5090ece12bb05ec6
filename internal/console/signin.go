package console

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/portico-edge/portico"
)

// signinLifetime is how long a sign-in form stays usable.
const signinLifetime = time.Hour

// signinData is the sign-in page's data.
type signinData struct {
	AccessKeyID string
	Next        string
	Token       string
}

// signinPage shows the sign-in form. It sets a fresh nonce cookie that the
// form's token is bound to: a sign-in cannot be forged from another site
// any more than any other form can.
func (h *Handler) signinPage(w http.ResponseWriter, r *http.Request, _ *session) error {
	if h.session(r) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return nil
	}
	p := h.signinForm(w, r, "", r.URL.Query().Get("next"))
	p.Notice = noticeFor(r)
	return h.render(w, p)
}

// signinForm returns the sign-in page with a new nonce cookie set on w.
func (h *Handler) signinForm(w http.ResponseWriter, r *http.Request, accessKeyID, next string) *page {
	nonce := randomHex(16)
	http.SetCookie(w, cookie(r, signinCookie, nonce, signinLifetime))
	return h.newPage(nil, "signin", "Sign in", "", &signinData{
		AccessKeyID: accessKeyID,
		Next:        safeNext(next),
		Token:       h.keys.signinToken(nonce),
	})
}

// signin checks the credentials and starts a session.
func (h *Handler) signin(w http.ResponseWriter, r *http.Request, _ *session) error {
	nonce := ""
	if c, err := r.Cookie(signinCookie); err == nil {
		nonce = c.Value
	}
	err := h.checkPost(w, r, func(token string) bool {
		return nonce != "" && h.keys.verify(token, "signin", nonce)
	})
	id, secret, next := r.PostFormValue("access_key_id"), r.PostFormValue("secret_access_key"), r.PostFormValue("next")
	if err == errForbidden {
		// An expired form, or cookies turned off: offer a fresh form.
		return h.signinForm(w, r, id, next).fail(&portico.Error{
			Code:    portico.ErrAccessDenied,
			Message: "The sign-in form has expired, or your browser does not accept cookies from the console. Sign in again.",
			Status:  http.StatusForbidden,
		})
	}
	if err != nil {
		return err
	}
	client, now := clientOf(r.RemoteAddr), time.Now()
	if wait := h.throttle.begin(client, now); wait > 0 {
		secs := int64((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		return h.signinForm(w, r, id, next).fail(&portico.Error{
			Code:    "Throttling",
			Message: fmt.Sprintf("Too many failed sign-ins from your address. Try again in %d seconds.", secs),
			Status:  http.StatusTooManyRequests,
		})
	}
	// The ID goes into the session cookie: it must be printable ASCII
	// without the cookie's separator. Login is called either way, so that a
	// bad ID takes as long as a bad secret.
	ok := h.Login(id, secret) && isAccessKeyID(id)
	if !ok {
		h.logger().Warn("console: sign-in failed", "remote", r.RemoteAddr)
		p := h.signinForm(w, r, id, next)
		return p.fail(&portico.Error{
			Code:    portico.ErrAccessDenied,
			Message: "The access key ID or secret access key is not correct.",
			Status:  http.StatusUnauthorized,
		})
	}
	h.throttle.succeed(client)
	s := newSession(id, now)
	http.SetCookie(w, cookie(r, sessionCookie, h.keys.encodeSession(s), sessionLifetime))
	http.SetCookie(w, cookie(r, signinCookie, "", 0))
	h.logger().Info("console: signed in", "access_key_id", id, "remote", r.RemoteAddr)
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
	return nil
}

// signout ends the session: the cookie is deleted and the session revoked.
func (h *Handler) signout(w http.ResponseWriter, r *http.Request, s *session) error {
	h.revoke(s)
	http.SetCookie(w, cookie(r, sessionCookie, "", 0))
	redirect(w, r, "/console/signin", "signedout")
	return nil
}

// isAccessKeyID reports whether id can be an access key ID: 1 to 128
// letters and digits.
func isAccessKeyID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
