package unified

import "strings"

// ParseDataURI splits a base64 data URI (data:<mime>;base64,<payload>)
// into its MIME type and payload. Only the base64 form is accepted: every
// provider wants base64, and a URL-encoded payload would have to be
// re-encoded. Media-type parameters before ;base64 are dropped.
func ParseDataURI(uri string) (mime, data string, ok bool) {
	rest, found := strings.CutPrefix(uri, "data:")
	if !found {
		return "", "", false
	}
	meta, payload, found := strings.Cut(rest, ",")
	if !found {
		return "", "", false
	}
	meta, found = strings.CutSuffix(meta, ";base64")
	if !found {
		return "", "", false
	}
	mime, _, _ = strings.Cut(meta, ";")
	if mime == "" || !strings.Contains(mime, "/") {
		return "", "", false
	}
	return strings.ToLower(mime), payload, true
}

// DataURI builds a base64 data URI.
func DataURI(mime, data string) string {
	return "data:" + mime + ";base64," + data
}
