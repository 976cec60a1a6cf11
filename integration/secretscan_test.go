package integration

import (
	"sort"
	"strings"
	"testing"
)

// secretLeaks reports every secret found in any output. secrets and
// outputs are keyed by a name for the report ("provider key", "caddy
// log"). To scan more output (metric labels, span attributes), add it to
// outputs; to guard another secret, add it to secrets.
//
// Besides each secret itself, it looks for any 12-byte run of it, so
// that a truncated or re-wrapped secret (a PEM key split across lines,
// a key cut short in a message) is caught too.
func secretLeaks(secrets, outputs map[string]string) []string {
	var leaks []string
	for sname, secret := range secrets {
		needles := secretFragments(secret)
		if len(needles) == 0 {
			leaks = append(leaks, sname+": empty, so nothing is scanned for it")
		}
		for _, needle := range needles {
			for oname, out := range outputs {
				if i := strings.Index(out, needle); i >= 0 {
					lo, hi := max(0, i-60), min(len(out), i+len(needle)+60)
					leaks = append(leaks, sname+" in "+oname+": …"+out[lo:hi]+"…")
				}
			}
		}
	}
	sort.Strings(leaks)
	return leaks
}

// secretFragments returns the secret and its 12-byte windows, line by
// line (a PEM body's lines are scanned one by one).
func secretFragments(secret string) []string {
	const window = 12
	var out []string
	for _, line := range strings.Split(secret, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "-----"):
			continue
		case len(line) < window: // a short secret: itself
			out = append(out, line)
			continue
		}
		for i := 0; i+window <= len(line); i += window / 2 {
			out = append(out, line[i:i+window])
		}
	}
	return out
}

func TestSecretLeaksFindsFragments(t *testing.T) {
	secrets := map[string]string{"key": "sk-0123456789abcdefghij", "pepper": "pep-123", "pem": "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEF\n-----END KEY-----"}
	for _, tc := range []struct {
		out  string
		want int
	}{
		{"nothing here", 0},
		{"whole sk-0123456789abcdefghij key", 1},
		{"cut short: sk-0123456789ab…", 1},
		{`pem line "BgkqhkiG9w0BAQEF"`, 1},
		{"a short pepper: pep-123", 1},
	} {
		if got := secretLeaks(secrets, map[string]string{"out": tc.out}); (len(got) > 0) != (tc.want > 0) {
			t.Errorf("%q: leaks %v", tc.out, got)
		}
	}
	if got := secretLeaks(map[string]string{"blank": " "}, map[string]string{"out": "x"}); len(got) != 1 {
		t.Errorf("a blank secret is not reported: %v", got)
	}
}
