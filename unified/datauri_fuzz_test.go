package unified

import (
	"strings"
	"testing"
)

// FuzzParseDataURI checks the data-URI parser on arbitrary input: it must
// never panic, and what it accepts must round-trip through DataURI.
func FuzzParseDataURI(f *testing.F) {
	for _, s := range []string{
		"data:image/png;base64,iVBORw0KGgo=",
		"data:image/jpeg;charset=x;base64,/9j/",
		"data:text/plain,hello",
		"data:;base64,AAAA",
		"data:IMAGE/PNG;base64,",
		"https://example.com/a.png",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		mime, data, ok := ParseDataURI(uri)
		if !ok {
			if mime != "" || data != "" {
				t.Fatalf("refused %q but returned %q, %q", uri, mime, data)
			}
			return
		}
		if mime == "" || !strings.Contains(mime, "/") || mime != strings.ToLower(mime) {
			t.Fatalf("accepted %q with MIME type %q", uri, mime)
		}
		if !strings.HasSuffix(uri, data) {
			t.Fatalf("payload %q is not the end of %q", data, uri)
		}
		m2, d2, ok2 := ParseDataURI(DataURI(mime, data))
		if !ok2 || d2 != data || m2 != mime {
			t.Fatalf("round trip of %q: %q %q %v", uri, m2, d2, ok2)
		}
	})
}
