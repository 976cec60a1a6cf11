package connectors

import (
	"io"

	"github.com/xiaojinpro/xjp-gateway/connectors/sse"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// Stepper is a connector's stream: Step reads one upstream event and
// pushes what it means onto the stream's Relay (none, one or several
// unified events), or ends the relay.
type Stepper interface {
	Step() error
}

// Relay is the part every SSE-reading stream shares: the body's events,
// the unified events they turned into, handed out one at a time, and how
// the stream ended. A stream holds one and implements Stepper.
type Relay struct {
	SSE *sse.Reader // the upstream body

	events []unified.Event
	next   int
	err    error // what ended the stream, returned once the queue drains
	done   bool  // the answer is complete: io.EOF once the queue drains
}

// Push queues ev.
func (r *Relay) Push(ev unified.Event) { r.events = append(r.events, ev) }

// Finish says the answer is complete. What the body still holds is read
// once the queue drains (in Next, never in Pending), so that the
// connection can be reused without a complete answer waiting on it.
func (r *Relay) Finish() { r.done = true }

func (r *Relay) pop() (unified.Event, bool) {
	if r.next < len(r.events) {
		r.next++
		return r.events[r.next-1], true
	}
	r.events, r.next = r.events[:0], 0 // drained: reuse the storage
	return unified.Event{}, false
}

// Next implements unified.Stream for s: the queued events, stepping the
// upstream whenever the queue is empty, until a step fails or the answer
// is complete.
func (r *Relay) Next(s Stepper) (unified.Event, error) {
	for {
		if ev, ok := r.pop(); ok {
			return ev, nil
		}
		if r.err != nil {
			return unified.Event{}, r.err
		}
		if r.done {
			r.drain()
			return unified.Event{}, io.EOF
		}
		r.err = s.Step()
	}
}

// drain reads what is left of a complete answer's body; a well-behaved
// server has sent nothing more.
func (r *Relay) drain() {
	for range 4 {
		if _, err := r.SSE.Next(); err != nil {
			return
		}
	}
}

// Pending implements unified.Pender for s: while the queue is empty and
// the body holds a whole upstream event, it steps, so that an event that
// decodes to nothing (a ping, an empty delta) is not taken for one the
// client will get. It never waits on the network.
func (r *Relay) Pending(s Stepper) bool {
	for r.next == len(r.events) && r.err == nil && !r.done && r.SSE.Buffered() {
		r.err = s.Step()
	}
	return r.next < len(r.events)
}
