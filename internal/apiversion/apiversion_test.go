package apiversion

import (
	"context"
	"testing"
)

func TestCompare(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.44", "1.44", 0},
		{"1.9", "1.44", -1},
		{"1.100", "1.56", 1},
		{"1", "1.0", 0},
		{"1", "1.24", -1},
		{"2.0", "1.99", 1},
		{"1.24.1", "1.24", 1},
	} {
		if got := Compare(c.a, c.b); got != c.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestContext(t *testing.T) {
	bare := context.Background()
	if FromContext(bare) != "" || Before(bare, "1.52") || !AtLeast(bare, "1.52") {
		t.Error("a context without a version is not the newest")
	}
	ctx := WithVersion(bare, "1.44")
	if FromContext(ctx) != "1.44" || !Before(ctx, "1.52") || AtLeast(ctx, "1.52") || !AtLeast(ctx, "1.44") {
		t.Errorf("1.44: Before(1.52)=%v AtLeast(1.44)=%v", Before(ctx, "1.52"), AtLeast(ctx, "1.44"))
	}
}
