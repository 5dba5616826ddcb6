// Command gen writes the inputs of hull's storage benchmark (see
// bench/README.md): a root file system tar for image import and a docker
// save archive for image load, each of about -size-mb megabytes.
//
// Both are made from a seeded generator, so the same flags give the same
// bytes on every machine: a tree of a few thousand directories and files
// shaped like a distribution's root file system (mostly small files,
// some of a few hundred KiB, a handful of 1–20 MiB), with symbolic and
// hard links, and file contents that are pseudo-random (they do not
// compress, as none of the contenders compresses anyway).
//
// The archive is in the format docker save wrote up to docker 24: one
// directory per layer holding an uncompressed layer.tar (and the legacy
// VERSION and json), the image config named by its digest, manifest.json
// and the legacy repositories file. Its layers are five trees of
// different sizes stacked on each other; the upper ones delete a few
// files of the first with whiteouts.
//
// gen uses the standard library only: it must not depend on hull, whose
// speed it is there to measure.
package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Version names the generator's output; bench/run.sh keeps generated
// inputs while it stays the same. Change it with anything that changes
// the bytes gen writes.
const Version = "1"

const (
	kib = 1 << 10
	mib = 1 << 20
)

// epoch is the time every entry is dated near, so the output does not
// depend on the clock.
var epoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// The image the archive holds.
const (
	loadRepo = "bench/load"
	loadTag  = "latest"
)

// layerShares is how the archive's bytes are spread over its layers,
// bottom first.
var layerShares = []float64{0.38, 0.27, 0.17, 0.11, 0.07}

func main() {
	out := flag.String("out", "", "folder to write rootfs.tar and archive.tar into (required)")
	sizeMB := flag.Int("size-mb", 250, "about how many megabytes of file content each of the two holds")
	seed := flag.Uint64("seed", 1, "seed of the generator")
	version := flag.Bool("version", false, "print the generator's version and exit")
	flag.Parse()
	if *version {
		fmt.Println(Version)
		return
	}
	if *out == "" || *sizeMB < 1 || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: gen -out DIR [-size-mb 250] [-seed 1]")
		os.Exit(2)
	}
	if err := run(*out, int64(*sizeMB)*mib, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(out string, size int64, seed uint64) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}

	// The root file system for import.
	rootfs := newTree(seed, 0, "", size)
	st, err := writeFile(filepath.Join(out, "rootfs.tar"), func(w io.Writer) error {
		_, err := rootfs.writeTar(w)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Printf("rootfs.tar: %s, %s\n", human(st), rootfs.summary())

	// The layers of the image to load.
	var layers []*tree
	for i, share := range layerShares {
		prefix := ""
		if i > 0 {
			prefix = fmt.Sprintf("opt/app%d/", i)
		}
		l := newTree(seed, i+1, prefix, int64(float64(size)*share))
		if i > 0 {
			l.whiteouts(layers[0], 2+i)
		}
		layers = append(layers, l)
	}
	st, err = writeFile(filepath.Join(out, "archive.tar"), func(w io.Writer) error {
		return writeArchive(w, layers)
	})
	if err != nil {
		return err
	}
	var parts []string
	for i, l := range layers {
		parts = append(parts, fmt.Sprintf("layer %d: %s", i+1, l.summary()))
	}
	fmt.Printf("archive.tar: %s, %s:%s, %d layers\n  %s\n", human(st), loadRepo, loadTag, len(layers), strings.Join(parts, "\n  "))
	return nil
}

// writeFile writes a file through fn, under a temporary name that is
// renamed only once it is whole and synced, and returns its size.
func writeFile(name string, fn func(io.Writer) error) (int64, error) {
	tmp := name + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return 0, err
	}
	cw := &counter{w: f}
	err = fn(cw)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return cw.n, nil
}

// entry is one member of a tree's tar.
type entry struct {
	name  string // without a leading slash; a folder's ends in a slash
	typ   byte
	mode  int64
	size  int64
	link  string
	mtime time.Time
}

// tree is a generated file system: its entries in the order the tar
// holds them, and the seed its file contents come from.
type tree struct {
	entries []entry
	content [32]byte
	dirs    []string // the folders new files may go in
	files   []int    // indexes of the non-empty regular files in entries
	rng     *rand.Rand
	names   map[string]bool
}

// newTree makes the tree number n of seed, of about size bytes of file
// content, under prefix ("" for a whole root file system, which then
// gets the usual top-level folders).
func newTree(seed uint64, n int, prefix string, size int64) *tree {
	t := &tree{
		rng:   rand.New(rand.NewPCG(seed, uint64(n))),
		names: map[string]bool{},
	}
	binary.LittleEndian.PutUint64(t.content[:], seed)
	binary.LittleEndian.PutUint64(t.content[8:], uint64(n))
	copy(t.content[16:], "hull-bench-gen")

	if prefix == "" {
		for _, d := range []string{"bin", "etc", "home", "lib", "opt", "root", "sbin", "srv", "tmp", "usr", "usr/bin", "usr/include", "usr/lib", "usr/libexec", "usr/sbin", "usr/share", "usr/share/doc", "var", "var/cache", "var/lib", "var/log"} {
			mode := int64(0o755)
			switch d {
			case "tmp":
				mode = 0o1777
			case "root":
				mode = 0o700
			}
			t.addDir(d, mode)
			if d != "tmp" && d != "root" && d != "home" && d != "srv" && d != "opt" {
				t.dirs = append(t.dirs, d)
			}
		}
	} else {
		// The folders above prefix, then prefix itself.
		p := strings.TrimSuffix(prefix, "/")
		parts := strings.Split(p, "/")
		for i := range parts {
			t.addDir(strings.Join(parts[:i+1], "/"), 0o755)
		}
		t.dirs = append(t.dirs, p)
	}

	// How many files: about one per 32 KiB, as in a distribution's /usr,
	// and a folder per dozen files.
	nfiles := int(size / (32 * kib))
	for range max(nfiles/12, 3) {
		parent := t.dirs[t.rng.IntN(len(t.dirs))]
		if strings.Count(parent, "/") >= 7 {
			continue
		}
		d := parent + "/" + t.uniqueName(parent, "")
		t.addDir(d, 0o755)
		t.dirs = append(t.dirs, d)
	}

	// Half the bytes in large files, a fifth in middling ones, the rest
	// in small ones: the count is mostly small files.
	var used int64
	add := func(want int64, lo, hi int64, logScale bool) {
		var got int64
		for got < want && used < size {
			var n int64
			if logScale {
				n = int64(float64(lo) * math.Pow(float64(hi)/float64(lo), t.rng.Float64()))
			} else {
				n = lo + t.rng.Int64N(hi-lo)
			}
			// Not much past this class's share, nor past the whole.
			n = min(n, max(lo, want-got), size-used)
			t.addFile(n)
			got += n
			used += n
		}
	}
	add(size/2, 1*mib, 20*mib, false)
	add(size/5, 64*kib, 1*mib, true)
	add(size, 100, 64*kib, true)
	// Some empty files, as __init__.py and .keep files are.
	for range nfiles/100 + 1 {
		t.addFile(0)
	}
	// Sorted: every folder comes before what it holds.
	slices.SortFunc(t.entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	t.files = t.files[:0]
	for i, e := range t.entries {
		if e.typ == tar.TypeReg && e.size > 0 {
			t.files = append(t.files, i)
		}
	}

	// Links come last, after what they point at.
	for i := range len(t.files)/100 + 3 {
		dir := t.dirs[t.rng.IntN(len(t.dirs))]
		target := t.entries[t.files[t.rng.IntN(len(t.files))]].name
		switch {
		case i == 0:
			target = "../does/not/exist" // a dangling one
		case i%2 == 0:
			target = "/" + target
		default:
			target = relPath(dir, target)
		}
		t.add(entry{name: dir + "/" + t.uniqueName(dir, ""), typ: tar.TypeSymlink, mode: 0o777, link: target})
	}
	for range len(t.files)/300 + 2 {
		dir := t.dirs[t.rng.IntN(len(t.dirs))]
		target := t.entries[t.files[t.rng.IntN(len(t.files))]]
		t.add(entry{name: dir + "/" + t.uniqueName(dir, ""), typ: tar.TypeLink, mode: target.mode, link: target.name})
	}
	return t
}

var extensions = []string{"", "", "", ".so", ".so.1", ".py", ".pyc", ".h", ".conf", ".txt", ".gz", ".json", ".mo", ".pem", ".pl", ".go", ".js", ".html"}

// uniqueName makes a file or folder name that dir does not yet hold.
func (t *tree) uniqueName(dir, ext string) string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	for {
		var b strings.Builder
		for range 3 + t.rng.IntN(9) {
			b.WriteByte(letters[t.rng.IntN(len(letters))])
		}
		if t.rng.IntN(4) == 0 {
			fmt.Fprintf(&b, "-%d.%d", t.rng.IntN(10), t.rng.IntN(30))
		}
		b.WriteString(ext)
		if full := dir + "/" + b.String(); !t.names[full] {
			t.names[full] = true
			return b.String()
		}
	}
}

func (t *tree) add(e entry) {
	e.mtime = epoch.Add(-time.Duration(t.rng.IntN(365*24*3600)) * time.Second)
	t.names[strings.TrimSuffix(e.name, "/")] = true
	t.entries = append(t.entries, e)
}

func (t *tree) addDir(name string, mode int64) {
	t.add(entry{name: name + "/", typ: tar.TypeDir, mode: mode})
}

func (t *tree) addFile(size int64) {
	dir := t.dirs[t.rng.IntN(len(t.dirs))]
	mode := int64(0o644)
	if t.rng.IntN(10) == 0 {
		mode = 0o755
	}
	ext := extensions[t.rng.IntN(len(extensions))]
	t.add(entry{name: dir + "/" + t.uniqueName(dir, ext), typ: tar.TypeReg, mode: mode, size: size})
}

// whiteouts adds to t, an upper layer, whiteouts for n files of lower
// and the folders above them.
func (t *tree) whiteouts(lower *tree, n int) {
	have := map[string]bool{}
	for _, e := range t.entries {
		have[strings.TrimSuffix(e.name, "/")] = true
	}
	var extra []entry
	for range n {
		target := lower.entries[lower.files[t.rng.IntN(len(lower.files))]].name
		dir, base := path.Split(target)
		wh := dir + ".wh." + base
		if have[wh] {
			continue
		}
		parts := strings.Split(strings.TrimSuffix(dir, "/"), "/")
		for i := range parts {
			d := strings.Join(parts[:i+1], "/")
			if !have[d] {
				have[d] = true
				extra = append(extra, entry{name: d + "/", typ: tar.TypeDir, mode: lower.modeOf(d), mtime: epoch})
			}
		}
		have[wh] = true
		extra = append(extra, entry{name: wh, typ: tar.TypeReg, mode: 0o644, mtime: epoch})
	}
	// Folders and whiteouts go in front, so each folder still comes
	// before what it holds.
	slices.SortFunc(extra, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	t.entries = append(extra, t.entries...)
}

func (t *tree) modeOf(name string) int64 {
	for _, e := range t.entries {
		if e.name == name+"/" {
			return e.mode
		}
	}
	return 0o755
}

func (t *tree) summary() string {
	var dirs, files, syms, links int
	var bytes int64
	for _, e := range t.entries {
		switch e.typ {
		case tar.TypeDir:
			dirs++
		case tar.TypeReg:
			files++
			bytes += e.size
		case tar.TypeSymlink:
			syms++
		case tar.TypeLink:
			links++
		}
	}
	return fmt.Sprintf("%d folders, %d files (%s), %d symlinks, %d hard links", dirs, files, human(bytes), syms, links)
}

// writeTar writes the tree as a tar to w and returns the tar's digest.
func (t *tree) writeTar(w io.Writer) (string, error) {
	h := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(w, h))
	content := rand.NewChaCha8(t.content)
	for _, e := range t.entries {
		hdr := &tar.Header{
			Name:     e.name,
			Typeflag: e.typ,
			Mode:     e.mode,
			Size:     e.size,
			Linkname: e.link,
			ModTime:  e.mtime,
			Uname:    "root",
			Gname:    "root",
			Format:   tar.FormatPAX,
		}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return "", err
		}
		if hdr.Size > 0 {
			if _, err := io.CopyN(tw, content, hdr.Size); err != nil {
				return "", err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// writeArchive writes a docker save archive of one image of layers.
func writeArchive(w io.Writer, layers []*tree) error {
	// First pass: each layer's digest and size, which the headers and
	// the config need before the layers themselves are written.
	diffIDs := make([]string, len(layers))
	sizes := make([]int64, len(layers))
	for i, l := range layers {
		c := &counter{w: io.Discard}
		d, err := l.writeTar(c)
		if err != nil {
			return err
		}
		diffIDs[i], sizes[i] = d, c.n
	}

	type historyEntry struct {
		Created   time.Time `json:"created"`
		CreatedBy string    `json:"created_by"`
	}
	type rootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	}
	type imageConfig struct {
		Env        []string `json:"Env"`
		Cmd        []string `json:"Cmd"`
		WorkingDir string   `json:"WorkingDir"`
	}
	type configFile struct {
		Architecture string         `json:"architecture"`
		OS           string         `json:"os"`
		Created      time.Time      `json:"created"`
		Config       imageConfig    `json:"config"`
		History      []historyEntry `json:"history"`
		RootFS       rootFS         `json:"rootfs"`
	}
	cfg := configFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Created:      epoch,
		Config: imageConfig{
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Cmd:        []string{"/bin/sh"},
			WorkingDir: "/",
		},
		RootFS: rootFS{Type: "layers", DiffIDs: diffIDs},
	}
	for i := range layers {
		cfg.History = append(cfg.History, historyEntry{Created: epoch, CreatedBy: fmt.Sprintf("/bin/sh -c #(nop) ADD layer %d", i+1)})
	}
	config, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	configName := hex.EncodeToString(sum(config)) + ".json"

	// The legacy v1 ids, one per layer, each depending on the one below
	// as docker's do.
	ids := make([]string, len(layers))
	jsons := make([][]byte, len(layers))
	parent := ""
	for i := range layers {
		ids[i] = hex.EncodeToString(sum([]byte(parent + " " + diffIDs[i])))
		v1 := map[string]any{"id": ids[i], "created": epoch, "os": "linux", "container_config": map[string]any{"Cmd": nil}}
		if parent != "" {
			v1["parent"] = parent
		}
		if jsons[i], err = json.Marshal(v1); err != nil {
			return err
		}
		parent = ids[i]
	}

	manifest, err := json.Marshal([]map[string]any{{
		"Config":   configName,
		"RepoTags": []string{loadRepo + ":" + loadTag},
		"Layers":   layerPaths(ids),
	}})
	if err != nil {
		return err
	}
	repositories, err := json.Marshal(map[string]map[string]string{loadRepo: {loadTag: ids[len(ids)-1]}})
	if err != nil {
		return err
	}

	// Members in the order of docker save's: sorted by name.
	type member struct {
		name  string
		data  []byte
		layer int // index in layers for a layer.tar, else -1
	}
	var members []member
	for i, id := range ids {
		members = append(members,
			member{name: id + "/", layer: -1},
			member{name: id + "/VERSION", data: []byte("1.0"), layer: -1},
			member{name: id + "/json", data: jsons[i], layer: -1},
			member{name: id + "/layer.tar", layer: i})
	}
	members = append(members,
		member{name: configName, data: config, layer: -1},
		member{name: "manifest.json", data: manifest, layer: -1},
		member{name: "repositories", data: repositories, layer: -1})
	slices.SortFunc(members, func(a, b member) int { return strings.Compare(a.name, b.name) })

	tw := tar.NewWriter(w)
	for _, m := range members {
		hdr := &tar.Header{Name: m.name, Mode: 0o644, ModTime: epoch, Typeflag: tar.TypeReg, Size: int64(len(m.data))}
		switch {
		case strings.HasSuffix(m.name, "/"):
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		case m.layer >= 0:
			hdr.Size = sizes[m.layer]
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if m.layer >= 0 {
			// Second pass: the same bytes again, checked.
			d, err := layers[m.layer].writeTar(tw)
			if err != nil {
				return err
			}
			if d != diffIDs[m.layer] {
				return errors.New("generator is not deterministic: layer digest changed between passes")
			}
			continue
		}
		if _, err := tw.Write(m.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

func layerPaths(ids []string) []string {
	var out []string
	for _, id := range ids {
		out = append(out, id+"/layer.tar")
	}
	return out
}

func sum(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// relPath is target relative to folder dir (both relative to /).
func relPath(dir, target string) string {
	d := strings.Split(dir, "/")
	tp := strings.Split(target, "/")
	i := 0
	for i < len(d) && i < len(tp)-1 && d[i] == tp[i] {
		i++
	}
	return strings.Repeat("../", len(d)-i) + strings.Join(tp[i:], "/")
}

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func human(n int64) string {
	switch {
	case n >= mib:
		return fmt.Sprintf("%.1f MiB", float64(n)/mib)
	case n >= kib:
		return fmt.Sprintf("%.1f KiB", float64(n)/kib)
	}
	return fmt.Sprintf("%d B", n)
}
