package handlers

import (
	"sync"
	"time"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

// Pinger is a StreamWriter that can write a keep-alive its clients ignore
// (Anthropic's ping event, an SSE comment for OpenAI), so that proxies and
// clients do not drop a stream whose upstream is silent for a while.
type Pinger interface {
	Ping() error
}

// KeepAlive wraps sw so that a keep-alive is written whenever nothing else
// was for a whole interval (so after one to two intervals of silence). It
// returns sw itself, and a no-op stop, when interval is not positive or sw
// cannot ping.
//
// The pings come from a timer, not a goroutine of the stream's own: a
// gateway holding thousands of streams keeps no goroutine per stream for
// them. Nothing touches the response once stop has returned: call it
// before the handler returns. Writes are serialized by a mutex, which
// costs an uncontended lock per event.
func KeepAlive(sw StreamWriter, interval time.Duration) (w StreamWriter, stop func()) {
	p, ok := sw.(Pinger)
	if !ok || interval <= 0 {
		return sw, func() {}
	}
	k := &keepAlive{sw: sw, p: p, interval: interval}
	k.mu.Lock()
	k.timer = time.AfterFunc(interval, k.tick)
	k.mu.Unlock()
	return k, k.stop
}

type keepAlive struct {
	sw       StreamWriter
	p        Pinger
	interval time.Duration

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
	active  bool  // something was written since the last tick
	err     error // the client is gone
}

// tick pings unless something was written since the last tick, and
// rearms the timer.
func (k *keepAlive) tick() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped {
		return
	}
	if !k.active && k.err == nil {
		k.err = k.p.Ping()
	}
	k.active = false
	k.timer.Reset(k.interval)
}

// stop ends the pings. A tick that is writing holds the lock, so stop
// returns only after it is done, and later ticks see stopped.
func (k *keepAlive) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopped = true
	k.timer.Stop()
}

// Each write holds the lock (released by defer, so that a panicking
// writer cannot leave the pinger blocked) and fails once the client is
// gone.

func (k *keepAlive) Event(ev unified.Event) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err == nil {
		k.active = true
		k.err = k.sw.Event(ev)
	}
	return k.err
}

func (k *keepAlive) End() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err == nil {
		k.active = true
		k.err = k.sw.End()
	}
	return k.err
}

func (k *keepAlive) Fail(e *unified.Error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err == nil {
		k.active = true
		k.err = k.sw.Fail(e)
	}
	return k.err
}
