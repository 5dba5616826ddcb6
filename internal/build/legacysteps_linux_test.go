package build

import (
	"strings"
	"testing"

	"github.com/hullproject/hull/internal/errdefs"
)

func TestClassicSteps(t *testing.T) {
	const df = `ARG BASE=busybox
FROM ${BASE} AS builder
ARG V
RUN echo $V > /v
ENV X=1

FROM scratch AS unused
COPY --from=builder /v /v

FROM builder
COPY a /a
LABEL a=b
WORKDIR /w
CMD ["x"]
`
	s, err := parseClassicSteps([]byte(df), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.total != 12 {
		t.Fatalf("total %d, want 12", s.total)
	}
	var out []string
	// The vertices as the dockerfile frontend names them, in an order
	// BuildKit may run them in; "[builder 1/2] FROM docker.io/…" is the
	// image's, "stage-2" the last, unnamed stage (FROM builder: no FROM
	// vertex).
	for _, v := range [][3]string{{"stage-2", "1", "2"}, {"builder", "1", "2"}, {"builder", "2", "2"}, {"stage-2", "2", "2"}, {"nosuch", "1", "1"}} {
		out = append(out, s.vertex(v[0], v[1], v[2], []string{"fallback " + v[0] + "\n"})...)
	}
	out = append(out, s.rest()...)
	want := []string{
		"Step 1/12 : ARG BASE=busybox",
		"Step 8/12 : FROM builder",
		"Step 9/12 : COPY a /a",
		"Step 2/12 : FROM ${BASE} AS builder",
		"Step 3/12 : ARG V",
		"Step 4/12 : RUN echo $V > /v",
		"Step 10/12 : LABEL a=b",
		"Step 11/12 : WORKDIR /w",
		"fallback nosuch",
		"Step 5/12 : ENV X=1",
		"Step 12/12 : CMD [\"x\"]",
	}
	if got := strings.TrimSuffix(strings.Join(out, ""), "\n"); got != strings.Join(want, "\n") {
		t.Errorf("steps:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}

	// --label: a LABEL step each, by name, at the end of the target stage.
	s, err = parseClassicSteps([]byte(df), "builder", map[string]string{"z": "last", "a": "first one"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(s.rest(), ""), "Step 1/7 : ARG BASE=busybox\nStep 2/7 : FROM ${BASE} AS builder\nStep 3/7 : ARG V\nStep 4/7 : RUN echo $V > /v\nStep 5/7 : ENV X=1\nStep 6/7 : LABEL a=first one\nStep 7/7 : LABEL z=last\n"; got != want {
		t.Errorf("--label:\n%s\nwant:\n%s", got, want)
	}

	// --target: the stages after it are not counted.
	if s, err := parseClassicSteps([]byte(df), "unused", nil); err != nil || s.total != 7 {
		t.Errorf("--target unused: %v, %v", s, err)
	}
	if _, err := parseClassicSteps([]byte(df), "nope", nil); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), `target stage "nope" could not be found`) {
		t.Errorf("a missing target: %v", err)
	}
	_, err = parseClassicSteps([]byte("FROM busybox\nRUN true\nFROMM x\n"), "", nil)
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "dockerfile parse error on line 3: unknown instruction: FROMM") {
		t.Errorf("a syntax error: %v", err)
	}
}
