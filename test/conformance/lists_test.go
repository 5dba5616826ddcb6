package conformance

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// allowedEntry is one line of allowed.txt: a difference that is not a bug,
// with the reason.
type allowedEntry struct {
	line          int
	casePat, path string
	reason        string
	used          int
}

// knownEntry is one line of known.txt: a case (or a glob of cases) that
// fails today, with a note.
type knownEntry struct {
	line    int
	casePat string
	note    string
	failing int // failing cases it matched
	passing []string
}

// readList reads a list file: one entry a line, fields separated by white
// space, # comments and blank lines skipped; n is the number of fields
// before the free text, which must not be empty.
func readList(path string, n int) ([][]string, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var rows [][]string
	var lines []int
	sc := bufio.NewScanner(f)
	for no := 1; sc.Scan(); no++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		fields := strings.Fields(l)
		if len(fields) <= n {
			return nil, nil, fmt.Errorf("%s:%d: want %d patterns and a reason: %q", path, no, n, l)
		}
		row := fields[:n]
		rest := l
		for _, f := range row {
			rest = strings.TrimSpace(strings.TrimPrefix(rest, f))
		}
		rows = append(rows, append(row, rest))
		lines = append(lines, no)
	}
	return rows, lines, sc.Err()
}

func readAllowed(path string) ([]*allowedEntry, error) {
	rows, lines, err := readList(path, 2)
	if err != nil {
		return nil, err
	}
	var out []*allowedEntry
	for i, r := range rows {
		out = append(out, &allowedEntry{line: lines[i], casePat: r[0], path: r[1], reason: r[2]})
	}
	return out, nil
}

func readKnown(path string) ([]*knownEntry, error) {
	rows, lines, err := readList(path, 1)
	if err != nil {
		return nil, err
	}
	var out []*knownEntry
	for i, r := range rows {
		out = append(out, &knownEntry{line: lines[i], casePat: r[0], note: r[1]})
	}
	return out, nil
}

// explain marks the diffs that allowed.txt explains.
func explain(diffs []diff, allowed []*allowedEntry) {
	for i := range diffs {
		for _, a := range allowed {
			if glob(a.casePat, diffs[i].caseName) && glob(a.path, diffs[i].path) {
				diffs[i].allowed = a.reason
				a.used++
				break
			}
		}
	}
}

// flaky tells whether the entry is a race seen both ways: its note starts
// with "(flaky)", and the case may pass or fail.
func (k *knownEntry) flaky() bool { return strings.HasPrefix(k.note, "(flaky)") }

func knownFor(name string, known []*knownEntry) *knownEntry {
	for _, k := range known {
		if k.casePat == name {
			return k
		}
	}
	for _, k := range known {
		if glob(k.casePat, name) {
			return k
		}
	}
	return nil
}
