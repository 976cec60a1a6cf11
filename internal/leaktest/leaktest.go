// Package leaktest is the TestMain of packages whose tests start streams,
// keep-alives or timers: it fails them when a goroutine outlives them.
package leaktest

import (
	"flag"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Main runs the package's tests under goleak. Fuzzing is left alone: a
// fuzzer's workers outlive the tests by design.
func Main(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}
