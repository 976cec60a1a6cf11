package gemini

import "time"

// Gemini 3 rejects a conversation whose replayed function calls lack the
// thoughtSignature they came with, and OpenAI-dialect clients drop every
// field they do not know, signatures included. So the gateway remembers
// each signature under the tool-call id it handed out and puts it back on
// the call when the client replays it. The cache is process-wide, so it
// survives config reloads (but not restarts, and it is not shared between
// gateway instances); it is bounded in bytes, and entries expire.
var signatures = signatureCache{newLRU[signedCall](signatureBudget, signatureTTL)}

const (
	signatureBudget = 64 << 20 // bytes of ids, names and signatures kept
	signatureTTL    = 24 * time.Hour
)

type signatureCache struct{ *lru[signedCall] }

type signedCall struct{ name, signature string }

// remember stores the signature of tool call id (of function name).
func (c signatureCache) remember(id, name, signature string) {
	if id != "" && signature != "" {
		c.put(id, signedCall{name, signature}, len(name)+len(signature))
	}
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
