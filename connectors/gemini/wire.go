package gemini

import "github.com/go-json-experiment/json/jsontext"

// The JSON shapes of generateContent and streamGenerateContent, shared by
// Vertex AI and the Gemini API (which differ only in fields the gateway
// does not send). Field names are the APIs' own camelCase.

// generateRequest is the body of :generateContent and
// :streamGenerateContent.
type generateRequest struct {
	Contents          []content         `json:"contents"`
	SystemInstruction *content          `json:"systemInstruction,omitzero"`
	Tools             []tool            `json:"tools,omitzero"`
	ToolConfig        *toolConfig       `json:"toolConfig,omitzero"`
	GenerationConfig  *generationConfig `json:"generationConfig,omitzero"`
	SafetySettings    []SafetySetting   `json:"safetySettings,omitzero"`
}

// content is one turn: role "user" or "model" and its parts.
type content struct {
	Role  string `json:"role,omitzero"`
	Parts []part `json:"parts"`
}

// part holds exactly one kind of data, plus the part-level flags.
type part struct {
	Text             string            `json:"text,omitzero"`
	InlineData       *blob             `json:"inlineData,omitzero"`
	FileData         *fileData         `json:"fileData,omitzero"`
	FunctionCall     *functionCall     `json:"functionCall,omitzero"`
	FunctionResponse *functionResponse `json:"functionResponse,omitzero"`
	// Thought marks reasoning text (responses with includeThoughts).
	Thought bool `json:"thought,omitzero"`
	// ThoughtSignature is the opaque, base64 signature of the model's
	// reasoning; Gemini 3 requires it back on the function call it came
	// with.
	ThoughtSignature string `json:"thoughtSignature,omitzero"`
}

type blob struct {
	MIMEType string `json:"mimeType"`
	Data     string `json:"data"` // base64
}

type fileData struct {
	MIMEType string `json:"mimeType"`
	FileURI  string `json:"fileUri"`
}

type functionCall struct {
	// ID is set by Gemini 3 and later, which expect it back on the
	// matching functionResponse.
	ID   string         `json:"id,omitzero"`
	Name string         `json:"name"`
	Args jsontext.Value `json:"args,omitzero"` // an object
}

type functionResponse struct {
	ID       string         `json:"id,omitzero"`
	Name     string         `json:"name"`
	Response jsontext.Value `json:"response"` // an object: {"output":…} or {"error":…}
}

type tool struct {
	FunctionDeclarations []functionDeclaration `json:"functionDeclarations,omitzero"`
}

type functionDeclaration struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitzero"`
	Parameters  jsontext.Value `json:"parameters,omitzero"` // the reduced schema
}

type toolConfig struct {
	FunctionCallingConfig functionCallingConfig `json:"functionCallingConfig"`
}

type functionCallingConfig struct {
	Mode                 string   `json:"mode"` // AUTO, ANY, NONE
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitzero"`
}

type generationConfig struct {
	Temperature      *float64        `json:"temperature,omitzero"`
	TopP             *float64        `json:"topP,omitzero"`
	TopK             *int            `json:"topK,omitzero"`
	CandidateCount   int             `json:"candidateCount,omitzero"`
	MaxOutputTokens  *int            `json:"maxOutputTokens,omitzero"`
	StopSequences    []string        `json:"stopSequences,omitzero"`
	Seed             *int64          `json:"seed,omitzero"`
	ResponseMIMEType string          `json:"responseMimeType,omitzero"`
	ResponseSchema   jsontext.Value  `json:"responseSchema,omitzero"`
	ThinkingConfig   *thinkingConfig `json:"thinkingConfig,omitzero"`
}

type thinkingConfig struct {
	IncludeThoughts bool `json:"includeThoughts,omitzero"`
	// ThinkingBudget is in tokens; 0 turns thinking off where the model
	// allows it.
	ThinkingBudget *int `json:"thinkingBudget,omitzero"`
}

// SafetySetting is one entry of safetySettings: how strictly a harm
// category is blocked.
type SafetySetting struct {
	// Category is a harm category, e.g. HARM_CATEGORY_HARASSMENT,
	// HARM_CATEGORY_HATE_SPEECH, HARM_CATEGORY_SEXUALLY_EXPLICIT,
	// HARM_CATEGORY_DANGEROUS_CONTENT or HARM_CATEGORY_CIVIC_INTEGRITY.
	Category string `json:"category"`
	// Threshold is BLOCK_LOW_AND_ABOVE, BLOCK_MEDIUM_AND_ABOVE,
	// BLOCK_ONLY_HIGH, BLOCK_NONE or OFF.
	Threshold string `json:"threshold"`
	// Method is SEVERITY or PROBABILITY (Vertex AI only). Default: the
	// API's.
	Method string `json:"method,omitempty"`
}

// generateResponse is a whole answer, or one chunk of a stream.
type generateResponse struct {
	Candidates     []candidate     `json:"candidates"`
	PromptFeedback *promptFeedback `json:"promptFeedback"`
	UsageMetadata  *usageMetadata  `json:"usageMetadata"`
	ModelVersion   string          `json:"modelVersion"`
	ResponseID     string          `json:"responseId"`
	// Error is set when a stream breaks off with a Google error object.
	Error *googleError `json:"error"`
}

type candidate struct {
	Content       *content `json:"content"`
	FinishReason  string   `json:"finishReason"`
	FinishMessage string   `json:"finishMessage"`
	Index         int      `json:"index"`
}

type promptFeedback struct {
	BlockReason        string `json:"blockReason"`
	BlockReasonMessage string `json:"blockReasonMessage"`
}

type usageMetadata struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount"`
	ThoughtsTokenCount      int `json:"thoughtsTokenCount"`
	ToolUsePromptTokenCount int `json:"toolUsePromptTokenCount"`
	CachedContentTokenCount int `json:"cachedContentTokenCount"`
	TotalTokenCount         int `json:"totalTokenCount"`
}

// googleError is the google.rpc.Status error body:
// {"error":{"code","message","status","details"}}.
type googleError struct {
	Code    int            `json:"code"`
	Message string         `json:"message"`
	Status  string         `json:"status"`
	Details []errorDetails `json:"details"`
}

// errorDetails is one element of details; only the fields of ErrorInfo and
// RetryInfo are read.
type errorDetails struct {
	Type       string `json:"@type"`
	Reason     string `json:"reason"`
	RetryDelay string `json:"retryDelay"`
}
