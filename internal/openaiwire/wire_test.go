package openaiwire

import (
	"testing"

	"github.com/go-json-experiment/json"
)

// TestUnknownMembersRoundTrip guards the `embed` tag of ChatRequest.Unknown:
// members the gateway does not model are captured on the way in and
// written back inline, never as a member named "Unknown".
func TestUnknownMembersRoundTrip(t *testing.T) {
	t.Parallel()
	in := `{"model":"m","messages":[],"logit_bias":{"50256":-100},"service_tier":"flex"}`
	var cr ChatRequest
	if err := json.Unmarshal([]byte(in), &cr); err != nil {
		t.Fatal(err)
	}
	if string(cr.Unknown["logit_bias"]) != `{"50256":-100}` || string(cr.Unknown["service_tier"]) != `"flex"` || len(cr.Unknown) != 2 {
		t.Fatalf("unknown members = %v", cr.Unknown)
	}
	out, err := json.Marshal(&cr, json.Deterministic(true))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), `{"model":"m","messages":[],"logit_bias":{"50256":-100},"service_tier":"flex"}`; got != want {
		t.Errorf("marshalled %s, want %s", got, want)
	}
	out, _ = json.Marshal(&ChatRequest{Model: "m"})
	if string(out) != `{"model":"m","messages":[]}` {
		t.Errorf("empty Unknown marshalled as %s", out)
	}
}
