package routing

import (
	"context"
	"strconv"
	"time"

	"github.com/xiaojinpro/xjp-gateway/resilience"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// Attempt is one call of a route.
type Attempt struct {
	Route *Route
	// Try counts the calls of this route in this request, from 1.
	Try int
	// Fallback is true when the route is not the first of the plan.
	Fallback bool
}

// Call makes one attempt with ctx. committed says the answer began to
// reach the client: the request is then over whatever err says, and err
// is the failure that ended the answer early, if any (the breaker counts
// it). Before the answer began, err is why the attempt failed.
type Call func(ctx context.Context, a Attempt) (committed bool, err error)

// Execute serves one request: it tries the routes of m.Plan in order, each
// as often as the retry policy allows, passing over routes whose breaker
// is open, until an attempt commits. It returns nil once one did, and
// otherwise the failure to report: the last attempt's, or 503 when every
// route was passed over. Nothing is tried after ctx ends.
func (m *Model) Execute(ctx context.Context, call Call) *unified.Error {
	var (
		last    *unified.Error
		started = time.Now()
		plan    = m.Plan()
	)
	for i := range plan {
		route := &plan[i]
		for try := 1; ; try++ {
			done, ok := route.Breaker.Allow()
			if !ok {
				break // open: the next route, without a call
			}
			committed, err := call(ctx, Attempt{Route: route, Try: try, Fallback: i > 0})
			failure := unified.AsError(err)
			switch {
			case ctx.Err() != nil:
				done(resilience.Abandoned)
			case committed:
				done(err)
			default:
				done(failure)
			}
			if committed {
				return nil
			}
			last = failure
			if ctx.Err() != nil || !resilience.MayFallBack(last) {
				return last
			}
			wait, again := m.Retry.Wait(try, last, time.Since(started))
			if !again {
				break
			}
			if m.Retry.Pause(ctx, wait) != nil {
				return last
			}
		}
	}
	if last == nil {
		return &unified.Error{Kind: unified.KindUnavailable, RetryAfter: soonestReopening(plan),
			Message: "every route of the model " + strconv.Quote(m.Name) + " is failing; try again shortly"}
	}
	return last
}

// soonestReopening is how long until the first open breaker of the plan
// lets a probe through: when a client may usefully try again.
func soonestReopening(plan []Route) time.Duration {
	var soonest time.Duration
	for i := range plan {
		if d := plan[i].Breaker.ReopensIn(); d > 0 && (soonest == 0 || d < soonest) {
			soonest = d
		}
	}
	return soonest
}
