package unified

// Reasoning asks the model to think before it answers. OpenAI clients ask
// with a level (reasoning_effort), Anthropic clients with a token budget
// (thinking.budget_tokens); each connector speaks its provider's form and
// converts the other with the mapping below, Google's documented one for
// reasoning_effort on Gemini.
type Reasoning struct {
	// Effort is OpenAI's reasoning_effort: none, minimal, low, medium or
	// high (providers add others); empty when the client gave a budget.
	Effort string
	// BudgetTokens is Anthropic's budget_tokens; 0 when the client gave
	// an effort.
	BudgetTokens int
}

// Token budgets of the effort levels (Google's mapping of reasoning_effort
// for Gemini; Anthropic's smallest budget is 1024).
const (
	BudgetLow    = 1024
	BudgetMedium = 8192
	BudgetHigh   = 24576
)

// Budget is the token budget the request asks for: its own, or its
// effort's. 0 means no reasoning (effort none).
func (r *Reasoning) Budget() int {
	if r.BudgetTokens > 0 {
		return r.BudgetTokens
	}
	switch r.Effort {
	case "none":
		return 0
	case "minimal", "low":
		return BudgetLow
	case "high", "xhigh":
		return BudgetHigh
	default:
		return BudgetMedium
	}
}

// Level is the effort the request asks for: its own, or the level whose
// budget is nearest above its budget.
func (r *Reasoning) Level() string {
	if r.Effort != "" {
		return r.Effort
	}
	switch b := r.BudgetTokens; {
	case b <= BudgetLow:
		return "low"
	case b <= BudgetMedium:
		return "medium"
	default:
		return "high"
	}
}
