package integration

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xiaojinpro/xjp-gateway/auth/postgres"
	"github.com/xiaojinpro/xjp-gateway/internal/pgtest"
)

// Streams that outlast the grace period are cut when it ends, the process
// exits, and each of them still leaves its usage row: the ledger is
// flushed after the last handler returned, not before.
func TestShutdownCutsStreamsAtTheGracePeriod(t *testing.T) {
	dsn := pgtest.Migrated(t)
	admin := newKeyAdmin(t, dsn)
	k := admin.create(postgres.KeySpec{})

	// Each stream would take 100 × 100ms; the grace period is 500ms.
	port, gw, exited := startGatewayProcess(t, dsn, "500ms", "100ms")

	const clients = 5
	var started, done sync.WaitGroup
	started.Add(clients)
	cut := make(chan error, clients)
	for i := range clients {
		done.Go(func() { cut <- streamCut(port, k.Secret, i, &started) })
	}
	started.Wait()
	if err := gw.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the gateway exited with %v", err)
		}
	case <-time.After(30 * time.Second): // a hang guard; the grace period is 500ms
		t.Fatal("the gateway did not exit after its grace period")
	}
	done.Wait()
	close(cut)
	for err := range cut {
		if err != nil {
			t.Error(err)
		}
	}
	// Each row charges what its stream produced before the cut.
	if n := admin.count("SELECT count(*) FROM usage_logs WHERE completion_tokens > 0"); n != clients {
		t.Fatalf("%d usage rows after the shutdown, want one for each of the %d cut streams", n, clients)
	}
}

// streamCut streams a long echo and reports why it was not cut short
// after it began: nil when it began (200, events) and ended without [DONE].
func streamCut(port int, key string, i int, started *sync.WaitGroup) error {
	body := fmt.Sprintf(`{"model":"echo-1","stream":true,"messages":[{"role":"user","content":"%d %s"}]}`, i, strings.Repeat("word ", 100))
	req, _ := http.NewRequest(http.MethodPost, gatewayURL(port)+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	var once sync.Once
	begun := func() { once.Do(started.Done) }
	defer begun()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("stream %d never began: %w", i, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("stream %d: status %d", i, resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	events, last := 0, ""
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			events++
			begun()
			last = sc.Text()
		}
	}
	switch {
	case events == 0:
		return fmt.Errorf("stream %d sent no event", i)
	case last == "data: [DONE]":
		return fmt.Errorf("stream %d (10s long) completed although the grace period was 500ms", i)
	}
	return nil
}
