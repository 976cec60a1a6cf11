package gemini

import (
	"crypto/rand"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

// translator turns GenerateContentResponse chunks into unified events. One
// translator reads one answer: a whole response is a single chunk, a
// stream is many, and the state below spans them.
type translator struct {
	e *engine

	started   bool
	candidate bool // a candidate arrived
	finished  bool
	// calls counts the tool calls emitted so far: their indexes run 0, 1, …
	// across chunks, whatever the part positions within a chunk.
	calls int
	// signed is set once a reasoning signature was emitted; Gemini sends
	// one per turn, and later copies would be concatenated.
	signed bool

	usage     unified.Usage
	haveUsage bool
}

// chunk translates one response (or stream chunk).
func (t *translator) chunk(r *generateResponse, push func(unified.Event)) error {
	if r.Error != nil {
		return t.e.statusError(r.Error.Code, r.Error, nil)
	}
	if !t.started {
		t.started = true
		push(unified.Event{Type: unified.EventStart, ID: r.ResponseID, Name: r.ModelVersion})
	}
	if u := r.UsageMetadata; u != nil && (u.PromptTokenCount > 0 || u.TotalTokenCount > 0) {
		// Cumulative, not a delta: the last report wins. Intermediate
		// Vertex chunks carry only trafficType and are skipped.
		t.usage, t.haveUsage = usage(u), true
	}
	c := firstCandidate(r.Candidates)
	if c == nil {
		if fb := r.PromptFeedback; fb != nil && fb.BlockReason != "" && !t.finished {
			// A blocked prompt is an HTTP 200 without candidates: an empty
			// answer filtered for content, not a failure.
			t.finished = true
			push(unified.Event{Type: unified.EventFinish, Finish: unified.FinishContentFilter})
		}
		return nil
	}
	t.candidate = true
	if c.Content != nil {
		for i := range c.Content.Parts {
			t.part(&c.Content.Parts[i], push)
		}
	}
	if c.FinishReason != "" && !t.finished {
		finish, err := t.finishReason(c)
		if err != nil {
			return err
		}
		t.finished = true
		push(unified.Event{Type: unified.EventFinish, Finish: finish})
	}
	return nil
}

// part translates one part of the candidate's content.
func (t *translator) part(p *part, push func(unified.Event)) {
	switch {
	case p.FunctionCall != nil:
		fc := p.FunctionCall
		id := fc.ID
		if id == "" {
			// Gemini up to 2.5 sends no ids; clients need one to answer the
			// call, and parallel calls to one function must not collide.
			id = "call_" + rand.Text()
		}
		args := string(fc.Args)
		if args == "" {
			args = "{}"
		}
		idx := t.calls
		t.calls++
		push(unified.Event{Type: unified.EventToolCallStart, Index: idx, ID: id, Name: fc.Name, Signature: p.ThoughtSignature})
		push(unified.Event{Type: unified.EventToolCallDelta, Index: idx, Text: args})
		signatures.remember(id, fc.Name, p.ThoughtSignature)
		return
	case p.Text != "" && p.Thought:
		push(unified.Event{Type: unified.EventReasoning, Text: p.Text})
		t.sign(p.ThoughtSignature, push)
	case p.Text != "":
		// Gemini puts the signature of the thoughts before it on the
		// first answer part; it goes out before that part's text, so
		// that a client's open reasoning block (Anthropic's thinking
		// block, closed by the text) receives it.
		t.sign(p.ThoughtSignature, push)
		push(unified.Event{Type: unified.EventText, Text: p.Text})
	default:
		// A signature on an otherwise empty part.
		t.sign(p.ThoughtSignature, push)
	}
}

// sign emits the turn's reasoning signature, once: Gemini sends one per
// turn, and later copies would be concatenated.
func (t *translator) sign(sig string, push func(unified.Event)) {
	if sig == "" || t.signed {
		return
	}
	t.signed = true
	signatures.produced(sig)
	push(unified.Event{Type: unified.EventReasoningSignature, Text: sig})
}

// finishReason maps Gemini's finishReason. A turn that called functions
// ends with STOP, possibly in a later chunk than the calls; it finishes
// with tool_calls.
func (t *translator) finishReason(c *candidate) (unified.FinishReason, error) {
	switch c.FinishReason {
	case "MAX_TOKENS":
		return unified.FinishLength, nil
	case "SAFETY", "RECITATION", "LANGUAGE", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
		"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return unified.FinishContentFilter, nil
	case "MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS":
		// The model failed to produce a usable call; another attempt may
		// succeed, an empty "stop" answer would mislead the client.
		msg := "provider " + t.e.name + " ended the answer with " + c.FinishReason
		if c.FinishMessage != "" {
			msg += ": " + t.e.scrubbed(c.FinishMessage)
		}
		return "", &unified.Error{Kind: unified.KindUpstream, Retryable: true, Message: msg}
	}
	// STOP, OTHER, FINISH_REASON_UNSPECIFIED and reasons added later.
	if t.calls > 0 {
		return unified.FinishToolCalls, nil
	}
	return unified.FinishStop, nil
}

// end closes the answer: usage, once, after the finish. A whole response
// whose candidate lacks a finishReason is taken as stopped; a stream
// without one broke off.
func (t *translator) end(push func(unified.Event), whole bool) error {
	if !t.finished {
		switch {
		case whole && !t.candidate:
			return unified.Errorf(unified.KindUpstream, "provider %s answered without candidates", t.e.name)
		case !whole:
			return &unified.Error{Kind: unified.KindUpstream, Retryable: !t.started,
				Message: "the answer of provider " + t.e.name + " ended before it was complete"}
		}
		t.finished = true
		finish := unified.FinishStop
		if t.calls > 0 {
			finish = unified.FinishToolCalls
		}
		push(unified.Event{Type: unified.EventFinish, Finish: finish})
	}
	if t.haveUsage {
		push(unified.Event{Type: unified.EventUsage, Usage: t.usage})
	}
	return nil
}

// firstCandidate returns candidate 0 (its index may be omitted).
func firstCandidate(cs []candidate) *candidate {
	for i := range cs {
		if cs[i].Index == 0 {
			return &cs[i]
		}
	}
	return nil
}

// usage maps usageMetadata: output counts the thinking tokens Gemini
// reports apart, input the tool-use prompt tokens, so that input + output
// is Gemini's total.
func usage(u *usageMetadata) unified.Usage {
	return unified.Usage{
		InputTokens:     u.PromptTokenCount + u.ToolUsePromptTokenCount,
		OutputTokens:    u.CandidatesTokenCount + u.ThoughtsTokenCount,
		CachedInput:     u.CachedContentTokenCount,
		ReasoningTokens: u.ThoughtsTokenCount,
	}
}
