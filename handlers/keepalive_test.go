package handlers

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

// fakeWriter records writes; its pings are reported on a channel.
type fakeWriter struct {
	mu      sync.Mutex
	events  int
	writing bool // set during a write, to catch concurrent writes
	pings   chan struct{}
	pingErr error
	t       *testing.T
}

func (f *fakeWriter) enter() {
	f.mu.Lock()
	if f.writing {
		f.t.Error("concurrent writes to the stream")
	}
	f.writing = true
	f.mu.Unlock()
}

func (f *fakeWriter) leave() {
	f.mu.Lock()
	f.writing = false
	f.mu.Unlock()
}

func (f *fakeWriter) Event(unified.Event) error {
	f.enter()
	defer f.leave()
	f.events++
	return nil
}
func (f *fakeWriter) End() error                { return nil }
func (f *fakeWriter) Fail(*unified.Error) error { return nil }
func (f *fakeWriter) Ping() error {
	f.enter()
	defer f.leave()
	select {
	case f.pings <- struct{}{}:
	default:
	}
	return f.pingErr
}

type plainWriter struct{ StreamWriter }

func TestKeepAlivePingsASilentStream(t *testing.T) {
	t.Parallel()
	f := &fakeWriter{pings: make(chan struct{}, 1), t: t}
	w, stop := KeepAlive(f, time.Millisecond)
	defer stop()
	if err := w.Event(unified.Event{Type: unified.EventText, Text: "x"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.pings:
	case <-time.After(10 * time.Second):
		t.Fatal("no ping while the stream was silent")
	}
	// Events and pings never overlap (the race detector and the fake
	// check it) while both run.
	for range 200 {
		if err := w.Event(unified.Event{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.End(); err != nil {
		t.Fatal(err)
	}
	stop()
	stop() // idempotent
}

func TestKeepAliveReportsAGoneClient(t *testing.T) {
	t.Parallel()
	gone := errors.New("client gone")
	f := &fakeWriter{pings: make(chan struct{}, 1), pingErr: gone, t: t}
	w, stop := KeepAlive(f, time.Millisecond)
	defer stop()
	select {
	case <-f.pings:
	case <-time.After(10 * time.Second):
		t.Fatal("no ping")
	}
	stop() // the failed ping has been recorded once the pinger has stopped
	if err := w.Event(unified.Event{}); !errors.Is(err, gone) {
		t.Fatalf("Event after a failed ping = %v", err)
	}
	if err := w.Fail(&unified.Error{}); !errors.Is(err, gone) {
		t.Fatalf("Fail after a failed ping = %v", err)
	}
	if f.events != 0 {
		t.Errorf("%d events written to a gone client", f.events)
	}
}

func TestKeepAliveOff(t *testing.T) {
	t.Parallel()
	f := &fakeWriter{pings: make(chan struct{}, 1), t: t}
	if w, stop := KeepAlive(f, 0); w != StreamWriter(f) {
		t.Error("interval 0 should leave the writer alone")
	} else {
		stop()
	}
	p := plainWriter{f}
	if w, stop := KeepAlive(p, time.Second); w != StreamWriter(p) {
		t.Error("a writer that cannot ping should be left alone")
	} else {
		stop()
	}
}

// stoppedWriter fails the test if it is pinged once its stream ended.
type stoppedWriter struct {
	fakeWriter
	mu    sync.Mutex
	ended bool
}

func (s *stoppedWriter) Ping() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		s.t.Error("a ping after stop returned")
	}
	return nil
}

func TestKeepAliveNothingAfterStop(t *testing.T) {
	for range 50 {
		sw := &stoppedWriter{fakeWriter: fakeWriter{t: t}}
		_, stop := KeepAlive(sw, 50*time.Microsecond)
		time.Sleep(200 * time.Microsecond) // some ticks
		stop()
		sw.mu.Lock()
		sw.ended = true
		sw.mu.Unlock()
		time.Sleep(200 * time.Microsecond) // ticks that would come after
	}
}
