package conformance

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

// writeKnown rewrites known.txt for CONFORMANCE_WRITE_KNOWN=1 after a full
// run: entries that still fail keep their notes, fixed ones go, a glob
// that now matches passing cases is replaced by the cases it still
// matches, and each unexpected failure is added with a note made from its
// first differences (review those notes before committing).
func writeKnown(path string, known []*knownEntry, failing map[string]bool, ran []string, diffs []diff) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var header []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "#") {
			break
		}
		header = append(header, l)
	}
	notes := map[string]string{} // case or glob → note
	covered := map[string]bool{}
	for _, k := range known {
		isGlob := strings.ContainsAny(k.casePat, "*?")
		switch {
		case isGlob && k.failing > 0 && len(k.passing) == 0:
			notes[k.casePat] = k.note
		case isGlob:
			// Too broad now (some of its cases pass): the cases still
			// failing get notes of their own, from their differences.
		case failing[k.casePat] || k.flaky():
			notes[k.casePat] = k.note
		}
	}
	for n := range notes {
		for _, name := range ran {
			if failing[name] && glob(n, name) {
				covered[name] = true
			}
		}
	}
	for _, name := range ran {
		if failing[name] && !covered[name] {
			notes[name] = noteFor(name, diffs)
		}
	}
	keys := make([]string, 0, len(notes))
	for k := range notes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		gi, gj := strings.ContainsAny(keys[i], "*?"), strings.ContainsAny(keys[j], "*?")
		if gi != gj {
			return gj // globs last
		}
		return keys[i] < keys[j]
	})
	width := 0
	for _, k := range keys {
		width = max(width, len(k))
	}
	var out strings.Builder
	for _, h := range header {
		out.WriteString(h + "\n")
	}
	out.WriteString("\n")
	area := ""
	for _, k := range keys {
		if a, _, _ := strings.Cut(k, "/"); a != area && !strings.ContainsAny(k, "*?") {
			if area != "" {
				out.WriteString("\n")
			}
			area = a
		}
		fmt.Fprintf(&out, "%-*s  %s\n", width, k, notes[k])
	}
	return os.WriteFile(path, []byte(out.String()), 0o644)
}

var kindSuffix = regexp.MustCompile(`^"(.*): (invalid argument|not found|conflict|already exists|not implemented|unavailable|forbidden|not modified|data loss|limit exceeded|unauthorized)"$`)

// noteFor makes a one-line note from a failing case's differences.
func noteFor(name string, diffs []diff) string {
	var parts []string
	seen := map[string]bool{}
	for _, d := range diffs {
		if d.caseName != name || d.allowed != "" {
			continue
		}
		var p string
		switch {
		case d.alone:
			p = fmt.Sprintf("%s: %s", d.path, d.hull)
		case d.path == "message" && kindSuffix.MatchString(d.hull) && strings.Trim(d.dockerd, `"`) == kindSuffix.FindStringSubmatch(d.hull)[1]:
			p = "error text: hull appends the error kind (\"" + kindSuffix.FindStringSubmatch(d.hull)[2] + "\")"
		default:
			p = fmt.Sprintf("%s: dockerd %s, hull %s", d.path, clip(d.dockerd, 60), clip(d.hull, 60))
		}
		if !seen[p] {
			seen[p] = true
			parts = append(parts, p)
		}
	}
	note := strings.Join(parts, "; ")
	return clip(note, 200)
}
