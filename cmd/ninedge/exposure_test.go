package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ninedge/ninedge/stream/streamtest"
)

const testToken = "0123456789abcdef0123456789abcdef"

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns a pool that trusts it.
func selfSigned(t *testing.T, dir string) (cert, key string, pool *x509.CertPool) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ninedge test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return cert, key, pool
}

// TestServeExposure: what serve refuses to start with, before it loads the model.
func TestServeExposure(t *testing.T) {
	dir, m, _ := model(t)
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte(testToken+"\n"), 0o600)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("secret\n"), 0o600)
	two := filepath.Join(dir, "two")
	os.WriteFile(two, []byte("0123456789abcdef 0123456789abcdef\n"), 0o600)
	cert, key, _ := selfSigned(t, dir)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"--listen", ":0"}, 2, "--listen :0 reaches beyond this machine: give --token-file FILE"},
		{[]string{"--listen", "0.0.0.0:0"}, 2, "reaches beyond this machine"},
		{[]string{"--listen", "[::]:0"}, 2, "reaches beyond this machine"},
		{[]string{"--listen", "0.0.0.0:0", "--no-auth", "--token-file", token}, 2, "--no-auth and --token-file exclude each other"},
		{[]string{"--listen", "nohost"}, 2, `--listen "nohost": address nohost: missing port`},
		{[]string{"--tls-cert", cert}, 2, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-cert", cert, "--tls-key", cert}, 1, "--tls-cert " + cert},
		{[]string{"--listen", ":0", "--token-file", filepath.Join(dir, "none")}, 1, "--token-file: stat"},
		{[]string{"--listen", ":0", "--token-file", dir}, 1, "not a regular file"},
		// Refused at once: reading a FIFO would wait for a writer forever.
		{[]string{"--listen", ":0", "--token-file", fifo}, 1, "--token-file: open " + fifo + ": a named pipe (FIFO), not a regular file"},
		{[]string{"--tls-cert", fifo, "--tls-key", key}, 1, "open " + fifo + ": a named pipe (FIFO), not a regular file"},
		{[]string{"--tls-cert", cert, "--tls-key", fifo}, 1, "open " + fifo + ": a named pipe (FIFO), not a regular file"},
		{[]string{"--listen", ":0", "--token-file", short}, 1, "the token has 6 characters, want at least 16"},
		{[]string{"--listen", ":0", "--token-file", two}, 1, "the token is more than one word"},
		{[]string{"--upload-min-rate", "0"}, 2, "--upload-min-rate must be positive"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errs := cmd(nil, append([]string{"serve", "--model", m}, tt.args...)...)
			if code != tt.code || !strings.Contains(errs, tt.err) || strings.Contains(errs, "cpu device") {
				t.Errorf("exit %d, stderr %q; want %d and %q, before the model is loaded", code, errs, tt.code, tt.err)
			}
		})
	}
}

// TestServeTLSAndToken runs serve on every interface with a token and TLS: /healthz answers
// anyone, every other route the token only; plain HTTP gets no page.
func TestServeTLSAndToken(t *testing.T) {
	dir, m, _ := model(t)
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte(testToken+"\n"), 0o644)
	cert, key, pool := selfSigned(t, dir)
	s := startServe(t, nil, "--model", m, "--backend", "cpu", "--listen", ":0", "--token-file", token, "--tls-cert", cert, "--tls-key", key)
	if !strings.HasPrefix(s.url, "https://") || !strings.Contains(s.stderr.String(), "can be read by every user (chmod o-r it)") {
		t.Errorf("url %s, stderr:\n%s", s.url, s.stderr.String())
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	png := streamtest.PNG(t, streamtest.Pictures(1, 64, 48)[0])
	tests := []struct {
		method, path, auth string
		code               int
	}{
		{"GET", "healthz", "", 200},
		{"GET", "metrics", "", 401},
		{"GET", "metrics", "Bearer " + testToken, 200},
		{"GET", "", "", 401},
		{"GET", "api/latest", "Bearer " + testToken, 200},
		{"POST", "predict", "", 401},
		{"POST", "predict", "Bearer " + testToken, 200},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, s.url+tt.path, bytes.NewReader(png))
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code || resp.TLS == nil {
			t.Errorf("%s /%s %q: %d (TLS %v), want %d", tt.method, tt.path, tt.auth, resp.StatusCode, resp.TLS != nil, tt.code)
		}
	}
	resp, err := http.Get("http" + strings.TrimPrefix(s.url, "https") + "healthz")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("plain HTTP to the TLS port: %d %s", resp.StatusCode, b)
		}
	}
}

// TestServeWithoutToken: loopback names need no token; every interface needs --no-auth, and
// serve then says what it means.
func TestServeWithoutToken(t *testing.T) {
	_, m, _ := model(t)
	for _, tt := range []struct {
		listen, warning string
		args            []string
	}{
		{"localhost:0", "", nil},
		{"0.0.0.0:0", "--no-auth: anyone who can reach 0.0.0.0:0 can use the model and see the camera", []string{"--no-auth"}},
	} {
		s := startServe(t, nil, append([]string{"--model", m, "--backend", "cpu", "--listen", tt.listen}, tt.args...)...)
		resp, err := http.Get(s.url + "metrics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(s.stderr.String(), tt.warning) {
			t.Errorf("--listen %s %v: %d, stderr:\n%s", tt.listen, tt.args, resp.StatusCode, s.stderr.String())
		}
	}
}
