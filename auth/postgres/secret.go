package postgres

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"sync"
)

const (
	// SecretPrefix starts every key, so that keys are recognisable in
	// config files and by secret scanners.
	SecretPrefix = "XJP_"
	// secretBytes is the key's entropy: 256 bits.
	secretBytes = 32
	// SecretLen is the length of a key: the prefix and 43 characters of
	// unpadded URL-safe base64.
	SecretLen = len(SecretPrefix) + (secretBytes*8+5)/6
	// DisplayPrefixLen is how much of a key is stored in clear as
	// key_prefix, to recognise it in listings: the prefix and 8 random
	// characters (48 bits, not enough to guess the rest).
	DisplayPrefixLen = len(SecretPrefix) + 8
)

// NewSecret returns a new random key.
func NewSecret() string {
	b := make([]byte, secretBytes)
	rand.Read(b) // never fails (crypto/rand)
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// DisplayPrefix is the part of a key shown in listings.
func DisplayPrefix(secret string) string {
	if len(secret) < DisplayPrefixLen {
		return secret
	}
	return secret[:DisplayPrefixLen]
}

// wellFormed reports whether secret can be a key of this store, so that
// junk is refused without a database lookup.
func wellFormed(secret string) bool {
	if len(secret) != SecretLen || secret[:len(SecretPrefix)] != SecretPrefix {
		return false
	}
	for i := len(SecretPrefix); i < len(secret); i++ {
		c := secret[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Hasher turns keys into the digests stored in api_keys.key_hash:
// SHA-256 of the key, or HMAC-SHA-256 keyed with a pepper, a secret kept
// outside the database so that a stolen table cannot be checked against
// guessed keys. The gateway and the CLI must use the same pepper. The zero
// Hasher uses no pepper.
type Hasher struct {
	macs *sync.Pool // of HMAC states keyed with the pepper; nil without one
}

// NewHasher returns a Hasher with pepper ("" for plain SHA-256).
func NewHasher(pepper string) Hasher {
	if pepper == "" {
		return Hasher{}
	}
	key := []byte(pepper)
	return Hasher{macs: &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
}

// Hash returns the stored digest of secret.
func (h Hasher) Hash(secret string) [sha256.Size]byte {
	if h.macs == nil {
		return sha256.Sum256([]byte(secret))
	}
	m := h.macs.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(secret))
	var out [sha256.Size]byte
	m.Sum(out[:0])
	h.macs.Put(m)
	return out
}
