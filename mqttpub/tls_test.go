package mqttpub

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ninedge/ninedge/stream/streamtest"
)

// certificates writes a CA and a server certificate for 127.0.0.1 signed by it into dir, and
// returns the CA's pool.
func certificates(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	caKey, srvKey := key(), key()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srv := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	write("ca.pem", "CERTIFICATE", caDER)
	write("server.pem", "CERTIFICATE", srvDER)
	write("server.key", "EC PRIVATE KEY", keyDER)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool
}

// TestTLSAndPassword publishes over ssl:// to a Mosquitto that checks a user's password: the
// right one connects (the broker's certificate checked against the test CA), a wrong one is
// refused and said once on the log.
func TestTLSAndPassword(t *testing.T) {
	passwd, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd not installed (package mosquitto; scripts/setup.sh installs it)")
	}
	dir := t.TempDir()
	// Mosquitto started as root reads these files as the mosquitto user.
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	pool := certificates(t, dir)
	pwFile := filepath.Join(dir, "passwords")
	if out, err := exec.Command(passwd, "-c", "-b", pwFile, "edge", "s3cret").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
	}
	os.Chmod(pwFile, 0o644)
	b := streamtest.MosquittoWith(t, "allow_anonymous false\npassword_file "+pwFile+"\ncertfile "+filepath.Join(dir, "server.pem")+
		"\nkeyfile "+filepath.Join(dir, "server.key")+"\n")
	url := strings.Replace(b.URL, "tcp://", "ssl://", 1)
	for _, tt := range []struct {
		password string
		ok       bool
	}{{"s3cret", true}, {"wrong", false}} {
		var log streamtest.SyncBuffer
		p, err := New(Config{Broker: url, ClientID: "tls", User: "edge", Password: tt.password, TLS: &tls.Config{RootCAs: pool}, Log: &log}, []string{"cam"})
		if err != nil {
			t.Fatal(err)
		}
		want := "cam: connected to ssl://"
		if !tt.ok {
			want = "cam: cannot connect to ssl://"
		}
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(log.String(), want); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("password %q: the log lacks %q:\n%s", tt.password, want, log.String())
			}
		}
		if !tt.ok {
			time.Sleep(2500 * time.Millisecond) // two more tries, not said again
			if n := strings.Count(log.String(), "cannot connect"); n != 1 || p.Counters("cam").Connected.Load() {
				t.Errorf("wrong password: said %d times, connected %v:\n%s", n, p.Counters("cam").Connected.Load(), log.String())
			}
		}
		if strings.Contains(log.String(), tt.password) {
			t.Errorf("the log shows the password:\n%s", log.String())
		}
		p.Close()
	}
}
