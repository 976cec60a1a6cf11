package validate

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestBase64(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s      string
		ok     bool
		offset int
	}{
		{"iVBORw0KGgo=", true, 0},
		{"QUJD", true, 0},
		{"QUI=", true, 0},
		{"QQ==", true, 0},
		{"QUI", true, 0}, // unpadded: providers accept it, and it decodes
		{"QQ", true, 0},
		{"", false, 0},
		{"Q", false, 1},          // one leftover character is no byte
		{"QUJDQ", false, 5},      // the same after a whole quantum
		{"QUI==", false, 5},      // padded to a length that is not a multiple of 4
		{"Q===", false, 1},       // three padding characters
		{"====", false, 0},       // nothing but padding
		{"QU=I", false, 2},       // padding in the middle
		{"QUJD\nRA==", false, 4}, // line breaks, as base64(1) writes them
		{"QUJD RA==", false, 4},
		{"QUJD-_==", false, 4}, // the URL-safe alphabet
		{"data:image/png;base64,QUJD", false, 4},
	}
	for _, tt := range tests {
		at, ok := Base64(tt.s)
		if ok != tt.ok || (!ok && at != tt.offset) {
			t.Errorf("Base64(%q) = %d, %v; want %d, %v", tt.s, at, ok, tt.offset, tt.ok)
		}
		if ok {
			if _, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(tt.s, "=")); err != nil {
				t.Errorf("Base64(%q) accepted what the decoder refuses: %v", tt.s, err)
			}
		}
	}
}

// FuzzBase64 checks Base64 against the standard library's decoder: what
// one accepts the other must accept, padded or not.
func FuzzBase64(f *testing.F) {
	for _, s := range []string{"QUJD", "QUI=", "QQ==", "QUI", "Q", "=", "QU=I", "a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, ok := Base64(s)
		enc := base64.RawStdEncoding
		if strings.HasSuffix(s, "=") {
			enc = base64.StdEncoding
		}
		_, err := enc.DecodeString(s)
		// The decoders skip line breaks, which Base64 refuses.
		want := err == nil && s != "" && !strings.ContainsAny(s, "\r\n")
		if ok != want {
			t.Fatalf("Base64(%q) = %v, decoder error %v", s, ok, err)
		}
	})
}

func BenchmarkBase64(b *testing.B) {
	s := base64.StdEncoding.EncodeToString(make([]byte, 3<<20)) // a 3 MiB image
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Base64(s); !ok {
			b.Fatal("refused")
		}
	}
}
