package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/ninedge/ninedge/cmd/internal/cli"
	"github.com/ninedge/ninedge/internal/infile"
)

// minTokenLen is the shortest token accepted: a guessable token is no protection, and
// `openssl rand -hex 32` makes a good one.
const minTokenLen = 16

// exposureFlags decide who can reach serve: the address, the token, TLS.
type exposureFlags struct {
	listen, tokenFile, tlsCert, tlsKey string
	noAuth                             bool
}

func (x *exposureFlags) add(fs *cli.FlagSet) {
	fs.StringVar(&x.listen, "listen", "127.0.0.1:8080", "address to serve on; beyond loopback (e.g. :8080) it needs --token-file or --no-auth")
	fs.StringVar(&x.tokenFile, "token-file", "", "file holding the access token every route but /healthz asks for (Authorization: Bearer, or the page's sign-in)")
	fs.BoolVar(&x.noAuth, "no-auth", false, "serve beyond loopback without a token: anyone who can reach the address can use it")
	fs.StringVar(&x.tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM, chain included); needs --tls-key")
	fs.StringVar(&x.tlsKey, "tls-key", "", "the private key (PEM) of --tls-cert")
}

// exposure is what the flags resolve to.
type exposure struct {
	token string
	tls   *tls.Config
}

func (x exposure) scheme() string {
	if x.tls != nil {
		return "https"
	}
	return "http"
}

// load checks the flags, reads the token and the certificate: every mistake is reported
// before the model is loaded.
func (x *exposureFlags) load(e *cli.Env) (exposure, error) {
	var exp exposure
	switch {
	case x.noAuth && x.tokenFile != "":
		return exp, cli.Usagef("--no-auth and --token-file exclude each other")
	case (x.tlsCert == "") != (x.tlsKey == ""):
		return exp, cli.Usagef("--tls-cert and --tls-key go together")
	}
	loopback, err := isLoopback(e.Ctx, x.listen)
	if err != nil {
		return exp, cli.Usagef("--listen %q: %v", x.listen, err)
	}
	if !loopback && x.tokenFile == "" && !x.noAuth {
		return exp, cli.Usagef("--listen %s reaches beyond this machine: give --token-file FILE (a secret, e.g. `openssl rand -hex 32 > FILE`), or --no-auth to serve anyone who can reach it", x.listen)
	}
	if x.tokenFile != "" {
		if exp.token, err = readToken(e, x.tokenFile); err != nil {
			return exp, err
		}
	}
	if x.noAuth && !loopback {
		fmt.Fprintf(e.Stderr, "ninedge serve: --no-auth: anyone who can reach %s can use the model and see the camera\n", x.listen)
	}
	if x.tlsCert != "" {
		cert, err := loadKeyPair(x.tlsCert, x.tlsKey)
		if err != nil {
			return exp, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", x.tlsCert, x.tlsKey, err)
		}
		exp.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return exp, nil
}

// loadKeyPair is tls.LoadX509KeyPair reading its files as every input is read (a FIFO is
// refused, not waited on).
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := infile.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := infile.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(cert, key)
}

// readToken reads a token file: one line, surrounding white space ignored.
func readToken(e *cli.Env, path string) (string, error) {
	st, err := infile.Check(path)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	b, err := infile.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	switch {
	case len(token) < minTokenLen:
		return "", fmt.Errorf("--token-file %s: the token has %d characters, want at least %d (e.g. `openssl rand -hex 32`)", path, len(token), minTokenLen)
	case strings.ContainsAny(token, " \t\r\n"):
		return "", fmt.Errorf("--token-file %s: the token is more than one word", path)
	}
	if st.Mode().Perm()&0o004 != 0 { // a group of the service's may read it: LoadCredential and 0640 files
		fmt.Fprintf(e.Stderr, "ninedge serve: --token-file %s can be read by every user (chmod o-r it)\n", path)
	}
	return token, nil
}

// isLoopback says whether every address a listen address binds is a loopback one. A name is
// resolved; an empty host is every interface.
func isLoopback(ctx context.Context, addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	if host == "" {
		return false, nil
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback(), nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return false, err
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return false, nil
		}
	}
	return len(ips) > 0, nil
}
