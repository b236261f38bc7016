package kafkasec

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrBadTLS is returned for ssl.* settings that cannot be used.
var ErrBadTLS = errors.New("bad ssl settings")

// TLSSettings are the ssl.* settings of one broker listener or one client,
// by Kafka's names. Only PEM stores are supported.
type TLSSettings struct {
	KeystoreType      string // ssl.keystore.type (PEM; empty means PEM)
	KeystoreLocation  string // ssl.keystore.location: a PEM file with the certificate chain and the key
	KeystoreCertChain string // ssl.keystore.certificate.chain: inline PEM
	KeystoreKey       string // ssl.keystore.key: inline PEM
	KeyPassword       string // ssl.key.password: for an encrypted key

	TruststoreType         string // ssl.truststore.type (PEM; empty means PEM)
	TruststoreLocation     string // ssl.truststore.location: PEM certificates
	TruststoreCertificates string // ssl.truststore.certificates: inline PEM

	EnabledProtocols string // ssl.enabled.protocols (default TLSv1.2,TLSv1.3)
	CipherSuites     string // ssl.cipher.suites (IANA names; empty means Go's defaults)
	ClientAuth       string // ssl.client.auth (broker): none, requested or required
	// EndpointIdentification is ssl.endpoint.identification.algorithm
	// (client): "https" (the default) checks the broker's host name, ""
	// checks only the chain.
	EndpointIdentification string
}

// TLSSettingNames lists the ssl.* settings TLSSettings reads.
var TLSSettingNames = []string{
	"ssl.keystore.type", "ssl.keystore.location", "ssl.keystore.certificate.chain", "ssl.keystore.key",
	"ssl.key.password", "ssl.truststore.type", "ssl.truststore.location", "ssl.truststore.certificates",
	"ssl.enabled.protocols", "ssl.cipher.suites", "ssl.client.auth", "ssl.endpoint.identification.algorithm",
}

// ReadTLSSettings reads the ssl.* settings through get, which returns a
// setting's value and whether it is set.
func ReadTLSSettings(get func(name string) (string, bool)) TLSSettings {
	v := func(name string) string { s, _ := get(name); return strings.TrimSpace(s) }
	s := TLSSettings{
		KeystoreType:           v("ssl.keystore.type"),
		KeystoreLocation:       v("ssl.keystore.location"),
		KeystoreCertChain:      v("ssl.keystore.certificate.chain"),
		KeystoreKey:            v("ssl.keystore.key"),
		KeyPassword:            v("ssl.key.password"),
		TruststoreType:         v("ssl.truststore.type"),
		TruststoreLocation:     v("ssl.truststore.location"),
		TruststoreCertificates: v("ssl.truststore.certificates"),
		EnabledProtocols:       v("ssl.enabled.protocols"),
		CipherSuites:           v("ssl.cipher.suites"),
		ClientAuth:             strings.ToLower(v("ssl.client.auth")),
		EndpointIdentification: "https",
	}
	if a, ok := get("ssl.endpoint.identification.algorithm"); ok {
		s.EndpointIdentification = strings.ToLower(strings.TrimSpace(a))
	}
	return s
}

// HasKeystore reports whether a key store is configured.
func (s TLSSettings) HasKeystore() bool {
	return s.KeystoreLocation != "" || s.KeystoreCertChain != "" || s.KeystoreKey != ""
}

// HasTruststore reports whether a trust store is configured.
func (s TLSSettings) HasTruststore() bool {
	return s.TruststoreLocation != "" || s.TruststoreCertificates != ""
}

// Files are the files the settings read, to watch for changes.
func (s TLSSettings) Files() []string {
	var out []string
	for _, f := range []string{s.KeystoreLocation, s.TruststoreLocation} {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Validate checks the settings without reading files.
func (s TLSSettings) Validate() error {
	for name, t := range map[string]string{"ssl.keystore.type": s.KeystoreType, "ssl.truststore.type": s.TruststoreType} {
		if t != "" && !strings.EqualFold(t, "PEM") {
			return fmt.Errorf("%w: %s=%s: only PEM stores are supported (convert with openssl)", ErrBadTLS, name, t)
		}
	}
	if s.KeystoreLocation != "" && (s.KeystoreCertChain != "" || s.KeystoreKey != "") {
		return fmt.Errorf("%w: set ssl.keystore.location or ssl.keystore.certificate.chain and ssl.keystore.key, not both", ErrBadTLS)
	}
	if (s.KeystoreCertChain == "") != (s.KeystoreKey == "") {
		return fmt.Errorf("%w: ssl.keystore.certificate.chain and ssl.keystore.key go together", ErrBadTLS)
	}
	if s.TruststoreLocation != "" && s.TruststoreCertificates != "" {
		return fmt.Errorf("%w: set ssl.truststore.location or ssl.truststore.certificates, not both", ErrBadTLS)
	}
	switch s.ClientAuth {
	case "", "none", "requested", "required":
	default:
		return fmt.Errorf("%w: ssl.client.auth=%s: want none, requested or required", ErrBadTLS, s.ClientAuth)
	}
	switch s.EndpointIdentification {
	case "", "https":
	default:
		return fmt.Errorf("%w: ssl.endpoint.identification.algorithm=%s: want https or empty", ErrBadTLS, s.EndpointIdentification)
	}
	if _, _, err := s.versions(); err != nil {
		return err
	}
	_, err := s.cipherSuites()
	return err
}

// Certificate loads the key store: the certificate chain and its private
// key. It returns nil without a key store.
func (s TLSSettings) Certificate() (*tls.Certificate, error) {
	var chain, key []byte
	switch {
	case s.KeystoreLocation != "":
		data, err := os.ReadFile(s.KeystoreLocation)
		if err != nil {
			return nil, fmt.Errorf("%w: ssl.keystore.location: %w", ErrBadTLS, err)
		}
		chain, key = data, data
	case s.KeystoreCertChain != "":
		chain, key = []byte(s.KeystoreCertChain), []byte(s.KeystoreKey)
	default:
		return nil, nil
	}
	cert, err := KeyPairFromPEM(chain, key, s.KeyPassword)
	if err != nil {
		return nil, err
	}
	return &cert, nil
}

// CertPool loads the trust store. It returns nil without one (meaning the
// system's roots for a client, and no client certificates for a broker).
func (s TLSSettings) CertPool() (*x509.CertPool, error) {
	var data []byte
	switch {
	case s.TruststoreLocation != "":
		var err error
		if data, err = os.ReadFile(s.TruststoreLocation); err != nil {
			return nil, fmt.Errorf("%w: ssl.truststore.location: %w", ErrBadTLS, err)
		}
	case s.TruststoreCertificates != "":
		data = []byte(s.TruststoreCertificates)
	default:
		return nil, nil
	}
	return CertPoolFromPEM(data)
}

// Config builds a tls.Config with the protocol versions, cipher suites,
// key store and trust store of the settings; a broker's also asks for
// client certificates as ssl.client.auth says (server true).
func (s TLSSettings) Config(server bool) (*tls.Config, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	minV, maxV, _ := s.versions()
	suites, _ := s.cipherSuites()
	cfg := &tls.Config{MinVersion: minV, MaxVersion: maxV, CipherSuites: suites}
	cert, err := s.Certificate()
	if err != nil {
		return nil, err
	}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	pool, err := s.CertPool()
	if err != nil {
		return nil, err
	}
	if server {
		if cert == nil {
			return nil, fmt.Errorf("%w: a TLS listener needs ssl.keystore.location or ssl.keystore.certificate.chain and ssl.keystore.key", ErrBadTLS)
		}
		cfg.ClientCAs = pool
		switch s.ClientAuth {
		case "requested":
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
		case "required":
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
		if cfg.ClientAuth != tls.NoClientCert && pool == nil {
			return nil, fmt.Errorf("%w: ssl.client.auth=%s needs a trust store (ssl.truststore.location or ssl.truststore.certificates)", ErrBadTLS, s.ClientAuth)
		}
		return cfg, nil
	}
	cfg.RootCAs = pool
	if s.EndpointIdentification == "" {
		// Check the chain but not the host name, as Kafka's clients do
		// with ssl.endpoint.identification.algorithm empty.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w: the broker sent no certificate", ErrBadTLS)
			}
			opts := x509.VerifyOptions{Roots: pool, Intermediates: x509.NewCertPool()}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		}
	}
	return cfg, nil
}

// versions maps ssl.enabled.protocols to a TLS version range.
func (s TLSSettings) versions() (uint16, uint16, error) {
	list := s.EnabledProtocols
	if list == "" {
		list = "TLSv1.2,TLSv1.3"
	}
	var minV, maxV uint16
	for _, p := range strings.Split(list, ",") {
		var v uint16
		switch strings.TrimSpace(p) {
		case "TLSv1.2":
			v = tls.VersionTLS12
		case "TLSv1.3":
			v = tls.VersionTLS13
		case "":
			continue
		default:
			return 0, 0, fmt.Errorf("%w: ssl.enabled.protocols=%s: only TLSv1.2 and TLSv1.3 are supported", ErrBadTLS, list)
		}
		if minV == 0 || v < minV {
			minV = v
		}
		if v > maxV {
			maxV = v
		}
	}
	if minV == 0 {
		return 0, 0, fmt.Errorf("%w: ssl.enabled.protocols is empty", ErrBadTLS)
	}
	return minV, maxV, nil
}

// cipherSuites maps ssl.cipher.suites (IANA names, as Java uses) to Go's
// suite IDs. TLS 1.3 suites are not configurable in Go and are skipped.
func (s TLSSettings) cipherSuites() ([]uint16, error) {
	if s.CipherSuites == "" {
		return nil, nil
	}
	known := map[string]uint16{}
	for _, cs := range tls.CipherSuites() {
		known[cs.Name] = cs.ID
	}
	var out []uint16
	for _, name := range strings.Split(s.CipherSuites, ",") {
		name = strings.TrimSpace(name)
		if name == "" || strings.HasPrefix(name, "TLS_AES_") || strings.HasPrefix(name, "TLS_CHACHA20_") {
			continue
		}
		id, ok := known[name]
		if !ok {
			return nil, fmt.Errorf("%w: ssl.cipher.suites: %s is not a supported cipher suite", ErrBadTLS, name)
		}
		out = append(out, id)
	}
	return out, nil
}

// CertPoolFromPEM builds a pool from every CERTIFICATE block of data.
func CertPoolFromPEM(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: trust store certificate %d: %w", ErrBadTLS, n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: the trust store holds no PEM certificate", ErrBadTLS)
	}
	return pool, nil
}

// KeyPairFromPEM builds a certificate from the CERTIFICATE blocks of chain
// (leaf first) and the private key block of key, decrypting an encrypted
// key with password.
func KeyPairFromPEM(chain, key []byte, password string) (tls.Certificate, error) {
	var cert tls.Certificate
	for rest := chain; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			cert.Certificate = append(cert.Certificate, block.Bytes)
		}
	}
	if len(cert.Certificate) == 0 {
		return cert, fmt.Errorf("%w: the key store holds no PEM certificate", ErrBadTLS)
	}
	var keyBlock *pem.Block
	for rest := key; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if strings.HasSuffix(block.Type, "PRIVATE KEY") {
			keyBlock = block
			break
		}
	}
	if keyBlock == nil {
		return cert, fmt.Errorf("%w: the key store holds no PEM private key", ErrBadTLS)
	}
	priv, err := parsePrivateKey(keyBlock, password)
	if err != nil {
		return cert, err
	}
	cert.PrivateKey = priv
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return cert, fmt.Errorf("%w: key store certificate: %w", ErrBadTLS, err)
	}
	cert.Leaf = leaf
	// Check that the key belongs to the certificate.
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return cert, fmt.Errorf("%w: private key: %w", ErrBadTLS, err)
	}
	if _, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return cert, fmt.Errorf("%w: key store: %w", ErrBadTLS, err)
	}
	return cert, nil
}
