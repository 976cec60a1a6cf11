package gemini

import (
	"crypto/rand"
	"reflect"
	"testing"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

// TestStreamSignatureBeforeItsText: Gemini 2.5 signs its thoughts on the
// first answer part. The signature goes out before that part's text, so
// that a client's thinking block, which the text closes, still gets it;
// and it becomes one the encoder sends back.
func TestStreamSignatureBeforeItsText(t *testing.T) {
	t.Parallel()
	sig := "U2lnbmVk" + rand.Text() // new to the process-wide cache, whatever ran before
	body := `data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Thinking.","thought":true}]}}],"responseId":"r","modelVersion":"gemini-2.5-pro"}

data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Answer.","thoughtSignature":"` + sig + `"}]},"finishReason":"STOP"}]}
`
	if signatures.own(sig) {
		t.Fatal("signature known before Gemini gave it")
	}
	evs, _, err := streamEvents(t, sseReply([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	want := []unified.Event{
		{Type: unified.EventStart, ID: "r", Name: "gemini-2.5-pro"},
		{Type: unified.EventReasoning, Text: "Thinking."},
		{Type: unified.EventReasoningSignature, Text: sig},
		{Type: unified.EventText, Text: "Answer."},
		{Type: unified.EventFinish, Finish: unified.FinishStop},
	}
	if !reflect.DeepEqual(evs, want) {
		t.Fatalf("events =\n%+v\nwant\n%+v", evs, want)
	}
	if !signatures.own(sig) {
		t.Error("a signature Gemini gave is not recognised as its own")
	}
}

func TestSignatureCacheOwn(t *testing.T) {
	t.Parallel()
	sig := "Q2FsbA" + rand.Text()
	signatures.remember("call_own_1", "f", sig)
	if !signatures.own(sig) {
		t.Error("a remembered call signature is not own")
	}
	if signatures.own("") || signatures.own("Rm9yZWlnbg==") {
		t.Error("an empty or foreign signature counts as own")
	}
}
