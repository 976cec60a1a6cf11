package xjpgateway_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"

	_ "github.com/xiaojinpro/xjp-gateway"
)

var update = flag.Bool("update", false, "rewrite the expected JSON of the golden Caddyfile tests")

// TestCaddyfileAdapt adapts each testdata/caddyfile_adapt/*.caddyfiletest
// (a Caddyfile, a line of dashes, then the expected JSON or an expected
// error substring) as Caddy's own golden tests do. Run with -update to
// regenerate the JSON halves, then review the diff.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/caddyfile_adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			input, expected, ok := strings.Cut(string(data), "----------")
			if !ok {
				t.Fatal("missing ---------- separator")
			}
			input = strings.TrimSpace(input) + "\n"
			expected = strings.TrimSpace(expected)
			isError := strings.HasPrefix(filepath.Base(file), "err_")

			if *update && !isError {
				out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(input), nil)
				if err != nil {
					t.Fatalf("adapting: %v", err)
				}
				var pretty bytes.Buffer
				if err := json.Indent(&pretty, out, "", "\t"); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, []byte(input+"----------\n"+pretty.String()+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}

			if !isError {
				if !caddytest.CompareAdapt(t, file, input, "caddyfile", expected) {
					t.Errorf("adapted JSON differs from %s (run go test -run TestCaddyfileAdapt -update and review)", file)
				}
				return
			}
			_, _, err = caddyconfig.GetAdapter("caddyfile").Adapt([]byte(input), nil)
			if err == nil {
				t.Fatalf("expected an error containing %q, got none", expected)
			}
			if !strings.Contains(err.Error(), expected) {
				t.Fatalf("expected an error containing %q, got: %v", expected, err)
			}
		})
	}
}

// TestExamplesAdapt keeps every examples/*.Caddyfile formatted, valid and
// equal to its JSON twin, and Caddyfile.example valid.
func TestExamplesAdapt(t *testing.T) {
	files, _ := filepath.Glob("examples/*.Caddyfile")
	files = append(files, "Caddyfile.example")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			input, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(input, map[string]any{"filename": file})
			if err != nil {
				t.Fatalf("adapting: %v", err)
			}
			for _, w := range warnings {
				t.Errorf("warning: %s", w.Message)
			}
			if file == "Caddyfile.example" {
				return
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out, "", "\t"); err != nil {
				t.Fatal(err)
			}
			twin := strings.TrimSuffix(file, ".Caddyfile") + ".json"
			if *update {
				if err := os.WriteFile(twin, append(pretty.Bytes(), '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(twin)
			if err != nil {
				t.Fatalf("missing JSON twin: %v", err)
			}
			if strings.TrimSpace(string(want)) != strings.TrimSpace(pretty.String()) {
				t.Errorf("%s differs from the adapted %s (run go test -run TestExamplesAdapt -update . and review)", twin, file)
			}
		})
	}
}
