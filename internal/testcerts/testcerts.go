// Package testcerts makes throwaway certificate authorities and
// certificates for tests of TLS listeners and clients, written as PEM
// files in Kafka's layouts (ssl.keystore.location holding the chain and
// the key; ssl.truststore.location holding CA certificates).
//
//	ca := testcerts.NewCA(t, "Test CA")
//	server := ca.Issue(t, "CN=localhost", testcerts.Server("127.0.0.1", "localhost"))
//	props := map[string]string{
//		"ssl.keystore.location":   server.KeystoreFile,
//		"ssl.truststore.location": ca.CertFile,
//	}
package testcerts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// CA is a certificate authority.
type CA struct {
	Cert     *x509.Certificate
	Key      *ecdsa.PrivateKey
	CertPEM  []byte
	CertFile string // the CA certificate, PEM: a trust store
	dir      string
}

// NewCA makes a self-signed CA in a temporary directory.
func NewCA(tb testing.TB, name string) *CA {
	tb.Helper()
	key := newKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(tb),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &CA{Cert: cert, Key: key, CertPEM: pemBlock("CERTIFICATE", der), dir: tb.TempDir()}
	ca.CertFile = filepath.Join(ca.dir, "ca.pem")
	write(tb, ca.CertFile, ca.CertPEM)
	return ca
}

// Issued is a certificate with its key.
type Issued struct {
	Cert         *x509.Certificate
	CertPEM      []byte // the certificate followed by the CA's
	KeyPEM       []byte // PKCS#8
	KeystoreFile string // CertPEM and KeyPEM in one file
	CertFile     string // CertPEM alone
	KeyFile      string // KeyPEM alone
}

// IssueOption changes a certificate template.
type IssueOption func(*x509.Certificate)

// Server makes a server certificate for the given IP addresses and DNS
// names.
func Server(hosts ...string) IssueOption {
	return func(c *x509.Certificate) {
		c.ExtKeyUsage = append(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				c.IPAddresses = append(c.IPAddresses, ip)
			} else {
				c.DNSNames = append(c.DNSNames, h)
			}
		}
	}
}

// Client makes a client certificate.
func Client() IssueOption {
	return func(c *x509.Certificate) { c.ExtKeyUsage = append(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) }
}

// Issue makes a certificate for subject, given as RFC 2253 attributes with
// the most specific first ("CN=alice,OU=eng,O=Acme"), and writes its
// files into a new temporary directory.
func (ca *CA) Issue(tb testing.TB, subject string, opts ...IssueOption) *Issued {
	tb.Helper()
	dir := tb.TempDir()
	return ca.IssueInto(tb, dir, subject, opts...)
}

// IssueInto is Issue writing into dir (replacing the files there: a
// renewal) as keystore.pem, cert.pem and key.pem.
func (ca *CA) IssueInto(tb testing.TB, dir, subject string, opts ...IssueOption) *Issued {
	tb.Helper()
	key := newKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber: serial(tb),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	tmpl.RawSubject = rawSubject(tb, subject)
	for _, o := range opts {
		o(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	is := &Issued{
		Cert:    cert,
		CertPEM: append(pemBlock("CERTIFICATE", der), ca.CertPEM...),
		KeyPEM:  pemBlock("PRIVATE KEY", keyDER),
	}
	is.KeystoreFile = filepath.Join(dir, "keystore.pem")
	is.CertFile = filepath.Join(dir, "cert.pem")
	is.KeyFile = filepath.Join(dir, "key.pem")
	write(tb, is.KeystoreFile, append(append([]byte(nil), is.CertPEM...), is.KeyPEM...))
	write(tb, is.CertFile, is.CertPEM)
	write(tb, is.KeyFile, is.KeyPEM)
	return is
}

// rawSubject encodes "CN=a,OU=b,O=c" (most specific first) as a DER
// name whose RDNs are in certificate order (least specific first).
func rawSubject(tb testing.TB, subject string) []byte {
	oids := map[string][]int{"CN": {2, 5, 4, 3}, "OU": {2, 5, 4, 11}, "O": {2, 5, 4, 10}, "L": {2, 5, 4, 7}, "ST": {2, 5, 4, 8}, "C": {2, 5, 4, 6}}
	var seq pkix.RDNSequence
	parts := strings.Split(subject, ",")
	for i := len(parts) - 1; i >= 0; i-- {
		k, v, ok := strings.Cut(strings.TrimSpace(parts[i]), "=")
		oid, known := oids[k]
		if !ok || !known {
			tb.Fatalf("testcerts: subject attribute %q", parts[i])
		}
		seq = append(seq, pkix.RelativeDistinguishedNameSET{{Type: oid, Value: v}})
	}
	der, err := asn1.Marshal(seq)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

func serial(tb testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// write replaces a file atomically (a new inode), as a certificate
// renewal tool does.
func write(tb testing.TB, path string, data []byte) {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
}
