package xjpgateway

import (
	"testing"

	"github.com/xiaojinpro/xjp-gateway/internal/leaktest"
)

// TestMain fails the package's tests when a goroutine outlives them
// (streams, keep-alives, timers).
func TestMain(m *testing.M) { leaktest.Main(m) }
