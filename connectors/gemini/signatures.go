package gemini

import (
	"crypto/sha256"
	"time"
)

// Gemini 3 rejects a conversation whose replayed function calls lack the
// thoughtSignature they came with, and OpenAI-dialect clients drop every
// field they do not know, signatures included. So the gateway remembers
// each signature under the tool-call id it handed out and puts it back on
// the call when the client replays it. The cache is process-wide, so it
// survives config reloads (but not restarts, and it is not shared between
// gateway instances); it is bounded in bytes, and entries expire.
//
// The same cache also knows every signature this connector handed out, by
// digest: only those go back to Gemini. A conversation that was served by
// Claude before carries Claude's thinking signatures, which Gemini cannot
// verify and would reject the request for.
var signatures = signatureCache{
	lru:  newLRU[signedCall](signatureBudget, signatureTTL),
	seen: newLRU[struct{}](signatureBudget/8, signatureTTL),
}

const (
	signatureBudget = 64 << 20 // bytes of ids, names and signatures kept
	signatureTTL    = 24 * time.Hour
)

type signatureCache struct {
	*lru[signedCall]
	seen *lru[struct{}] // digests of the signatures Gemini gave
}

type signedCall struct{ name, signature string }

// remember stores the signature of tool call id (of function name).
func (c signatureCache) remember(id, name, signature string) {
	if id != "" && signature != "" {
		c.put(id, signedCall{name, signature}, len(name)+len(signature))
	}
	c.produced(signature)
}

// produced records a signature Gemini gave, so that own accepts it.
func (c signatureCache) produced(signature string) {
	if signature != "" {
		d := sha256.Sum256([]byte(signature))
		c.seen.put(string(d[:]), struct{}{}, 0)
	}
}

// own reports whether signature came from Gemini through this connector
// (since the process started, and within the TTL). An empty one is not.
func (c signatureCache) own(signature string) bool {
	if signature == "" {
		return false
	}
	d := sha256.Sum256([]byte(signature))
	_, ok := c.seen.get(string(d[:]))
	return ok
}

// lookup returns the signature remembered for tool call id, provided the
// call names the same function: an id that happens to match one from
// another conversation must not pick up that conversation's signature.
func (c signatureCache) lookup(id, name string) string {
	if id == "" {
		return ""
	}
	if sc, ok := c.get(id); ok && sc.name == name {
		return sc.signature
	}
	return ""
}
