package kafkasec

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/youmark/pkcs8"
)

// parsePrivateKey decodes a PEM private key block: PKCS#8 ("PRIVATE KEY"),
// encrypted PKCS#8 ("ENCRYPTED PRIVATE KEY", as Kafka's ssl.key.password
// expects), PKCS#1 RSA or SEC 1 EC keys.
func parsePrivateKey(block *pem.Block, password string) (crypto.PrivateKey, error) {
	switch block.Type {
	case "ENCRYPTED PRIVATE KEY":
		if password == "" {
			return nil, fmt.Errorf("%w: the private key is encrypted: set ssl.key.password", ErrBadTLS)
		}
		k, _, err := pkcs8.ParsePrivateKey(block.Bytes, []byte(password))
		if err != nil {
			return nil, fmt.Errorf("%w: decrypt the private key (wrong ssl.key.password?): %w", ErrBadTLS, err)
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: private key: %w", ErrBadTLS, err)
		}
		return k, nil
	case "RSA PRIVATE KEY":
		if block.Headers["Proc-Type"] != "" {
			return nil, fmt.Errorf("%w: legacy encrypted PEM keys are not supported: convert with 'openssl pkcs8 -topk8'", ErrBadTLS)
		}
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: RSA private key: %w", ErrBadTLS, err)
		}
		return k, nil
	case "EC PRIVATE KEY":
		if block.Headers["Proc-Type"] != "" {
			return nil, fmt.Errorf("%w: legacy encrypted PEM keys are not supported: convert with 'openssl pkcs8 -topk8'", ErrBadTLS)
		}
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: EC private key: %w", ErrBadTLS, err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%w: unsupported PEM block %q", ErrBadTLS, block.Type)
}
