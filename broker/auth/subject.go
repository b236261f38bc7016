package auth

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"strings"
)

// rfc2253Keywords are the attribute types RFC 2253 names (and Java's
// X500Principal.getName() prints by name); others print as dotted OIDs
// with a hex-encoded DER value.
var rfc2253Keywords = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.9":                    "STREET",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
}

// SubjectDN renders a certificate's subject as an RFC 2253 distinguished
// name in the form Kafka's principal mapping sees (Java's
// X500Principal.getName()): the most specific name first, such as
// "CN=alice,OU=eng,O=Acme,C=US".
func SubjectDN(cert *x509.Certificate) (string, error) {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(cert.RawSubject, &seq); err != nil {
		return "", fmt.Errorf("auth: certificate subject: %w", err)
	} else if len(rest) > 0 {
		return "", fmt.Errorf("auth: certificate subject has trailing data")
	}
	var b strings.Builder
	for i := len(seq) - 1; i >= 0; i-- {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		for j, atv := range seq[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			writeATV(&b, atv)
		}
	}
	return b.String(), nil
}

func writeATV(b *strings.Builder, atv pkix.AttributeTypeAndValue) {
	oid := atv.Type.String()
	s, isString := atv.Value.(string)
	name, known := rfc2253Keywords[oid]
	if !known || !isString {
		b.WriteString(oid)
		b.WriteString("=#")
		der, err := asn1.Marshal(atv.Value)
		if err == nil {
			b.WriteString(hex.EncodeToString(der))
		}
		return
	}
	b.WriteString(name)
	b.WriteByte('=')
	b.WriteString(escapeDNValue(s))
}

// escapeDNValue escapes an attribute value as RFC 2253 asks.
func escapeDNValue(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case strings.IndexByte(",+\"\\<>;", c) >= 0,
			i == 0 && (c == ' ' || c == '#'),
			i == len(s)-1 && c == ' ':
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}
