package server

import (
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/hex"
	"html/template"
	"net/http"
	"strings"
)

// Authentication. With Config.Token set, every route but /healthz (which a supervisor polls
// without credentials) asks for the token: as "Authorization: Bearer TOKEN" (scripts,
// Prometheus) or as the session cookie the login form sets (the page, whose <img> and
// fetches cannot send a header). The comparison is in constant time, of SHA-256 digests, so
// that neither the token's bytes nor its length can be timed. The cookie holds a digest
// of the token, not the token, is HttpOnly, and SameSite=Lax: another site's page cannot
// POST /predict with it.

//go:embed login.html
var loginHTML string

var loginPage = template.Must(template.New("login").Parse(loginHTML))

const cookieName = "ninedge_session"

type auth struct {
	token   [sha256.Size]byte // digest of the token
	session string            // the cookie's value
}

func newAuth(token string) *auth {
	s := sha256.Sum256([]byte("ninedge session\x00" + token))
	return &auth{token: sha256.Sum256([]byte(token)), session: hex.EncodeToString(s[:])}
}

func (a *auth) tokenOK(t string) bool {
	d := sha256.Sum256([]byte(t))
	return subtle.ConstantTimeCompare(d[:], a.token[:]) == 1
}

func (a *auth) authorized(r *http.Request) bool {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, t, ok := strings.Cut(h, " ")
		return ok && strings.EqualFold(scheme, "Bearer") && a.tokenOK(strings.TrimSpace(t))
	}
	c, err := r.Cookie(cookieName)
	if err != nil {
		return false
	}
	d, want := sha256.Sum256([]byte(c.Value)), sha256.Sum256([]byte(a.session))
	return subtle.ConstantTimeCompare(d[:], want[:]) == 1
}

// wrap puts next behind the token.
func (a *auth) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz":
			next.ServeHTTP(w, r)
		case r.URL.Path == "/login":
			a.login(w, r)
		case a.authorized(r):
			next.ServeHTTP(w, r)
		case r.Method == http.MethodGet && r.URL.Path == "/":
			showLogin(w, http.StatusUnauthorized, "")
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="ninedge"`)
			writeJSON(w, http.StatusUnauthorized, errorJSON{"authentication required: send Authorization: Bearer TOKEN (the token of --token-file), or sign in on the page"})
		}
	})
}

// login is the form's target: POST /login with the token sets the session cookie and goes
// to the page; a wrong token shows the form again, saying so.
func (a *auth) login(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if !a.tokenOK(strings.TrimSpace(r.PostFormValue("token"))) {
		showLogin(w, http.StatusUnauthorized, "Wrong token.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: a.session, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func showLogin(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	loginPage.Execute(w, msg)
}
