package server

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/ninedge/ninedge/stream"
	"github.com/ninedge/ninedge/stream/streamtest"
)

const testToken = "6f1d0c2b9a8e7d6c5b4a39281706f5e4"

func newAuthServer(t *testing.T, source string) (*Server, *httptest.Server) {
	t.Helper()
	var cams []Camera
	if source != "" {
		cams = []Camera{{Name: "cam1", Source: source}}
	}
	s, _, _, ts := serveCameras(t, Config{Cameras: cams, Token: testToken})
	return s, ts
}

// TestAuth asks every route but /healthz for the token, by header or session cookie.
func TestAuth(t *testing.T) {
	_, ts := newAuthServer(t, "")
	png := streamtest.PNG(t, streamtest.Pictures(1, 64, 48)[0])
	session := newAuth(testToken).session
	tests := []struct {
		method, path string
		header       string // Authorization
		cookie       string
		code         int
		body         string // contained in the answer
	}{
		{"GET", "/healthz", "", "", 200, "ok"},
		{"GET", "/", "", "", 401, `<form method="post" action="/login">`},
		{"GET", "/", "Bearer " + testToken, "", 200, `class="label"`},
		{"GET", "/", "", session, 200, `class="label"`},
		{"GET", "/", "", testToken, 401, "<form"}, // the cookie holds a digest, not the token
		{"GET", "/metrics", "", "", 401, "authentication required"},
		{"GET", "/metrics", "Bearer wrong", "", 401, "authentication required"},
		{"GET", "/metrics", "Bearer " + testToken[:len(testToken)-1], "", 401, "authentication required"},
		{"GET", "/metrics", "Basic " + testToken, "", 401, "authentication required"},
		{"GET", "/metrics", "bearer " + testToken, "", 200, "ninedge_backend_info"},
		{"GET", "/api/latest", "", "", 401, ""},
		{"GET", "/api/latest", "", session, 200, `"model":"tiny.safetensors"`},
		{"GET", "/frame.jpg", "", "", 401, ""},
		{"POST", "/predict", "", "", 401, "authentication required"},
		{"POST", "/predict", "Bearer " + testToken, "", 200, `"top"`},
		{"POST", "/api/reload", "", "", 401, "authentication required"},
		{"POST", "/api/reload", "Bearer " + testToken, "", 200, `"sha256":"`},
		{"GET", "/nothing-here", "", "", 401, ""},
		{"GET", "/nothing-here", "Bearer " + testToken, "", 404, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s %q %q", tt.method, tt.path, tt.header, tt.cookie), func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, ts.URL+tt.path, bytes.NewReader(png))
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			if tt.cookie != "" {
				req.AddCookie(&http.Cookie{Name: cookieName, Value: tt.cookie})
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code || !strings.Contains(string(b), tt.body) {
				t.Errorf("%d %.200s, want %d with %q", resp.StatusCode, b, tt.code, tt.body)
			}
			if resp.StatusCode == 401 && tt.path != "/" && resp.Header.Get("WWW-Authenticate") != `Bearer realm="ninedge"` {
				t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range []struct {
		token  string
		code   int
		cookie bool
	}{{testToken, http.StatusSeeOther, true}, {"wrong", http.StatusUnauthorized, false}, {"", http.StatusUnauthorized, false}} {
		resp, err := noRedirect.PostForm(ts.URL+"/login", url.Values{"token": {tt.token}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var c *http.Cookie
		for _, k := range resp.Cookies() {
			if k.Name == cookieName {
				c = k
			}
		}
		if resp.StatusCode != tt.code || (c != nil) != tt.cookie || c != nil && (c.Value != session || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode) {
			t.Errorf("POST /login %q: %d, cookie %+v", tt.token, resp.StatusCode, c)
		}
	}
}

// TestLoginInChromium signs in on the page in headless Chromium: a wrong token first, then
// the right one, after which the page shows the live label. A driver page of the same origin
// fills the form inside a frame and copies what the frame shows into its own DOM.
func TestLoginInChromium(t *testing.T) {
	chromium := chromiumPath(t)
	s, _ := newAuthServer(t, "-")
	pics := streamtest.Pictures(2, 64, 48)
	authed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+testToken)
		s.Handler().ServeHTTP(w, r)
	}))
	defer authed.Close()
	live(t, s, authed, stream.SourceOptions{}, append(streamtest.JPEG(t, pics[0]), streamtest.JPEG(t, pics[1])...), 1)
	label := getLatest(t, authed).Result.Top[0].Label

	driver := `<!doctype html><iframe id="f" src="/"></iframe><pre id="wrong"></pre><pre id="page"></pre><script>
const f = document.getElementById("f");
let step = 0;
f.onload = () => {
  const d = f.contentDocument;
  switch (step++) {
  case 0: d.querySelector("input[name=token]").value = "not the token"; d.querySelector("form").submit(); break;
  case 1: document.getElementById("wrong").textContent = d.body.innerHTML;
          d.querySelector("input[name=token]").value = "` + testToken + `"; d.querySelector("form").submit(); break;
  case 2: setTimeout(() => { document.getElementById("page").textContent = d.body.innerHTML; }, 2000);
  }
};
</script>`
	mux := http.NewServeMux()
	mux.HandleFunc("/driver", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, driver)
	})
	mux.Handle("/", s.Handler())
	site := httptest.NewServer(mux)
	defer site.Close()

	dom := html.UnescapeString(dumpDOM(t, chromium, site.URL+"/driver", 10000))
	pre := func(id string) string {
		m := regexp.MustCompile(`(?s)<pre id="` + id + `">(.*?)</pre>`).FindStringSubmatch(dom)
		if m == nil {
			return ""
		}
		return m[1]
	}
	if w := pre("wrong"); !strings.Contains(w, "Wrong token.") || !strings.Contains(w, `name="token"`) {
		t.Errorf("after a wrong token the frame shows:\n%s", w)
	}
	if p := pre("page"); !strings.Contains(p, fmt.Sprintf(`<div class="label">%s</div>`, label)) || !strings.Contains(p, "tiny.safetensors on cpu") {
		t.Errorf("after signing in the frame shows:\n%s\n(want the label %q)", p, label)
	}
}
