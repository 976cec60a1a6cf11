package validate

// base64Alphabet marks the bytes of the standard base64 alphabet.
var base64Alphabet = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = true
	}
	return t
}()

// Base64 reports whether s is standard base64 (RFC 4648 section 4) as
// every provider takes it: the standard alphabet, no whitespace, and
// either correct = padding or none. It reads s once and allocates
// nothing, where decoding would copy a payload that may be megabytes.
// When s is not valid, at is the offset of the first offending byte (len(s)
// for a bad length).
func Base64(s string) (at int, ok bool) {
	n := len(s)
	end := n // without the padding
	if end > 0 && s[end-1] == '=' {
		end--
		if end > 0 && s[end-1] == '=' {
			end--
		}
	}
	for i := 0; i < end; i++ {
		if !base64Alphabet[s[i]] {
			return i, false
		}
	}
	if end%4 == 1 || (end < n && n%4 != 0) {
		// One leftover character encodes no whole byte; padding must
		// complete the last quantum.
		return n, false
	}
	return 0, n > 0
}
