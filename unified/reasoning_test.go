package unified

import "testing"

func TestReasoningMapping(t *testing.T) {
	tests := []struct {
		r      Reasoning
		budget int
		level  string
	}{
		{Reasoning{Effort: "none"}, 0, "none"},
		{Reasoning{Effort: "minimal"}, 1024, "minimal"},
		{Reasoning{Effort: "low"}, 1024, "low"},
		{Reasoning{Effort: "medium"}, 8192, "medium"},
		{Reasoning{Effort: "high"}, 24576, "high"},
		{Reasoning{Effort: "something-new"}, 8192, "something-new"},
		{Reasoning{BudgetTokens: 1024}, 1024, "low"},
		{Reasoning{BudgetTokens: 1025}, 1025, "medium"},
		{Reasoning{BudgetTokens: 8192}, 8192, "medium"},
		{Reasoning{BudgetTokens: 32000}, 32000, "high"},
	}
	for _, tt := range tests {
		if got := tt.r.Budget(); got != tt.budget {
			t.Errorf("%+v: budget %d, want %d", tt.r, got, tt.budget)
		}
		if got := tt.r.Level(); got != tt.level {
			t.Errorf("%+v: level %q, want %q", tt.r, got, tt.level)
		}
	}
}
