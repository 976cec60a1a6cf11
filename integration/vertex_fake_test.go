package integration

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// fakeVertex checks generateContent requests as strictly as Vertex AI and
// the Gemini API do: unknown fields anywhere, roles, empty parts and text,
// the pairing of function calls and responses, schema keywords and
// types, Gemini 3's thought signatures, and the URL, query and
// credentials. A request that breaks a rule gets Google's 400
// INVALID_ARGUMENT body, which fails the test that sent it; a good one is
// decoded and handed to the test's answer.
type fakeVertex struct {
	// token is the OAuth access token expected as Bearer; key the API
	// key expected in x-goog-api-key. One of them is set.
	token, key string
	answer     func(w http.ResponseWriter, r *http.Request, call *vertexCall)
}

// vertexCall is a checked request.
type vertexCall struct {
	Model  string
	Stream bool
	Body   *gRequest
}

var vertexPath = regexp.MustCompile(`^/(v1|v1beta1|v1beta)/(?:projects/[a-z0-9-]+/locations/[a-z0-9-]+/)?(?:publishers/google/)?models/([A-Za-z0-9._-]+):(generateContent|streamGenerateContent)$`)

func (f *fakeVertex) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := vertexPath.FindStringSubmatch(r.URL.Path)
	if r.Method != http.MethodPost || m == nil {
		googleError(w, http.StatusNotFound, "NOT_FOUND", "fake vertex: no such method "+r.Method+" "+r.URL.Path)
		return
	}
	call := &vertexCall{Model: m[2], Stream: m[3] == "streamGenerateContent"}
	if call.Stream && r.URL.Query().Get("alt") != "sse" {
		// Vertex would answer with one JSON array, which SSE readers cannot parse.
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "fake vertex: streamGenerateContent without alt=sse")
		return
	}
	switch {
	case f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token,
		f.key != "" && r.Header.Get("X-Goog-Api-Key") != f.key:
		googleError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "fake vertex: Content-Type "+ct)
		return
	}
	raw, _ := io.ReadAll(r.Body)
	body := new(gRequest)
	if err := json.Unmarshal(raw, body, json.RejectUnknownMembers(true)); err != nil {
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", payloadError(err))
		return
	}
	if err := body.check(call.Model); err != nil {
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", err.Error())
		return
	}
	call.Body = body
	f.answer(w, r, call)
}

// payloadError words a decoding failure as Google does.
func payloadError(err error) string {
	var se *json.SemanticError
	if errors.As(err, &se) && se.JSONPointer != "" {
		ptr := string(se.JSONPointer)
		i := strings.LastIndexByte(ptr, '/')
		at := strings.ReplaceAll(strings.TrimPrefix(ptr[:i], "/"), "/", ".")
		if strings.Contains(err.Error(), "unknown object member") {
			return fmt.Sprintf("Invalid JSON payload received. Unknown name %q at '%s': Cannot find field.", ptr[i+1:], at)
		}
		return fmt.Sprintf("Invalid value at '%s' (%s)", strings.ReplaceAll(strings.TrimPrefix(ptr, "/"), "/", "."), err)
	}
	return "Invalid JSON payload received. " + err.Error()
}

func googleError(w http.ResponseWriter, code int, status, message string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code, "message": message, "status": status}}, jsontext.Multiline(true))
	_, _ = w.Write(b)
}

// The request shapes of generateContent, as the API defines them; any
// other member is an unknown field.
type (
	gRequest struct {
		Contents          []gContent         `json:"contents"`
		SystemInstruction *gContent          `json:"systemInstruction"`
		Tools             []gTool            `json:"tools"`
		ToolConfig        *gToolConfig       `json:"toolConfig"`
		GenerationConfig  *gGenerationConfig `json:"generationConfig"`
		SafetySettings    []gSafetySetting   `json:"safetySettings"`
		Labels            map[string]string  `json:"labels"`
		CachedContent     string             `json:"cachedContent"`
	}
	gContent struct {
		Role  string  `json:"role"`
		Parts []gPart `json:"parts"`
	}
	gPart struct {
		Text             *string            `json:"text"`
		InlineData       *gBlob             `json:"inlineData"`
		FileData         *gFileData         `json:"fileData"`
		FunctionCall     *gFunctionCall     `json:"functionCall"`
		FunctionResponse *gFunctionResponse `json:"functionResponse"`
		Thought          bool               `json:"thought"`
		ThoughtSignature []byte             `json:"thoughtSignature"` // bytes: must be base64
		VideoMetadata    map[string]any     `json:"videoMetadata"`
	}
	gBlob struct {
		MimeType string `json:"mimeType"`
		Data     []byte `json:"data"`
	}
	gFileData struct {
		MimeType string `json:"mimeType"`
		FileURI  string `json:"fileUri"`
	}
	gFunctionCall struct {
		ID   string         `json:"id"`
		Name string         `json:"name"`
		Args map[string]any `json:"args"`
	}
	gFunctionResponse struct {
		ID       string         `json:"id"`
		Name     string         `json:"name"`
		Response map[string]any `json:"response"`
	}
	gTool struct {
		FunctionDeclarations []gFunctionDeclaration `json:"functionDeclarations"`
		GoogleSearch         *struct{}              `json:"googleSearch"`
		CodeExecution        *struct{}              `json:"codeExecution"`
	}
	gFunctionDeclaration struct {
		Name                 string   `json:"name"`
		Description          string   `json:"description"`
		Parameters           *gSchema `json:"parameters"`
		ParametersJSONSchema any      `json:"parametersJsonSchema"`
		Response             *gSchema `json:"response"`
	}
	// gSchema is the API's Schema: exactly these keywords.
	gSchema struct {
		Type             string              `json:"type"`
		Format           string              `json:"format"`
		Title            string              `json:"title"`
		Description      string              `json:"description"`
		Nullable         bool                `json:"nullable"`
		Enum             []string            `json:"enum"` // strings only
		Items            *gSchema            `json:"items"`
		MinItems         *int64              `json:"minItems"`
		MaxItems         *int64              `json:"maxItems"`
		Properties       map[string]*gSchema `json:"properties"`
		PropertyOrdering []string            `json:"propertyOrdering"`
		Required         []string            `json:"required"`
		MinProperties    *int64              `json:"minProperties"`
		MaxProperties    *int64              `json:"maxProperties"`
		MinLength        *int64              `json:"minLength"`
		MaxLength        *int64              `json:"maxLength"`
		Pattern          string              `json:"pattern"`
		Example          any                 `json:"example"`
		AnyOf            []*gSchema          `json:"anyOf"`
		Default          any                 `json:"default"`
		Minimum          *float64            `json:"minimum"`
		Maximum          *float64            `json:"maximum"`
	}
	gToolConfig struct {
		FunctionCallingConfig *struct {
			Mode                 string   `json:"mode"`
			AllowedFunctionNames []string `json:"allowedFunctionNames"`
		} `json:"functionCallingConfig"`
	}
	gGenerationConfig struct {
		Temperature        *float64 `json:"temperature"`
		TopP               *float64 `json:"topP"`
		TopK               *float64 `json:"topK"`
		CandidateCount     *int     `json:"candidateCount"`
		MaxOutputTokens    *int     `json:"maxOutputTokens"`
		StopSequences      []string `json:"stopSequences"`
		Seed               *int32   `json:"seed"`
		PresencePenalty    *float64 `json:"presencePenalty"`
		FrequencyPenalty   *float64 `json:"frequencyPenalty"`
		ResponseMimeType   string   `json:"responseMimeType"`
		ResponseSchema     *gSchema `json:"responseSchema"`
		ResponseJSONSchema any      `json:"responseJsonSchema"`
		ThinkingConfig     *struct {
			IncludeThoughts bool   `json:"includeThoughts"`
			ThinkingBudget  *int   `json:"thinkingBudget"`
			ThinkingLevel   string `json:"thinkingLevel"`
		} `json:"thinkingConfig"`
	}
	gSafetySetting struct {
		Category  string `json:"category"`
		Threshold string `json:"threshold"`
		Method    string `json:"method"`
	}
)

var (
	functionNameRule = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$`)
	schemaTypes      = map[string]bool{"STRING": true, "NUMBER": true, "INTEGER": true, "BOOLEAN": true, "ARRAY": true, "OBJECT": true, "NULL": true}
	safetyThresholds = map[string]bool{"BLOCK_LOW_AND_ABOVE": true, "BLOCK_MEDIUM_AND_ABOVE": true, "BLOCK_ONLY_HIGH": true, "BLOCK_NONE": true, "OFF": true}
)

// check applies the API's semantic rules.
func (q *gRequest) check(model string) error {
	if len(q.Contents) == 0 {
		return errors.New("* GenerateContentRequest.contents: contents is not specified")
	}
	if si := q.SystemInstruction; si != nil {
		for i, p := range si.Parts {
			if p.Text == nil || *p.Text == "" {
				return fmt.Errorf("* GenerateContentRequest.system_instruction.parts[%d]: only non-empty text is allowed", i)
			}
		}
	}
	for i, c := range q.Contents {
		if c.Role != "user" && c.Role != "model" {
			return fmt.Errorf("Please use a valid role: user, model. (contents[%d].role %q)", i, c.Role)
		}
		if len(c.Parts) == 0 {
			return fmt.Errorf("* GenerateContentRequest.contents[%d].parts: contents.parts must not be empty.", i)
		}
		for j, p := range c.Parts {
			if err := p.check(c.Role); err != nil {
				return fmt.Errorf("* GenerateContentRequest.contents[%d].parts[%d]: %v", i, j, err)
			}
		}
		if err := q.checkPairing(i, model); err != nil {
			return err
		}
	}
	for i, t := range q.Tools {
		for j, d := range t.FunctionDeclarations {
			at := fmt.Sprintf("GenerateContentRequest.tools[%d].function_declarations[%d]", i, j)
			if !functionNameRule.MatchString(d.Name) {
				return fmt.Errorf("* %s.name: Invalid function name.", at)
			}
			if d.Parameters != nil {
				if d.Parameters.Type != "OBJECT" && d.Parameters.Type != "object" {
					return fmt.Errorf("* %s.parameters.type: parameters schema should be of type OBJECT", at)
				}
				if err := d.Parameters.check(at + ".parameters"); err != nil {
					return err
				}
			}
		}
	}
	if tc := q.ToolConfig; tc != nil && tc.FunctionCallingConfig != nil {
		fc := tc.FunctionCallingConfig
		if !slices.Contains([]string{"AUTO", "ANY", "NONE", "VALIDATED"}, fc.Mode) {
			return fmt.Errorf("Invalid value at 'tool_config.function_calling_config.mode' (%q)", fc.Mode)
		}
		if len(fc.AllowedFunctionNames) > 0 && fc.Mode != "ANY" {
			return errors.New("* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: allowed_function_names should only be specified for ANY mode.")
		}
	}
	if gc := q.GenerationConfig; gc != nil {
		if len(gc.StopSequences) > 5 {
			return errors.New("* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences")
		}
		if gc.Temperature != nil && (*gc.Temperature < 0 || *gc.Temperature > 2) {
			return errors.New("* GenerateContentRequest.generation_config.temperature: must be in [0, 2]")
		}
		if gc.CandidateCount != nil && *gc.CandidateCount != 1 && strings.HasPrefix(model, "gemini-3") {
			return errors.New("* GenerateContentRequest.generation_config.candidate_count: only 1 candidate is supported")
		}
		if gc.ResponseSchema != nil {
			if err := gc.ResponseSchema.check("GenerateContentRequest.generation_config.response_schema"); err != nil {
				return err
			}
		}
	}
	for i, s := range q.SafetySettings {
		if !strings.HasPrefix(s.Category, "HARM_CATEGORY_") || !safetyThresholds[s.Threshold] {
			return fmt.Errorf("Invalid value at 'safety_settings[%d]'", i)
		}
	}
	return nil
}

func (p *gPart) check(role string) error {
	n := 0
	for _, set := range []bool{p.Text != nil, p.InlineData != nil, p.FileData != nil, p.FunctionCall != nil, p.FunctionResponse != nil} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return errors.New("Unable to submit request because it must include at least one parts field, which describes the prompt input.")
	case n > 1:
		return errors.New("a part must hold exactly one of text, inline_data, file_data, function_call, function_response")
	case p.Text != nil && *p.Text == "":
		return errors.New("Unable to submit request because it has an empty text parameter. Add a value to the parameter and try again.")
	case p.InlineData != nil && (p.InlineData.MimeType == "" || len(p.InlineData.Data) == 0):
		return errors.New("inline_data needs mime_type and data")
	case p.FileData != nil && (p.FileData.MimeType == "" || p.FileData.FileURI == ""):
		return errors.New("file_data needs mime_type and file_uri")
	case p.FunctionCall != nil && role != "model":
		return errors.New("function_call is only allowed in model turns")
	case p.FunctionCall != nil && (p.FunctionCall.Name == "" || p.FunctionCall.Args == nil):
		return errors.New("function_call needs name and args")
	case p.FunctionResponse != nil && role != "user":
		return errors.New("function_response is only allowed in user turns")
	case p.FunctionResponse != nil && (p.FunctionResponse.Name == "" || p.FunctionResponse.Response == nil):
		return errors.New("function_response needs name and response")
	}
	return nil
}

// checkPairing enforces Gemini's function-calling turn rules around
// contents[i].
func (q *gRequest) checkPairing(i int, model string) error {
	c := q.Contents[i]
	var calls []*gFunctionCall
	var firstCall *gPart
	for j := range c.Parts {
		if fc := c.Parts[j].FunctionCall; fc != nil {
			calls = append(calls, fc)
			if firstCall == nil {
				firstCall = &c.Parts[j]
			}
		}
	}
	if len(calls) == 0 {
		return nil
	}
	if i == 0 || q.Contents[i-1].Role != "user" {
		return errors.New("Please ensure that function call turn comes immediately after a user turn or after a function response turn.")
	}
	if strings.HasPrefix(model, "gemini-3") && len(firstCall.ThoughtSignature) == 0 {
		return fmt.Errorf("Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:%s` , position %d. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.", calls[0].Name, i+1)
	}
	if i+1 == len(q.Contents) {
		return nil // the model's call ends the conversation
	}
	next := q.Contents[i+1]
	var responses []*gFunctionResponse
	for j := range next.Parts {
		if fr := next.Parts[j].FunctionResponse; fr != nil {
			responses = append(responses, fr)
		}
	}
	if next.Role != "user" || len(responses) != len(calls) {
		return errors.New("Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.")
	}
	for k, fc := range calls {
		fr := responses[k]
		if fr.Name != fc.Name || fr.ID != fc.ID {
			return fmt.Errorf("function response %d (%s, id %q) does not match function call %d (%s, id %q)", k, fr.Name, fr.ID, k, fc.Name, fc.ID)
		}
	}
	return nil
}

// check applies the Schema rules Gemini enforces.
func (s *gSchema) check(at string) error {
	if s.Type == "" && len(s.AnyOf) == 0 {
		return fmt.Errorf("* %s.type: must be specified when not using one_of, any_of or all_of fields", at)
	}
	t := strings.ToUpper(s.Type)
	if s.Type != "" && !schemaTypes[t] {
		return fmt.Errorf("Invalid value at '%s.type' (type.googleapis.com/google.cloud.aiplatform.v1.Type), %q", at, s.Type)
	}
	if s.Properties != nil && len(s.Properties) == 0 && t == "OBJECT" {
		return fmt.Errorf("* %s.properties: should be non-empty for OBJECT type", at)
	}
	if t == "ARRAY" && s.Items == nil {
		return fmt.Errorf("* %s.items: missing field.", at)
	}
	if len(s.Enum) > 0 && t != "STRING" {
		return fmt.Errorf("* %s.enum: only allowed for STRING type", at)
	}
	if s.Format != "" {
		allowed := map[string][]string{"STRING": {"enum", "date-time"}, "NUMBER": {"float", "double"}, "INTEGER": {"int32", "int64"}}[t]
		if !slices.Contains(allowed, s.Format) {
			return fmt.Errorf("* %s.format: only %v are supported for %s type", at, allowed, t)
		}
	}
	for _, r := range s.Required {
		if _, ok := s.Properties[r]; !ok {
			return fmt.Errorf("* %s.required[%s]: property is not defined", at, r)
		}
	}
	if s.Pattern != "" {
		if _, err := regexp.Compile(s.Pattern); err != nil {
			return fmt.Errorf("* %s.pattern: invalid regular expression", at)
		}
	}
	for name, p := range s.Properties {
		if err := p.check(at + ".properties[" + name + "]"); err != nil {
			return err
		}
	}
	if s.Items != nil {
		if err := s.Items.check(at + ".items"); err != nil {
			return err
		}
	}
	for i, a := range s.AnyOf {
		if err := a.check(fmt.Sprintf("%s.any_of[%d]", at, i)); err != nil {
			return err
		}
	}
	return nil
}

// sseBody frames chunks as Vertex's alt=sse stream: data lines, blank
// line separators (sep is "\n\n" or "\r\n\r\n"), no [DONE].
func sseBody(sep string, chunks ...string) []byte {
	var b strings.Builder
	for _, c := range chunks {
		b.WriteString("data: " + c + sep)
	}
	return []byte(b.String())
}

// serveVertexSSE streams a body chunk by chunk, flushing each event.
func serveVertexSSE(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	for _, ev := range splitEvents(body) {
		_, _ = w.Write(ev)
		w.(http.Flusher).Flush()
	}
}

// splitEvents cuts an SSE body after each blank line, keeping its bytes.
func splitEvents(body []byte) [][]byte {
	var out [][]byte
	for len(body) > 0 {
		i, n := len(body), 0
		for _, sep := range []string{"\r\n\r\n", "\n\n"} {
			if k := strings.Index(string(body), sep); k >= 0 && k < i {
				i, n = k, len(sep)
			}
		}
		end := min(i+n, len(body))
		out = append(out, body[:end])
		body = body[end:]
	}
	return out
}
