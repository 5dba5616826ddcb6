package image

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies holds internal/image to DESIGN.md's table: of hull's
// own packages it imports internal/layer, internal/errdefs and
// internal/crashpoint (the crash tests' points) only.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	allowed := map[string]bool{
		"github.com/hullproject/hull/internal/image":      true,
		"github.com/hullproject/hull/internal/layer":      true,
		"github.com/hullproject/hull/internal/errdefs":    true,
		"github.com/hullproject/hull/internal/crashpoint": true,
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/hullproject/hull/") && !allowed[p] {
			t.Errorf("internal/image depends on %s", p)
		}
	}
}
