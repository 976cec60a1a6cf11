package unified

import (
	"strings"
	"testing"
)

func TestCheckPortable(t *testing.T) {
	t.Parallel()
	portable := &Request{ExtensionsDialect: "anthropic"}
	if err := portable.CheckPortable("openai"); err != nil {
		t.Errorf("a request with nothing native-only was refused: %v", err)
	}
	r := &Request{ExtensionsDialect: "anthropic", NativeOnly: `tools.0: tool type "web_search_20250305"`}
	if err := r.CheckPortable("anthropic"); err != nil {
		t.Errorf("refused by its own dialect: %v", err)
	}
	for _, d := range []string{"openai", "gemini", ""} {
		err := r.CheckPortable(d)
		if err == nil || err.Kind != KindInvalidRequest || !strings.Contains(err.Message, "web_search_20250305") ||
			!strings.Contains(err.Message, "anthropic-native") {
			t.Errorf("CheckPortable(%q) = %v", d, err)
		}
	}
}

func TestCollectIgnoresNativeEvents(t *testing.T) {
	t.Parallel()
	got, err := Collect(&SliceStream{Events: []Event{
		{Type: EventNative, Name: "message_start", Native: []byte(`{"type":"message_start"}`)},
		{Type: EventStart, ID: "msg_1"},
		{Type: EventNative, Name: "content_block_delta", Native: []byte(`{}`)},
		{Type: EventText, Text: "hi"},
		{Type: EventFinish, Finish: FinishStop},
	}})
	if err != nil || got.ID != "msg_1" || got.Text() != "hi" || got.Native != nil {
		t.Fatalf("Collect = %+v, %v", got, err)
	}
}
