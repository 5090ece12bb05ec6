package console

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Cookie names. Both cookies are HttpOnly, SameSite=Strict and scoped to
// /console/.
const (
	sessionCookie = "portico_session"
	signinCookie  = "portico_signin" // the pre-session nonce that protects the sign-in form
)

// sessionLifetime is how long a sign-in lasts.
const sessionLifetime = 12 * time.Hour

// minSessionKey is the shortest Handler.SessionKey accepted.
const minSessionKey = 32

// A session is a signed-in user, carried in the session cookie.
type session struct {
	ID          string // random, hex; binds CSRF tokens and sealed values to this sign-in
	AccessKeyID string
	Expires     time.Time
}

// keys are the keys derived from Handler.SessionKey, one per purpose, so
// that a value made for one purpose can never pass as another.
type keys struct {
	mac  []byte      // signs session cookies, CSRF tokens and the sign-in nonce
	seal cipher.AEAD // encrypts values the user typed but has not saved yet
}

func deriveKeys(sessionKey []byte) (*keys, error) {
	if len(sessionKey) < minSessionKey {
		return nil, errors.New("console: SessionKey must be at least 32 bytes")
	}
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, sessionKey)
		m.Write([]byte("portico console " + label))
		return m.Sum(nil)
	}
	block, err := aes.NewCipher(derive("seal"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &keys{mac: derive("mac"), seal: aead}, nil
}

// sum returns the HMAC-SHA256 of the purpose and the parts, each
// length-prefixed so that no two different inputs sign the same bytes.
func (k *keys) sum(purpose string, parts ...string) []byte {
	m := hmac.New(sha256.New, k.mac)
	for _, p := range append([]string{purpose}, parts...) {
		m.Write([]byte(strconv.Itoa(len(p)) + ":" + p))
	}
	return m.Sum(nil)
}

// verify reports, in constant time, whether tag is the encoded sum of the
// purpose and parts.
func (k *keys) verify(tag, purpose string, parts ...string) bool {
	got, err := decodeB64(tag)
	return err == nil && hmac.Equal(got, k.sum(purpose, parts...))
}

// b64 encodes MACs, cookies and sealed values. It is strict, so that
// every value has exactly one encoding; decode them with decodeB64.
var b64 = base64.RawURLEncoding.Strict()

// decodeB64 decodes s, which b64 encoded. Unlike b64.DecodeString, which
// skips CR and LF wherever they are, it refuses them, so that no value has
// a second encoding.
func decodeB64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, base64.CorruptInputError(strings.IndexAny(s, "\r\n"))
	}
	return b64.DecodeString(s)
}

// encodeSession returns the session cookie value for s:
// base64url(payload) "." base64url(HMAC(payload)).
func (k *keys) encodeSession(s *session) string {
	payload := strings.Join([]string{"v1", strconv.FormatInt(s.Expires.Unix(), 10), s.ID, s.AccessKeyID}, "|")
	return b64.EncodeToString([]byte(payload)) + "." + b64.EncodeToString(k.sum("session", payload))
}

// decodeSession parses and verifies a session cookie value. It returns nil
// for anything that is not a session this key signed and that has not
// expired at now.
func (k *keys) decodeSession(value string, now time.Time) *session {
	enc, tag, ok := strings.Cut(value, ".")
	if !ok || len(value) > 1024 {
		return nil
	}
	payload, err := decodeB64(enc)
	if err != nil || !k.verify(tag, "session", string(payload)) {
		return nil
	}
	f := strings.Split(string(payload), "|")
	if len(f) != 4 || f[0] != "v1" || f[2] == "" || f[3] == "" {
		return nil
	}
	exp, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || !now.Before(time.Unix(exp, 0)) {
		return nil
	}
	return &session{ID: f[2], AccessKeyID: f[3], Expires: time.Unix(exp, 0)}
}

// newSession starts a session for the access key ID.
func newSession(accessKeyID string, now time.Time) *session {
	return &session{ID: randomHex(16), AccessKeyID: accessKeyID, Expires: now.Add(sessionLifetime).Truncate(time.Second)}
}

// csrfToken returns the CSRF token of the session's forms: a MAC of its ID.
func (k *keys) csrfToken(s *session) string { return b64.EncodeToString(k.sum("csrf", s.ID)) }

// signinToken returns the token of the sign-in form, bound to the nonce in
// the sign-in cookie.
func (k *keys) signinToken(nonce string) string { return b64.EncodeToString(k.sum("signin", nonce)) }

// sealValue encrypts a value that the user typed but that is not saved yet, so
// that a form re-rendered after an error can carry it without showing it.
// The result only opens for the same session.
func (k *keys) sealValue(s *session, plaintext string) string {
	nonce := make([]byte, k.seal.NonceSize())
	rand.Read(nonce)
	return b64.EncodeToString(k.seal.Seal(nonce, nonce, []byte(plaintext), []byte(s.ID)))
}

// openValue reverses sealValue.
func (k *keys) openValue(s *session, sealed string) (string, bool) {
	b, err := decodeB64(sealed)
	if err != nil || len(b) < k.seal.NonceSize() {
		return "", false
	}
	plain, err := k.seal.Open(nil, b[:k.seal.NonceSize()], b[k.seal.NonceSize():], []byte(s.ID))
	if err != nil {
		return "", false
	}
	return string(plain), true
}

// cookie returns a console cookie: HttpOnly, SameSite=Strict, Path
// /console/, and Secure when the request came over TLS. It lasts for
// lifetime; a lifetime of zero or less deletes the cookie.
func cookie(r *http.Request, name, value string, lifetime time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     prefix,
		MaxAge:   int(lifetime / time.Second),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	}
	if c.MaxAge <= 0 {
		c.MaxAge = -1
	}
	return c
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
