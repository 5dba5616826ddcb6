package build

// The steps of a legacy build (POST /build) as dockerd's classic builder
// prints them: "Step N/M : INSTRUCTION", where M counts every instruction
// of the stages up to the target (the ARGs before the first FROM
// included) and the instruction reads as the Dockerfile writes it. The
// BuildKit solve names its vertices per stage ("[final 2/7] COPY …",
// counting only the instructions that make a vertex, FROM with an image
// resolved to its digest): each is mapped back to its instruction, and
// the instructions that make no vertex (ENV, LABEL, …) are printed with
// the next one that does, or at the end. A Dockerfile that does not parse
// is refused before the solve, with the frontend's own words.

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/pkg/archive/compression"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	gatewaypb "github.com/moby/buildkit/frontend/gateway/pb"

	"github.com/hullproject/hull/internal/errdefs"
)

// maxDockerfile bounds the Dockerfile read from a context, as BuildKit's
// frontend bounds it.
const maxDockerfile = 16 << 20

// classicSteps numbers a Dockerfile's instructions as the classic builder.
type classicSteps struct {
	total  int
	meta   []string // the ARGs before the first FROM
	stages []*classicStage
	target int // index in stages of the stage built
	// printed says the meta ARGs were printed.
	printed bool
}

type classicStage struct {
	name   string // as the Dockerfile names it, lower case; "" if unnamed
	first  int    // the step number of its FROM
	steps  []string
	vertex []int // indexes in steps of the instructions that make a vertex
	next   int   // the first step not printed yet
}

// readDockerfile is the Dockerfile named name (dockerd's default
// "Dockerfile", else "dockerfile") in the context tar file, plain or
// compressed; ok is false when it is not found.
func readDockerfile(file, name string) (_ []byte, ok bool, _ error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	r, err := compression.DecompressStream(f)
	if err != nil {
		return nil, false, err
	}
	defer r.Close()
	if name == "" {
		name = "Dockerfile"
	}
	want := path.Clean("/" + name)
	var lower []byte
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, false, err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		switch path.Clean("/" + hdr.Name) {
		case want:
			b, err := io.ReadAll(io.LimitReader(tr, maxDockerfile))
			return b, err == nil, err
		case "/dockerfile":
			if name == "Dockerfile" {
				if lower, err = io.ReadAll(io.LimitReader(tr, maxDockerfile)); err != nil {
					return nil, false, err
				}
			}
		}
	}
	return lower, lower != nil, nil
}

// parseClassicSteps parses dt as the dockerfile frontend does; an error
// is the frontend's ("dockerfile parse error on line 3: …"), an invalid
// argument. The build's labels are steps of the target stage, one LABEL
// each, by name, as the classic builder adds them.
func parseClassicSteps(dt []byte, target string, labels map[string]string) (*classicSteps, error) {
	res, err := parser.Parse(strings.NewReader(string(dt)))
	if err != nil {
		return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "%v", err)
	}
	stages, meta, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "%v", err)
	}
	if len(stages) == 0 {
		return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "dockerfile contains no stages to build")
	}
	s := &classicSteps{target: len(stages) - 1}
	if target != "" {
		i, ok := instructions.HasStage(stages, target)
		if !ok {
			return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "target stage %q could not be found", target)
		}
		s.target = i
	}
	for _, a := range meta {
		s.meta = append(s.meta, a.String())
	}
	n := len(s.meta)
	stages = stages[:s.target+1]
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		stages[s.target].AddCommand(instructions.NewLabelCommand(k, labels[k], true))
	}
	for _, st := range stages {
		cs := &classicStage{name: st.Name, first: n + 1, steps: []string{st.SourceCode}}
		for _, c := range st.Commands {
			switch c.(type) {
			case *instructions.AddCommand, *instructions.CopyCommand, *instructions.RunCommand, *instructions.WorkdirCommand:
				cs.vertex = append(cs.vertex, len(cs.steps))
			}
			cs.steps = append(cs.steps, fmt.Sprint(c))
		}
		n += len(cs.steps)
		s.stages = append(s.stages, cs)
	}
	s.total = n
	return s, nil
}

// step maps a vertex of the solve ("[final 2/7] COPY …": its stage's
// name, or stage-N, or none when there is one stage; its number and the
// stage's count) to its stage and the index of its instruction there.
func (s *classicSteps) step(prefix string, i, n int) (*classicStage, int, bool) {
	fields := strings.Fields(prefix)
	var st *classicStage
	switch {
	case len(fields) > 0:
		name := fields[len(fields)-1]
		for k, c := range s.stages {
			if (c.name != "" && c.name == name) || (c.name == "" && name == "stage-"+strconv.Itoa(k)) {
				st = c
			}
		}
	case len(s.stages) == 1:
		st = s.stages[0]
	}
	if st == nil {
		return nil, 0, false
	}
	// n counts the FROM when it resolves an image, and the base image's
	// ONBUILD triggers: what n has over the stage's vertex instructions
	// comes first and is the FROM step's.
	extra := n - len(st.vertex)
	if extra < 0 || i > n {
		return nil, 0, false
	}
	if i <= extra {
		return st, 0, true
	}
	return st, st.vertex[i-extra-1], true
}

// through returns the lines of the steps of st not printed yet up to
// and with index k.
func (s *classicSteps) through(st *classicStage, k int) []string {
	var out []string
	if !s.printed {
		s.printed = true
		for i, a := range s.meta {
			out = append(out, s.line(i+1, a))
		}
	}
	for ; st.next <= k && st.next < len(st.steps); st.next++ {
		out = append(out, s.line(st.first+st.next, st.steps[st.next]))
	}
	return out
}

// rest returns the lines of the steps not printed yet of the target
// stage and of the stages of which some step was printed.
func (s *classicSteps) rest() []string {
	var out []string
	for i, st := range s.stages {
		if st.next > 0 || i == s.target {
			out = append(out, s.through(st, len(st.steps)-1)...)
		}
	}
	return out
}

func (s *classicSteps) line(n int, text string) string {
	return fmt.Sprintf("Step %d/%d : %s\n", n, s.total, text)
}

// legacySteps reads and parses the Dockerfile of a legacy build's
// context file, for the solve's frontend attributes (its target and
// labels); nil (no error) when it is not found there, which the solve
// then says.
func legacySteps(file, dockerfile string, attrs map[string]string) (*classicSteps, error) {
	dt, ok, err := readDockerfile(file, dockerfile)
	if err != nil || !ok {
		return nil, nil
	}
	labels := map[string]string{}
	for k, v := range attrs {
		if name, ok := strings.CutPrefix(k, "label:"); ok {
			labels[name] = v
		}
	}
	return parseClassicSteps(dt, attrs["target"], labels)
}

// vertex returns the lines for a vertex named "[prefix i/n] …": the
// classic steps up to its instruction, or none when they were printed
// (an instruction with several vertices); fallback when it maps to no
// instruction.
func (s *classicSteps) vertex(prefix, i, n string, fallback []string) []string {
	ii, err1 := strconv.Atoi(i)
	nn, err2 := strconv.Atoi(n)
	if err1 != nil || err2 != nil {
		return fallback
	}
	st, k, ok := s.step(prefix, ii, nn)
	if !ok {
		return fallback
	}
	return s.through(st, k)
}

// exitCode is the exit code of the step that failed a solve, 0 if none:
// the classic builder gives it as the error's code, which docker build
// exits with.
func exitCode(err error) int {
	var ee *gatewaypb.ExitError
	if errors.As(err, &ee) && ee.ExitCode != 0 && ee.ExitCode != gatewaypb.UnknownExitStatus {
		return int(ee.ExitCode)
	}
	return 0
}

// begin answers 200 and the stream's headers at once: once its
// Dockerfile parsed, the classic builder has begun printing its steps,
// and what fails after (an image that cannot be had, a step) is said in
// the stream.
func (s *jsonStream) begin() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", "application/json")
		s.w.WriteHeader(http.StatusOK)
		if f, ok := s.w.(http.Flusher); ok {
			f.Flush()
		}
	}
}
