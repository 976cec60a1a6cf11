package connectors

import "github.com/xiaojinpro/xjp-gateway/unified"

// Queue holds the unified events that upstream events turned into (one
// upstream event may make none or several), for a stream's Next to hand
// out one at a time. Its storage is reused once drained.
type Queue struct {
	events []unified.Event
	next   int
}

// Push adds ev at the end.
func (q *Queue) Push(ev unified.Event) { q.events = append(q.events, ev) }

// Pop takes the first event, if there is one.
func (q *Queue) Pop() (unified.Event, bool) {
	if q.next < len(q.events) {
		q.next++
		return q.events[q.next-1], true
	}
	q.events, q.next = q.events[:0], 0
	return unified.Event{}, false
}

// Len is the number of events waiting.
func (q *Queue) Len() int { return len(q.events) - q.next }
