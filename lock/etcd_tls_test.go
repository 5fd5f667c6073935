//go:build prwlock_etcd && linux

package lock

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prwlock/prwlock/internal/etcdtest"
)

// testPKI writes a CA, a server pair for 127.0.0.1 and a client pair as PEM
// files in dir.
func testPKI(t *testing.T, dir string) (ca, srvCert, srvKey, cliCert, cliKey string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "prwlock test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pair := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, _ := x509.MarshalECPrivateKey(k)
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", kd)
	}
	ca = write("ca.pem", "CERTIFICATE", caDER)
	// The server's pair also serves as a client pair: etcd members talk to
	// each other's client port when forwarding.
	srvCert, srvKey = pair("server", 2, x509.ExtKeyUsageServerAuth)
	cliCert, cliKey = pair("client", 3, x509.ExtKeyUsageClientAuth)
	return
}

// etcds:// with cacert, cert and key reaches a server that requires client
// certificates; without the client pair, or in plain text, it does not.
func TestEtcdTLS(t *testing.T) {
	dir := t.TempDir()
	ca, sc, sk, cc, ck := testPKI(t, dir)
	pool := x509.NewCertPool()
	b, _ := os.ReadFile(ca)
	pool.AppendCertsFromPEM(b)
	pair, err := tls.LoadX509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	c, err := etcdtest.StartTLS(1, &etcdtest.TLS{CA: ca, Cert: sc, Key: sk,
		Client: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	hosts := strings.Join(c.Endpoints(), ",")
	q := "cacert=" + url.QueryEscape(ca) + "&cert=" + url.QueryEscape(cc) + "&key=" + url.QueryEscape(ck)
	l := openEtcdTest(t, "etcds://"+hosts+"/tls?"+q)
	if err := l.Acquire(1, ModeWrite, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if f, err := l.Fence(1); err != nil || f == 0 {
		t.Fatalf("fence %d %v", f, err)
	}
	l.Release(1)
	for _, bad := range []string{
		"etcds://" + hosts + "/tls?timeout=1s&cacert=" + url.QueryEscape(ca), // no client certificate
		"etcds://" + hosts + "/tls?timeout=1s",                               // unknown CA
		"etcd://" + hosts + "/tls?timeout=1s",                                // plain text
	} {
		if l2, err := Open(bad, Options{}); err == nil {
			l2.Close()
			t.Errorf("%s: opened", bad)
		} else if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: %v, want ErrUnavailable", bad, err)
		}
	}
	if _, err := Open("etcds://"+hosts+"/tls?cacert="+url.QueryEscape(filepath.Join(dir, "none.pem")), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing cacert file: %v", err)
	}
}
