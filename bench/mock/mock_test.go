package mock

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// The mock must satisfy the official SDK, streamed or not, so that the
// bench measures real OpenAI framing.
func TestMockSpeaksOpenAI(t *testing.T) {
	srv := httptest.NewServer(New(Config{Chunks: 5}))
	defer srv.Close()
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
	params := openai.ChatCompletionNewParams{
		Model:    "mock-model",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	}
	want := strings.Repeat(Word, 5)

	resp, err := client.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != want {
		t.Errorf("content %q, want %q", got, want)
	}
	if resp.Usage.PromptTokens != PromptTokens || resp.Usage.CompletionTokens != CompletionTokens {
		t.Errorf("usage %+v", resp.Usage)
	}

	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	st := client.Chat.Completions.NewStreaming(context.Background(), params)
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for st.Next() {
		acc.AddChunk(st.Current())
		chunks++
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	// role, 5 contents, finish, usage
	if chunks != 8 {
		t.Errorf("%d chunks, want 8", chunks)
	}
	if got := acc.Choices[0].Message.Content; got != want {
		t.Errorf("streamed content %q, want %q", got, want)
	}
	if acc.Choices[0].FinishReason != "stop" || acc.Usage.TotalTokens != PromptTokens+CompletionTokens {
		t.Errorf("finish %q, usage %+v", acc.Choices[0].FinishReason, acc.Usage)
	}
}
