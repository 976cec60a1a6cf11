package gemini

import (
	"errors"
	"regexp"
	"strconv"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

// maxStopSequences is Gemini's limit on stopSequences.
const maxStopSequences = 5

// functionName is what Gemini accepts as a function name.
var functionName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$`)

// turn kinds: tool results are never merged with user text, because
// Gemini pairs the functionResponse parts of one content with the calls
// of the model turn before it.
const (
	turnUser = iota
	turnModel
	turnToolResults
)

// encoder builds one generateContent body.
type encoder struct {
	e   *engine
	req *unified.Request
	out generateRequest

	kinds []int // kind of each entry of out.Contents
	// names maps a tool-call id to its function name, for the
	// functionResponse that answers it.
	names map[string]string
}

// encodeRequest writes req as a generateContent body.
func (e *engine) encodeRequest(req *unified.Request) ([]byte, error) {
	if err := req.CheckPortable("gemini"); err != nil {
		return nil, err
	}
	if req.N > 1 {
		return nil, unified.InvalidParam("n", "provider %s returns one choice per request; n must be 1", e.name)
	}
	enc := &encoder{e: e, req: req, names: make(map[string]string)}
	if err := enc.messages(); err != nil {
		return nil, err
	}
	if err := enc.tools(); err != nil {
		return nil, err
	}
	if err := enc.generationConfig(); err != nil {
		return nil, err
	}
	enc.out.SafetySettings = e.safety
	return json.Marshal(&enc.out)
}

// messages fills systemInstruction and contents.
func (enc *encoder) messages() error {
	answered := answeredCalls(enc.req.Messages)
	enc.out.Contents = make([]content, 0, len(enc.req.Messages))
	for i := range enc.req.Messages {
		m := &enc.req.Messages[i]
		var (
			parts []part
			kind  int
			err   error
		)
		switch m.Role {
		case unified.RoleSystem:
			for _, p := range m.Content {
				if p.Type == unified.PartText && p.Text != "" {
					if enc.out.SystemInstruction == nil {
						enc.out.SystemInstruction = &content{}
					}
					enc.out.SystemInstruction.Parts = append(enc.out.SystemInstruction.Parts, part{Text: p.Text})
				}
			}
			continue
		case unified.RoleUser:
			kind = turnUser
			parts, err = enc.userParts(m.Content, i)
		case unified.RoleAssistant:
			kind = turnModel
			parts, err = enc.modelParts(m, i, answered)
		case unified.RoleTool:
			kind = turnToolResults
			parts, err = enc.toolResult(m, i)
		default:
			return unified.InvalidParam(messageParam(i, "role"), "provider %s does not accept the role %q", enc.e.name, m.Role)
		}
		if err != nil {
			return err
		}
		enc.add(kind, parts)
	}
	if len(enc.out.Contents) == 0 {
		return unified.InvalidParam("messages", "the conversation has no user or assistant content for provider %s", enc.e.name)
	}
	return nil
}

// add appends parts as a turn, merged into the previous turn of the same
// kind: Gemini wants one content per turn, and consecutive tool results
// (one OpenAI message per call) must share one. Empty turns are dropped.
func (enc *encoder) add(kind int, parts []part) {
	if len(parts) == 0 {
		return
	}
	if n := len(enc.out.Contents); n > 0 && enc.kinds[n-1] == kind {
		prev := &enc.out.Contents[n-1]
		if kind == turnToolResults {
			prev.Parts = mergeToolResults(prev.Parts, parts)
		} else {
			prev.Parts = append(prev.Parts, parts...)
		}
		return
	}
	role := "user"
	if kind == turnModel {
		role = "model"
	}
	enc.out.Contents = append(enc.out.Contents, content{Role: role, Parts: parts})
	enc.kinds = append(enc.kinds, kind)
}

// mergeToolResults keeps the functionResponse parts of a turn first and
// any media that came with the results after them.
func mergeToolResults(prev, next []part) []part {
	out := make([]part, 0, len(prev)+len(next))
	for _, src := range [][]part{prev, next} {
		for _, p := range src {
			if p.FunctionResponse != nil {
				out = append(out, p)
			}
		}
	}
	for _, src := range [][]part{prev, next} {
		for _, p := range src {
			if p.FunctionResponse == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// answeredCalls returns the ids of tool calls a tool message answers.
func answeredCalls(msgs []unified.Message) map[string]bool {
	ids := make(map[string]bool)
	for i := range msgs {
		if msgs[i].Role == unified.RoleTool {
			ids[msgs[i].ToolCallID] = true
		}
	}
	return ids
}

func (enc *encoder) userParts(content []unified.Part, i int) ([]part, error) {
	parts := make([]part, 0, len(content))
	for j, p := range content {
		switch p.Type {
		case unified.PartText:
			if p.Text != "" {
				parts = append(parts, part{Text: p.Text})
			}
		case unified.PartThinking, unified.PartRedactedThinking:
			// Reasoning belongs to model turns.
		default:
			mp, err := mediaPart(p)
			if err != nil {
				err.Param = messageParam(i, "content") + "[" + strconv.Itoa(j) + "]"
				return nil, err
			}
			parts = append(parts, mp)
		}
	}
	return parts, nil
}

// modelParts writes an assistant turn: its text, then its function calls
// with their thought signatures. A signature that came with reasoning (a
// thinking part) goes back on the first text part, where Gemini put it.
// Signatures Gemini did not give (see signatures) are left out.
func (enc *encoder) modelParts(m *unified.Message, i int, answered map[string]bool) ([]part, error) {
	parts := make([]part, 0, len(m.Content)+len(m.ToolCalls))
	var reasoningSig string
	for _, p := range m.Content {
		switch p.Type {
		case unified.PartText:
			if p.Text != "" {
				parts = append(parts, part{Text: p.Text})
			}
		case unified.PartThinking:
			// Only Gemini's own signatures go back: one from another
			// provider (Claude's, after a switch of model) fails
			// Gemini's check and the whole request with it.
			if reasoningSig == "" && signatures.own(p.Signature) {
				reasoningSig = p.Signature
			}
		}
	}
	if reasoningSig != "" && len(parts) > 0 {
		parts[0].ThoughtSignature = reasoningSig
		reasoningSig = ""
	}
	last := isLastTurn(enc.req.Messages, i)
	for j, tc := range m.ToolCalls {
		enc.names[tc.ID] = tc.Name
		if !answered[tc.ID] && !last {
			// A call without a result (a client that trimmed its history,
			// or moved on without answering) would make Gemini reject the
			// pairing of calls and responses.
			continue
		}
		args, err := callArguments(tc.Arguments)
		if err != nil {
			return nil, unified.InvalidParam(messageParam(i, "tool_calls")+"["+strconv.Itoa(j)+"]",
				"the arguments of tool call %q are not a JSON object", tc.ID)
		}
		sig := tc.Signature
		if !signatures.own(sig) {
			sig = ""
		}
		if sig == "" {
			sig = signatures.lookup(tc.ID, tc.Name)
		}
		if sig == "" && reasoningSig != "" {
			sig, reasoningSig = reasoningSig, ""
		}
		parts = append(parts, part{
			FunctionCall:     &functionCall{ID: tc.ID, Name: tc.Name, Args: args},
			ThoughtSignature: sig,
		})
	}
	return parts, nil
}

// isLastTurn reports whether message i ends the conversation (system
// messages aside).
func isLastTurn(msgs []unified.Message, i int) bool {
	for k := i + 1; k < len(msgs); k++ {
		if msgs[k].Role != unified.RoleSystem {
			return false
		}
	}
	return true
}

// callArguments checks that a tool call's arguments are a JSON object;
// an empty string means no arguments.
func callArguments(s string) (jsontext.Value, error) {
	v := jsontext.Value(s)
	if len(s) == 0 {
		return jsontext.Value("{}"), nil
	}
	if !v.IsValid() || v.Kind() != '{' {
		return nil, errors.New("not an object")
	}
	return v, nil
}

// toolResult writes a tool message as a functionResponse part, named after
// the call it answers, with its text as {"output": …} (or {"error": …}).
func (enc *encoder) toolResult(m *unified.Message, i int) ([]part, error) {
	name, ok := enc.names[m.ToolCallID]
	if !ok {
		return nil, unified.InvalidParam(messageParam(i, "tool_call_id"),
			"tool result %q answers no tool call of an earlier assistant message", m.ToolCallID)
	}
	key := `{"output":`
	if m.IsError {
		key = `{"error":`
	}
	resp, _ := jsontext.AppendQuote([]byte(key), unified.JoinText(m.Content))
	resp = append(resp, '}')
	parts := []part{{FunctionResponse: &functionResponse{ID: m.ToolCallID, Name: name, Response: resp}}}
	for j, p := range m.Content {
		if p.Type == unified.PartText || p.Type == unified.PartThinking || p.Type == unified.PartRedactedThinking {
			continue
		}
		mp, err := mediaPart(p)
		if err != nil {
			err.Param = messageParam(i, "content") + "[" + strconv.Itoa(j) + "]"
			return nil, err
		}
		parts = append(parts, mp)
	}
	return parts, nil
}

// tools writes the function declarations and the tool config.
func (enc *encoder) tools() error {
	req := enc.req
	if len(req.Tools) == 0 {
		return nil
	}
	decls := make([]functionDeclaration, 0, len(req.Tools))
	for i, t := range req.Tools {
		if !functionName.MatchString(t.Name) {
			return unified.InvalidParam(toolParam(i, "name"),
				"tool name %q is not valid for provider %s: it must start with a letter or _, use only letters, digits, _ . : -, and be at most 128 characters", t.Name, enc.e.name)
		}
		params, err := cachedParameters(t.Parameters)
		if err != nil {
			return unified.InvalidParam(toolParam(i, "parameters"), "the parameters schema of tool %q cannot be sent to provider %s: %v", t.Name, enc.e.name, err)
		}
		decls = append(decls, functionDeclaration{Name: t.Name, Description: t.Description, Parameters: params})
	}
	enc.out.Tools = []tool{{FunctionDeclarations: decls}}

	tc := req.ToolChoice
	if tc == nil {
		return nil
	}
	cfg := functionCallingConfig{}
	switch tc.Mode {
	case unified.ToolChoiceAuto:
		cfg.Mode = "AUTO"
	case unified.ToolChoiceNone:
		cfg.Mode = "NONE"
	case unified.ToolChoiceRequired:
		cfg.Mode = "ANY"
	case unified.ToolChoiceTool:
		found := false
		for _, t := range req.Tools {
			found = found || t.Name == tc.Name
		}
		if !found {
			return unified.InvalidParam("tool_choice", "tool_choice names %q, which is not among the tools", tc.Name)
		}
		// allowedFunctionNames is only legal with ANY.
		cfg.Mode, cfg.AllowedFunctionNames = "ANY", []string{tc.Name}
	default:
		return unified.InvalidParam("tool_choice", "unsupported tool_choice %q", tc.Mode)
	}
	enc.out.ToolConfig = &toolConfig{FunctionCallingConfig: cfg}
	return nil
}

// reducedParameters caches reduced tool schemas by their JSON text: agents
// send the same tools on every turn, and reducing a schema costs tens of
// microseconds where a lookup costs well under one.
var reducedParameters = newLRU[reduction](16<<20, 0)

type reduction struct {
	params jsontext.Value
	err    error
}

// cachedParameters is reduceParameters through the cache.
func cachedParameters(raw jsontext.Value) (jsontext.Value, error) {
	if r, ok := reducedParameters.get(string(raw)); ok {
		return r.params, r.err
	}
	params, err := reduceParameters(raw)
	reducedParameters.put(string(raw), reduction{params, err}, len(params))
	return params, err
}

// reduceParameters reduces a tool's parameter schema. A tool without
// parameters gets none: Gemini rejects an OBJECT with empty properties.
func reduceParameters(raw jsontext.Value) (jsontext.Value, error) {
	if len(raw) == 0 || raw.Kind() == 'n' {
		return nil, nil
	}
	s, err := reduceSchema(raw)
	if err != nil {
		return nil, err
	}
	if s.Type != "OBJECT" {
		return nil, errors.New("the parameters schema must describe an object")
	}
	if len(s.Properties) == 0 {
		return nil, nil
	}
	return json.Marshal(s)
}

// generationConfig writes sampling, limits, output format and thinking.
func (enc *encoder) generationConfig() error {
	req := enc.req
	gc := &generationConfig{
		Temperature:     req.Temperature,
		TopP:            req.TopP,
		TopK:            req.TopK,
		CandidateCount:  1,
		MaxOutputTokens: req.MaxTokens,
	}
	if len(req.Stop) > maxStopSequences {
		return unified.InvalidParam("stop", "provider %s accepts at most %d stop sequences", enc.e.name, maxStopSequences)
	}
	for _, s := range req.Stop {
		if s != "" {
			gc.StopSequences = append(gc.StopSequences, s)
		}
	}
	if req.Seed != nil {
		// Gemini's seed is 32 bits; keep the low bits so that a seed still
		// means the same sample every time.
		seed := int64(int32(*req.Seed))
		gc.Seed = &seed
	}
	if err := responseFormat(req.ResponseFormat, gc); err != nil {
		return err
	}
	gc.ThinkingConfig = thinking(req.Reasoning, enc.e.includeThoughts)
	enc.out.GenerationConfig = gc
	return nil
}

// thinking sets the thinking budget a client asked for (OpenAI's
// reasoning_effort by Google's own mapping, or Anthropic's budget), and
// asks for the thoughts when the client asked to think or the provider is
// configured to show them.
func thinking(r *unified.Reasoning, include bool) *thinkingConfig {
	if r == nil {
		if !include {
			return nil
		}
		return &thinkingConfig{IncludeThoughts: true}
	}
	budget := r.Budget()
	return &thinkingConfig{IncludeThoughts: include || budget > 0, ThinkingBudget: &budget}
}

// responseFormat maps OpenAI's response_format: json_object and
// json_schema ask for application/json, the latter with the schema
// reduced like tool parameters.
func responseFormat(raw jsontext.Value, gc *generationConfig) error {
	if len(raw) == 0 || raw.Kind() == 'n' {
		return nil
	}
	var rf struct {
		Type       string `json:"type"`
		JSONSchema struct {
			Schema jsontext.Value `json:"schema"`
		} `json:"json_schema"`
	}
	if err := json.Unmarshal(raw, &rf); err != nil {
		return unified.InvalidParam("response_format", "response_format must be an object with a type")
	}
	switch rf.Type {
	case "text":
	case "json_object":
		gc.ResponseMIMEType = "application/json"
	case "json_schema":
		gc.ResponseMIMEType = "application/json"
		if len(rf.JSONSchema.Schema) > 0 {
			s, err := reduceSchema(rf.JSONSchema.Schema)
			if err != nil {
				return unified.InvalidParam("response_format.json_schema.schema", "the response schema cannot be sent to Gemini: %v", err)
			}
			if gc.ResponseSchema, err = json.Marshal(s); err != nil {
				return unified.InvalidParam("response_format.json_schema.schema", "the response schema cannot be encoded: %v", err)
			}
		}
	default:
		return unified.InvalidParam("response_format.type", "unsupported response_format type %q", rf.Type)
	}
	return nil
}

func messageParam(i int, field string) string {
	return "messages[" + strconv.Itoa(i) + "]." + field
}

func toolParam(i int, field string) string {
	return "tools[" + strconv.Itoa(i) + "]." + field
}
