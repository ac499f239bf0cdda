package idempotency_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStandardLibraryOnly holds the rule that the core knows no adapter:
// idempotency and idempotencytest import the standard library only (Redis
// lives in redisstore).
func TestStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".", "./idempotencytest").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		switch dep {
		case "github.com/hookgate/hookgate/idempotency", "github.com/hookgate/hookgate/idempotency/idempotencytest":
		default:
			t.Errorf("imports %s", dep)
		}
	}
}
