package unified

// EstimateTokens approximates the token count of text the way most
// tokenizers average on English and code: one token per four bytes,
// rounded up. It serves where no upstream count exists (the echo
// provider, token estimates for quotas and count_tokens fallbacks).
func EstimateTokens(s string) int { return (len(s) + 3) / 4 }

// EstimateInputTokens approximates the prompt size of r.
func (r *Request) EstimateInputTokens() int {
	n := 0
	for i := range r.Messages {
		m := &r.Messages[i]
		n += 4 // role and framing
		for _, p := range m.Content {
			switch p.Type {
			case PartText:
				n += EstimateTokens(p.Text)
			default:
				n += 256 // media: a typical image tile
			}
		}
		for _, tc := range m.ToolCalls {
			n += EstimateTokens(tc.Name) + EstimateTokens(tc.Arguments)
		}
	}
	for _, t := range r.Tools {
		n += EstimateTokens(t.Name) + EstimateTokens(t.Description) + EstimateTokens(string(t.Parameters))
	}
	return n
}
