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
	cut := make(chan bool, clients)
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
	for c := range cut {
		if !c {
			t.Error("a 10s stream completed although the grace period was 500ms")
		}
	}
	if n := admin.count("SELECT count(*) FROM usage_logs"); n != clients {
		t.Fatalf("%d usage rows after the shutdown, want one for each of the %d cut streams", n, clients)
	}
}

// streamCut streams a long echo and reports whether it was cut short.
func streamCut(port int, key string, i int, started *sync.WaitGroup) bool {
	body := fmt.Sprintf(`{"model":"echo-1","stream":true,"messages":[{"role":"user","content":"%d %s"}]}`, i, strings.Repeat("word ", 100))
	req, _ := http.NewRequest(http.MethodPost, gatewayURL(port)+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		started.Done()
		return true
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	first, last := true, ""
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "data: ") {
			continue
		}
		if first {
			first = false
			started.Done()
		}
		last = sc.Text()
	}
	if first {
		started.Done()
	}
	return last != "data: [DONE]"
}
