package idempotency

import (
	"encoding/binary"
	"errors"
	"net/http"
)

// The Redis store keeps responses in a compact binary form:
//
//	version byte, status uvarint, request id, header count uvarint,
//	per header: name, value count uvarint, values; then the body
//
// where strings are a uvarint length and bytes.

const codecVersion = 1

var errCorrupt = errors.New("idempotency: a stored response is corrupt")

func appendResponse(b []byte, r *Response) []byte {
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, uint64(r.Status))
	b = appendString(b, r.RequestID)
	b = binary.AppendUvarint(b, uint64(len(r.Header)))
	for k, vs := range r.Header {
		b = appendString(b, k)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = appendString(b, v)
		}
	}
	return append(b, r.Body...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func decodeResponse(b []byte) (*Response, error) {
	d := decoder{b: b}
	if d.byte() != codecVersion {
		return nil, errCorrupt
	}
	r := &Response{Status: int(d.uvarint()), RequestID: d.string()}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return nil, errCorrupt
	}
	r.Header = make(http.Header, n)
	for range n {
		k := d.string()
		m := d.uvarint()
		if m > uint64(len(d.b)) {
			return nil, errCorrupt
		}
		vs := make([]string, 0, m)
		for range m {
			vs = append(vs, d.string())
		}
		r.Header[k] = vs
	}
	if d.bad {
		return nil, errCorrupt
	}
	r.Body = d.b
	return r, nil
}

type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.bad = true
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
