package main

// Issue 12, archives and images: hull answers docker cp, import, load,
// save, tag, rmi, history, inspect, commit and pull as dockerd does —
// status codes and messages word for word. The expected answers are what
// a private dockerd (Debian's 20.10, API 1.41) gave for the same requests,
// except where noted (a 500 for bad input is a 400 here; newer dockerd's
// words where 20.10 had a bug).

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// imgAnswer is one answer of the Engine API.
type imgAnswer struct {
	status int
	body   []byte
	header http.Header
}

// message is the answer's JSON error message.
func (a imgAnswer) message() string {
	var m struct{ Message string }
	json.Unmarshal(a.body, &m)
	return m.Message
}

// imgCall sends one request to the daemon on sock.
func imgCall(t *testing.T, sock, method, path string, body []byte) imgAnswer {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://hull"+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-tar")
	}
	resp, err := apiClient(sock).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return imgAnswer{status: resp.StatusCode, body: b, header: resp.Header}
}

// imgWant checks an answer's status and message.
func imgWant(t *testing.T, what string, a imgAnswer, status int, msg string) {
	t.Helper()
	if a.status != status || a.message() != msg {
		t.Errorf("%s: %d %q, want %d %q", what, a.status, a.body, status, msg)
	}
}

// imgStream decodes a JSON-message stream.
func imgStream(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		var m map[string]any
		if err := dec.Decode(&m); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("stream %q: %v", b, err)
		}
		out = append(out, m)
	}
}

// imgTar builds a tar of regular files (and directories, for names
// ending in "/"), in order, owned by uid:gid.
func imgTar(t *testing.T, uid, gid int, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i < len(files); i += 2 {
		name, body := files[i], files[i+1]
		hdr := &tar.Header{Name: name, Mode: 0o644, Uid: uid, Gid: gid, Typeflag: tar.TypeReg, Size: int64(len(body)), ModTime: time.Unix(1700000000, 0)}
		if strings.HasSuffix(name, "/") {
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	return buf.Bytes()
}

// compressed returns raw in each compression dockerd reads (bzip2 only
// where the bzip2 tool is installed: Go has no bzip2 writer).
func imgCompressed(t *testing.T, raw []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{"plain": raw}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	out["gzip"] = gz.Bytes()
	var zs bytes.Buffer
	ze, _ := zstd.NewWriter(&zs)
	ze.Write(raw)
	ze.Close()
	out["zstd"] = zs.Bytes()
	var xzb bytes.Buffer
	xw, err := xz.NewWriter(&xzb)
	if err != nil {
		t.Fatal(err)
	}
	xw.Write(raw)
	xw.Close()
	out["xz"] = xzb.Bytes()
	if _, err := exec.LookPath("bzip2"); err == nil {
		cmd := exec.Command("bzip2", "-c")
		cmd.Stdin = bytes.NewReader(raw)
		b, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		out["bzip2"] = b
	}
	return out
}

// imgArchiveFiles reads file name out of GET /containers/{id}/archive.
func imgArchiveFiles(t *testing.T, sock, ctr, path string) (map[string]*tar.Header, map[string]string) {
	t.Helper()
	a := imgCall(t, sock, "GET", "/v1.41/containers/"+ctr+"/archive?path="+url.QueryEscape(path), nil)
	if a.status != 200 {
		t.Fatalf("GET archive %s: %d %s", path, a.status, a.body)
	}
	hdrs, bodies := map[string]*tar.Header{}, map[string]string{}
	tr := tar.NewReader(bytes.NewReader(a.body))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hdrs, bodies
		}
		if err != nil {
			t.Fatalf("archive of %s: %v", path, err)
		}
		b, _ := io.ReadAll(tr)
		hdrs[h.Name], bodies[h.Name] = h, string(b)
	}
}

// imgPathStat decodes the X-Docker-Container-Path-Stat header.
func imgPathStat(t *testing.T, a imgAnswer) map[string]any {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(a.header.Get("X-Docker-Container-Path-Stat"))
	if err != nil {
		t.Fatalf("path stat header: %v", err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

// TestFidelityArchive: PUT /archive takes plain, gzip, bzip2, xz and zstd
// tars (docker cp from a gzipped stdin too); HEAD and GET name, stat and
// archive as dockerd; every refusal in dockerd's words.
func TestFidelityArchive(t *testing.T) {
	requireDockerCLI(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	sock := filepath.Join(dir, "hull.sock")
	ro := filepath.Join(dir, "rodir")
	os.MkdirAll(filepath.Join(ro, "sub"), 0o755)
	docker(t, env, "create", "--name", "c1", "e2e/busybox:1", "true")
	docker(t, env, "create", "--name", "ro", "--read-only", "-v", ro+":/vro:ro", "-v", "rwvol:/vrw", "e2e/busybox:1", "true")
	docker(t, env, "create", "--name", "u1", "-u", "1234:4321", "e2e/busybox:1", "true")
	docker(t, env, "create", "--name", "u2", "-u", "nosuchuser", "e2e/busybox:1", "true")

	// Every compression dockerd detects, by its magic bytes.
	for kind, body := range imgCompressed(t, imgTar(t, 0, 0, "dir/", "", "dir/f.txt", "in "+"dir")) {
		a := imgCall(t, sock, "PUT", "/v1.41/containers/c1/archive?path=/tmp", body)
		if a.status != 200 {
			t.Errorf("PUT %s tar: %d %s", kind, a.status, a.body)
			continue
		}
		if _, files := imgArchiveFiles(t, sock, "c1", "/tmp/dir/f.txt"); files["f.txt"] != "in dir" {
			t.Errorf("PUT %s tar: the file holds %q", kind, files)
		}
		imgCall(t, sock, "PUT", "/v1.41/containers/c1/archive?path=/tmp", imgTar(t, 0, 0, "dir/f.txt", ""))
	}
	// The docker CLI, a gzipped tar on its standard input.
	gz := imgCompressed(t, imgTar(t, 0, 0, "fromcli.txt", "cli"))["gzip"]
	if _, errOut, code := dockerRun(t, env, string(gz), "cp", "-", "c1:/tmp"); code != 0 {
		t.Errorf("docker cp - with a gzipped tar: %d %s", code, errOut)
	} else if _, files := imgArchiveFiles(t, sock, "c1", "/tmp/fromcli.txt"); files["fromcli.txt"] != "cli" {
		t.Errorf("docker cp - with a gzipped tar: %q", files)
	}

	// Errors, word for word.
	plain := imgTar(t, 0, 0, "x.txt", "x")
	for _, c := range []struct {
		method, query string
		body          []byte
		status        int
		msg           string
	}{
		{"GET", "path=/nope", nil, 404, "Could not find the file /nope in container c1"},
		{"GET", "path=/nope/", nil, 404, "Could not find the file /nope/ in container c1"},
		{"GET", "path=/bin/busybox/", nil, 400, "lstat /bin/busybox/: not a directory"},
		{"GET", "path=/bin/sh/x", nil, 400, "lstat /bin/sh/x: not a directory"},
		{"GET", "", nil, 400, "bad parameter: path cannot be empty"},
		{"PUT", "", plain, 400, "bad parameter: path cannot be empty"},
		{"PUT", "path=/nope", plain, 404, "Could not find the file /nope in container c1"},
		{"PUT", "path=/bin/sh", plain, 400, "extraction point is not a directory"},
		{"PUT", "path=/bin/busybox/", plain, 400, "extraction point is not a directory"},
		{"PUT", "path=/tmp", []byte("not a tar at all, just text here"), 400, "Error processing tar file(exit status 1): unexpected EOF"},
		{"PUT", "path=/tmp", imgCompressed(t, plain)["gzip"][:40], 400, "Error processing tar file(exit status 1): unexpected EOF"},
	} {
		a := imgCall(t, sock, c.method, "/v1.41/containers/c1/archive?"+c.query, c.body)
		imgWant(t, c.method+" "+c.query, a, c.status, c.msg)
	}
	a := imgCall(t, sock, "HEAD", "/v1.41/containers/c1/archive?path=/nope", nil)
	if a.status != 404 {
		t.Errorf("HEAD of a missing path: %d", a.status)
	}
	imgWant(t, "PUT into a read-only root", imgCall(t, sock, "PUT", "/v1.41/containers/ro/archive?path=/tmp", plain), 400, "container rootfs is marked read-only")
	imgWant(t, "PUT into a read-only volume", imgCall(t, sock, "PUT", "/v1.41/containers/ro/archive?path=/vro/sub", plain), 400, "mounted volume is marked read-only")
	imgWant(t, "PUT under a read-only volume, missing", imgCall(t, sock, "PUT", "/v1.41/containers/ro/archive?path=/vro/nope", plain), 404, "Could not find the file /vro/nope in container ro")
	if a := imgCall(t, sock, "PUT", "/v1.41/containers/ro/archive?path=/vrw", plain); a.status != 200 {
		t.Errorf("PUT into a writable volume of a read-only container: %d %s", a.status, a.body)
	}
	if _, err := os.Stat(filepath.Join(ro, "sub", "x.txt")); err == nil {
		t.Error("PUT wrote into the read-only bind")
	}
	if _, errOut, code := dockerRun(t, env, "", "cp", filepath.Join(ro, "sub"), "ro:/tmp/"); code == 0 || !strings.Contains(errOut, "container rootfs is marked read-only") {
		t.Errorf("docker cp into a read-only root: %d %s", code, errOut)
	}

	// noOverwriteDirNonDir, as the docker CLI sends it.
	imgCall(t, sock, "PUT", "/v1.41/containers/c1/archive?path=/tmp", imgTar(t, 0, 0, "isdir/", "", "isfile", "f"))
	imgWant(t, "a file over a directory", imgCall(t, sock, "PUT", "/v1.41/containers/c1/archive?path=/tmp&noOverwriteDirNonDir=1", imgTar(t, 0, 0, "isdir", "f")),
		400, `Error processing tar file(exit status 1): cannot overwrite directory "/tmp/isdir" with non-directory "/tmp"`)
	imgWant(t, "a directory over a file", imgCall(t, sock, "PUT", "/v1.41/containers/c1/archive?path=/tmp&noOverwriteDirNonDir=true", imgTar(t, 0, 0, "isfile/", "")),
		400, `Error processing tar file(exit status 1): cannot overwrite non-directory "/tmp/isfile" with directory "/tmp"`)
	if a := imgCall(t, sock, "PUT", "/v1.41/containers/c1/archive?path=/tmp", imgTar(t, 0, 0, "isdir", "f", "isfile/", "")); a.status != 200 {
		t.Errorf("replacing without noOverwriteDirNonDir: %d %s", a.status, a.body)
	}

	// Owners: the tar's, as dockerd keeps them; copyUIDGID gives the
	// entries to the container's user when it has one.
	owned := imgTar(t, 1111, 2222, "owned.txt", "o")
	for _, c := range []struct {
		ctr, query string
		uid, gid   int
	}{
		{"c1", "", 1111, 2222},
		{"c1", "&copyUIDGID=1", 1111, 2222},
		{"u1", "&copyUIDGID=1", 1234, 4321},
		{"u1", "&copyUIDGID=0", 1111, 2222},
	} {
		if a := imgCall(t, sock, "PUT", "/v1.41/containers/"+c.ctr+"/archive?path=/tmp"+c.query, owned); a.status != 200 {
			t.Errorf("PUT %s %s: %d %s", c.ctr, c.query, a.status, a.body)
			continue
		}
		if hdrs, _ := imgArchiveFiles(t, sock, c.ctr, "/tmp/owned.txt"); hdrs["owned.txt"] == nil || hdrs["owned.txt"].Uid != c.uid || hdrs["owned.txt"].Gid != c.gid {
			t.Errorf("PUT %s %s: owner %+v, want %d:%d", c.ctr, c.query, hdrs["owned.txt"], c.uid, c.gid)
		}
	}
	imgWant(t, "copyUIDGID with a user the container lacks", imgCall(t, sock, "PUT", "/v1.41/containers/u2/archive?path=/tmp&copyUIDGID=1", owned),
		400, `failed to look up user "nosuchuser" in container: no matching entries in passwd file`)

	// HEAD and GET: a link stat'ed as itself with its target resolved in
	// the container, archived as itself; names as dockerd gives them.
	imgCall(t, sock, "PUT", "/v1.41/containers/c1/archive?path=/", imgLinkTar(t, "lnk", "/tmp", "tmp/rel", "../etc/../bin/sh"))
	for path, want := range map[string]string{"/lnk": "/tmp", "/tmp/rel": "/bin/busybox", "/bin/sh": "/bin/busybox"} {
		st := imgPathStat(t, imgCall(t, sock, "HEAD", "/v1.41/containers/c1/archive?path="+path, nil))
		if st["linkTarget"] != want || st["name"] != filepath.Base(path) || uint32(st["mode"].(float64))&uint32(os.ModeSymlink) == 0 {
			t.Errorf("HEAD %s: %v, want linkTarget %s", path, st, want)
		}
	}
	if hdrs, _ := imgArchiveFiles(t, sock, "c1", "/bin/sh"); hdrs["sh"] == nil || hdrs["sh"].Typeflag != tar.TypeSymlink || hdrs["sh"].Linkname != "busybox" {
		t.Errorf("GET of a link: %v", hdrs)
	}
	for path, want := range map[string][]string{
		"/tmp/dir":   {"dir/", "dir/f.txt"},
		"/tmp/dir/":  {"dir/", "dir/f.txt"},
		"/tmp/dir/.": {"./", "./f.txt"},
		"/lnk/dir/":  {"dir/", "dir/f.txt"},
	} {
		hdrs, _ := imgArchiveFiles(t, sock, "c1", path)
		var names []string
		for n := range hdrs {
			names = append(names, n)
		}
		slices.Sort(names)
		if !slices.Equal(names, want) {
			t.Errorf("GET %s: entries %v, want %v", path, names, want)
		}
	}
	if st := imgPathStat(t, imgCall(t, sock, "HEAD", "/v1.41/containers/c1/archive?path=/tmp/dir/.", nil)); st["name"] != "." {
		t.Errorf("HEAD /tmp/dir/.: %v", st)
	}
	if hdrs, _ := imgArchiveFiles(t, sock, "c1", "/"); hdrs["/"] == nil || hdrs["/bin/"] == nil {
		t.Errorf("GET /: entries named %v", imgKeys(hdrs))
	}
}

func imgKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// imgLinkTar is a tar of symbolic links, name and target in pairs.
func imgLinkTar(t *testing.T, pairs ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i < len(pairs); i += 2 {
		if err := tw.WriteHeader(&tar.Header{Name: pairs[i], Linkname: pairs[i+1], Typeflag: tar.TypeSymlink, Mode: 0o777}); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	return buf.Bytes()
}

// TestFidelityImportLoad: import from the body in every compression
// (the only message is the new id), from a URL on loopback, with repo,
// tag, message, changes and platform; load's message shapes; save's names.
func TestFidelityImportLoad(t *testing.T) {
	requireDockerCLI(t)
	env, dir := hullDaemon(t)
	sock := filepath.Join(dir, "hull.sock")
	rootfs := imgTar(t, 0, 0, "etc/", "", "etc/hello", "hello\n")

	for kind, body := range imgCompressed(t, rootfs) {
		a := imgCall(t, sock, "POST", "/v1.41/images/create?fromSrc=-&repo=imp&tag="+kind, body)
		msgs := imgStream(t, a.body)
		if a.status != 200 || len(msgs) != 1 || !strings.HasPrefix(fmt.Sprint(msgs[0]["status"]), "sha256:") {
			t.Errorf("import %s: %d %s, want one message with the id", kind, a.status, a.body)
			continue
		}
		if id := docker(t, env, "image", "inspect", "-f", "{{.Id}}", "imp:"+kind); id != msgs[0]["status"] {
			t.Errorf("import %s: message %v, image %s", kind, msgs[0], id)
		}
	}
	// Parameters.
	// Within one ENV, the values before it expand (C is x/); the next
	// ENV sees A.
	q := url.Values{"fromSrc": {"-"}, "repo": {"params:inrepo"}, "tag": {"1"}, "message": {"a message"}, "platform": {"linux/arm64"},
		"changes": {`ENV A=1 C=${A:-x}/$A`, `ENV B=${A:-x}/$A`, `CMD ["/bin/true"]`, `STOPSIGNAL SIGUSR1`}}
	if a := imgCall(t, sock, "POST", "/v1.41/images/create?"+q.Encode(), rootfs); a.status != 200 {
		t.Fatalf("import with parameters: %d %s", a.status, a.body)
	}
	got := docker(t, env, "image", "inspect", "-f", "{{.Comment}}|{{.Os}}/{{.Architecture}}/{{.Variant}}|{{json .Config.Env}}|{{json .Config.Cmd}}|{{.Config.StopSignal}}", "params:1")
	if want := `a message|linux/arm64/|["A=1","C=x/","B=1/1"]|["/bin/true"]|SIGUSR1`; got != want {
		t.Errorf("import with parameters: %s, want %s", got, want)
	}
	if h := docker(t, env, "history", "--format", "{{.Comment}}", "params:1"); h != "a message" {
		t.Errorf("history of the import: %q", h)
	}
	for _, c := range []struct {
		query  string
		status int
		msg    string
	}{
		{"repo=Bad", 400, "invalid reference format: repository name must be lowercase"},
		{"repo=ok&tag=bad%20tag", 400, "invalid tag format"},
		{"repo=ok@sha256:" + strings.Repeat("a", 64), 400, "cannot import digest reference"},
		{"repo=" + strings.Repeat("a", 64), 400, "invalid repository name (" + strings.Repeat("a", 64) + "), cannot specify 64-byte hexadecimal strings"},
		{"repo=sha256&tag=1", 400, "refusing to create an ambiguous tag using digest algorithm as name"},
		{"platform=windows/amd64", 400, "operating system is not supported"},
		{"platform=bogus", 400, `"bogus": unknown operating system or architecture: invalid argument`},
		{"changes=FROM%20x", 400, "from is not a valid change command"},
		{"changes=EXPOSE%20abc", 400, "invalid containerPort: abc"},
	} {
		imgWant(t, "import "+c.query, imgCall(t, sock, "POST", "/v1.41/images/create?fromSrc=-&"+c.query, rootfs), c.status, c.msg)
	}
	imgWant(t, "import of garbage", imgCall(t, sock, "POST", "/v1.41/images/create?fromSrc=-", []byte("not a tar at all, just text here")),
		400, "Error processing tar file(exit status 1): unexpected EOF")
	// A 64-hex tag is a tag, as with dockerd.
	if a := imgCall(t, sock, "POST", "/v1.41/images/create?fromSrc=-&repo=ok&tag="+strings.Repeat("b", 64), rootfs); a.status != 200 {
		t.Errorf("import with a 64-hex tag: %d %s", a.status, a.body)
	}

	// fromSrc=URL, on a loopback server.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/rootfs.tar.gz":
			w.Header().Set("Content-Length", fmt.Sprint(len(imgCompressed(t, rootfs)["gzip"])))
			w.Write(imgCompressed(t, rootfs)["gzip"])
		default:
			http.Error(w, "nothing here", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	a := imgCall(t, sock, "POST", "/v1.41/images/create?repo=fromurl&fromSrc="+url.QueryEscape(srv.URL+"/rootfs.tar.gz"), nil)
	msgs := imgStream(t, a.body)
	if a.status != 200 || len(msgs) < 2 || msgs[0]["status"] != "Downloading from "+srv.URL+"/rootfs.tar.gz" ||
		msgs[1]["status"] != "Importing" || !strings.HasPrefix(fmt.Sprint(msgs[len(msgs)-1]["status"]), "sha256:") {
		t.Errorf("import from a URL: %d %s", a.status, a.body)
	}
	if c := docker(t, env, "image", "inspect", "-f", "{{.Comment}}", "fromurl"); c != "Imported from "+srv.URL+"/rootfs.tar.gz" {
		t.Errorf("import from a URL: comment %q", c)
	}
	// Without a scheme: http://.
	if a := imgCall(t, sock, "POST", "/v1.41/images/create?repo=noscheme&fromSrc="+url.QueryEscape(strings.TrimPrefix(srv.URL, "http://")+"/rootfs.tar.gz"), nil); a.status != 200 {
		t.Errorf("import from a URL without a scheme: %d %s", a.status, a.body)
	}
	imgWant(t, "import from a missing URL", imgCall(t, sock, "POST", "/v1.41/images/create?fromSrc="+url.QueryEscape(srv.URL+"/nope"), nil),
		404, "failed to GET "+srv.URL+"/nope with status 404 Not Found: nothing here")
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close()
	imgWant(t, "import from a closed port", imgCall(t, sock, "POST", "/v1.41/images/create?fromSrc="+url.QueryEscape("http://"+closed+"/x"), nil),
		500, `Get "http://`+closed+`/x": dial tcp `+closed+`: connect: connection refused`)
	imgWant(t, "import from ftp", imgCall(t, sock, "POST", "/v1.41/images/create?fromSrc="+url.QueryEscape("ftp://"+closed+"/x"), nil),
		400, `Get "ftp://`+closed+`/x": unsupported protocol scheme "ftp"`)

	// Load: every compression; quiet (the default) gives the lines
	// only; an untagged last image gives one message of ID lines.
	docker(t, env, "tag", "imp:plain", "second:1")
	archive := filepath.Join(dir, "two.tar")
	untagged := docker(t, env, "image", "inspect", "-f", "{{.Id}}", "ok:"+strings.Repeat("b", 64))
	docker(t, env, "save", "-o", archive, "params:1", "second:1", untagged)
	raw, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	var manifest []struct{ Config string }
	if err := json.Unmarshal(imgTarFile(t, raw, "manifest.json"), &manifest); err != nil || len(manifest) != 3 {
		t.Fatalf("saved manifest: %v %v", manifest, err)
	}
	var ids string
	for _, m := range manifest {
		ids += "Loaded image ID: sha256:" + strings.TrimSuffix(filepath.Base(m.Config), ".json") + "\n"
	}
	for kind, body := range imgCompressed(t, raw) {
		a := imgCall(t, sock, "POST", "/v1.41/images/load", body)
		msgs := imgStream(t, a.body)
		var streams []string
		for _, m := range msgs {
			streams = append(streams, fmt.Sprint(m["stream"]))
		}
		if a.status != 200 || !slices.Equal(streams, []string{"Loaded image: params:1\n", "Loaded image: second:1\n", ids}) {
			t.Errorf("load %s: %d %s", kind, a.status, a.body)
		}
	}
	a = imgCall(t, sock, "POST", "/v1.41/images/load?quiet=1", []byte("not a tar at all, just text here"))
	if msgs := imgStream(t, a.body); a.status != 200 || len(msgs) != 1 || msgs[0]["error"] != "Error processing tar file(exit status 1): unexpected EOF" {
		t.Errorf("load of garbage: %d %s", a.status, a.body)
	}

	// Save: a repository alone saves all its tags; missing names in
	// dockerd's words.
	docker(t, env, "tag", "imp:plain", "imp:other")
	if a := imgCall(t, sock, "GET", "/v1.41/images/get?names=imp", nil); a.status != 200 {
		t.Errorf("save imp: %d %s", a.status, a.body)
	} else {
		var m []struct{ RepoTags []string }
		json.Unmarshal(imgTarFile(t, a.body, "manifest.json"), &m)
		var tags []string
		for _, x := range m {
			tags = append(tags, x.RepoTags...)
		}
		slices.Sort(tags)
		if !slices.Contains(tags, "imp:other") || !slices.Contains(tags, "imp:gzip") || !slices.Contains(tags, "imp:plain") {
			t.Errorf("save of a repository: tags %v", tags)
		}
	}
	imgWant(t, "save of a missing name", imgCall(t, sock, "GET", "/v1.41/images/get?names=imp:plain&names=nothere", nil), 404, "No such image: nothere")
	imgWant(t, "save of a missing tag", imgCall(t, sock, "GET", "/v1.41/images/get?names=imp:nothere", nil), 404, "reference does not exist")
	imgWant(t, "save of a bad name", imgCall(t, sock, "GET", "/v1.41/images/Bad/get", nil), 400, "invalid reference format: repository name must be lowercase")
	if _, errOut, code := dockerRun(t, env, "", "save", "-o", filepath.Join(dir, "x.tar"), "nothere"); code == 0 || !strings.Contains(errOut, "No such image: nothere") {
		t.Errorf("docker save nothere: %d %s", code, errOut)
	}
}

// imgTarFile reads file name out of the tar b.
func imgTarFile(t *testing.T, b []byte, name string) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s not in the tar: %v", name, err)
		}
		if h.Name == name {
			c, _ := io.ReadAll(tr)
			return c
		}
	}
}

// TestFidelityImageErrors: "No such image" with dockerd's normalization,
// bad references, tag's refusals, rmi's conflicts and answer shape,
// history's ids, inspect's shape by API version, commit --change.
func TestFidelityImageErrors(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	sock := filepath.Join(dir, "hull.sock")
	zeros := strings.Repeat("0", 64)
	for name, want := range map[string]struct {
		status int
		msg    string
	}{
		"nothere":                   {404, "No such image: nothere:latest"},
		"nothere:1":                 {404, "No such image: nothere:1"},
		"docker.io/library/nothere": {404, "No such image: nothere:latest"},
		"localhost:5000/x":          {404, "No such image: localhost:5000/x:latest"},
		zeros:                       {404, "No such image: sha256:" + zeros},
		"sha256:abc":                {404, "No such image: sha256:abc"},
		"nothere@sha256:" + zeros:   {404, "No such image: nothere@sha256:" + zeros},
		"Nothere":                   {400, "invalid reference format: repository name must be lowercase"},
		"a:b:c":                     {400, "invalid reference format"},
	} {
		e := strings.ReplaceAll(url.PathEscape(name), "%2F", "/")
		imgWant(t, "inspect "+name, imgCall(t, sock, "GET", "/v1.41/images/"+e+"/json", nil), want.status, want.msg)
		imgWant(t, "history "+name, imgCall(t, sock, "GET", "/v1.41/images/"+e+"/history", nil), want.status, want.msg)
		imgWant(t, "rmi "+name, imgCall(t, sock, "DELETE", "/v1.41/images/"+e, nil), want.status, want.msg)
		imgWant(t, "tag "+name, imgCall(t, sock, "POST", "/v1.41/images/"+e+"/tag?repo=x", nil), want.status, want.msg)
	}
	if _, errOut, code := dockerRun(t, env, "", "rmi", "nothere"); code == 0 || !strings.Contains(errOut, "No such image: nothere:latest") {
		t.Errorf("docker rmi nothere: %d %s", code, errOut)
	}

	// Tag's refusals.
	for query, want := range map[string]string{
		"":                                 "invalid reference format",
		"repo=New":                         "invalid reference format: repository name must be lowercase",
		"repo=new&tag=bad%20tag":           "invalid tag format",
		"repo=" + zeros:                    "invalid repository name (" + zeros + "), cannot specify 64-byte hexadecimal strings",
		"repo=new@sha256:" + zeros:         "refusing to create a tag with a digest reference",
		"repo=sha256:" + zeros:             "refusing to create an ambiguous tag using digest algorithm as name",
		"repo=new&tag=sha256:" + zeros[:8]: "invalid tag format",
	} {
		imgWant(t, "tag "+query, imgCall(t, sock, "POST", "/v1.41/images/e2e/busybox:1/tag?"+query, nil), 400, want)
	}
	if a := imgCall(t, sock, "POST", "/v1.41/images/e2e/busybox:1/tag?repo=new:inrepo&tag=x", nil); a.status != 201 {
		t.Errorf("tag repo:tag with tag: %d %s", a.status, a.body)
	}
	docker(t, env, "tag", "e2e/busybox:1", "aaa/first:1")
	if out := docker(t, env, "image", "inspect", "-f", "{{json .RepoTags}}", "new:x"); out != `["aaa/first:1","e2e/busybox:1","new:x"]` {
		t.Errorf("tags, sorted as dockerd: %s", out)
	}
	docker(t, env, "rmi", "aaa/first:1")

	// rmi: conflicts and answers.
	id := docker(t, env, "image", "inspect", "-f", "{{.Id}}", "e2e/busybox:1")
	short := strings.TrimPrefix(id, "sha256:")[:12]
	docker(t, env, "tag", "e2e/busybox:1", "other/repo:1")
	imgWant(t, "rmi by id with several repositories", imgCall(t, sock, "DELETE", "/v1.41/images/"+short, nil),
		409, "conflict: unable to delete "+short+" (must be forced) - image is referenced in multiple repositories")
	if a := imgCall(t, sock, "DELETE", "/v1.41/images/other/repo:1", nil); a.status != 200 || string(bytes.TrimSpace(a.body)) != `[{"Untagged":"other/repo:1"}]` {
		t.Errorf("untag: %d %s", a.status, a.body)
	}
	imgCall(t, sock, "DELETE", "/v1.41/images/new:x", nil)
	stopped := docker(t, env, "create", "e2e/busybox:1", "true")[:12]
	imgWant(t, "rmi of the last tag of a used image", imgCall(t, sock, "DELETE", "/v1.41/images/e2e/busybox:1", nil),
		409, `conflict: unable to remove repository reference "e2e/busybox:1" (must force) - container `+stopped+` is using its referenced image `+short)
	imgWant(t, "rmi by id of an image a stopped container uses", imgCall(t, sock, "DELETE", "/v1.41/images/"+short, nil),
		409, "conflict: unable to delete "+short+" (must be forced) - image is being used by stopped container "+stopped)
	running := docker(t, env, "run", "-d", "e2e/busybox:1", "sleep", "100")[:12]
	for _, q := range []string{"", "?force=1"} {
		imgWant(t, "rmi by id of an image a running container uses"+q, imgCall(t, sock, "DELETE", "/v1.41/images/"+short+q, nil),
			409, "conflict: unable to delete "+short+" (cannot be forced) - image is being used by running container "+running)
	}
	docker(t, env, "tag", "e2e/busybox:1", "keep:1")
	if a := imgCall(t, sock, "DELETE", "/v1.41/images/e2e/busybox:1?force=1", nil); a.status != 200 || string(bytes.TrimSpace(a.body)) != `[{"Untagged":"e2e/busybox:1"}]` {
		t.Errorf("forced untag: %d %s", a.status, a.body)
	}
	if a := imgCall(t, sock, "DELETE", "/v1.41/images/keep:1?force=1", nil); a.status != 200 || string(bytes.TrimSpace(a.body)) != `[{"Untagged":"keep:1"}]` {
		t.Errorf("forced removal of the last tag of a running image: %d %s (the image stays)", a.status, a.body)
	}
	if a := imgCall(t, sock, "GET", "/v1.41/images/"+id+"/json", nil); a.status != 200 {
		t.Errorf("the image a container runs went: %d %s", a.status, a.body)
	}
	docker(t, env, "tag", id, "e2e/busybox:1")
	docker(t, env, "rm", "-f", running, stopped)

	// Commit: --change as the builder applies it; the parent recorded.
	docker(t, env, "create", "--name", "cm", "-e", "B=bee", "e2e/busybox:1", "true")
	docker(t, env, "commit", "-c", `ENV A=$B C=${B:-x} D=${NOPE:-dflt} E=${B:+set} F=\$B`, "-c", "WORKDIR $B/w", "cm", "committed:1")
	got := docker(t, env, "image", "inspect", "-f", "{{json .Config.Env}}|{{.Config.WorkingDir}}|{{.Parent}}|{{len .RootFS.Layers}}", "committed:1")
	if !strings.Contains(got, `"B=bee","A=bee","C=bee","D=dflt","E=set","F=$B"]|/bee/w|`+id+`|1`) {
		t.Errorf("commit with changes: %s", got)
	}
	for change, want := range map[string]string{
		"FROM busybox":                    "from is not a valid change command",
		"RUN true":                        "run is not a valid change command",
		"ENV A":                           "ENV must have two arguments",
		"ONBUILD ONBUILD x":               "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
		`VOLUME ["/a", ""]`:               "VOLUME specified can not be an empty string",
		"HEALTHCHECK CMD":                 "Missing command after HEALTHCHECK CMD",
		"HEALTHCHECK --interval=x CMD ls": `time: invalid duration "x"`,
	} {
		imgWant(t, "commit --change "+change, imgCall(t, sock, "POST", "/v1.41/commit?container=cm&changes="+url.QueryEscape(change), nil), 400, want)
	}
	if _, errOut, code := dockerRun(t, env, "", "commit", "-c", "BOGUS x", "cm"); code == 0 || !strings.Contains(errOut, "bogus is not a valid change command") {
		t.Errorf("docker commit -c BOGUS: %d %s", code, errOut)
	}

	// History: the image's id and tags on top, its parent's below.
	var hist []struct {
		ID   string `json:"Id"`
		Tags []string
	}
	if err := json.Unmarshal(imgCall(t, sock, "GET", "/v1.41/images/committed:1/history", nil).body, &hist); err != nil || len(hist) != 2 {
		t.Fatalf("history: %v %v", hist, err)
	}
	cid := docker(t, env, "image", "inspect", "-f", "{{.Id}}", "committed:1")
	if hist[0].ID != cid || !slices.Equal(hist[0].Tags, []string{"committed:1"}) || hist[1].ID != id || !slices.Equal(hist[1].Tags, []string{"e2e/busybox:1"}) {
		t.Errorf("history %+v", hist)
	}
	// A parent stays while its child does; removing the child prunes it
	// once untagged.
	docker(t, env, "rm", "cm")
	imgWant(t, "rmi of a parent", imgCall(t, sock, "DELETE", "/v1.41/images/"+short+"?force=1", nil),
		409, "conflict: unable to delete "+short+" (cannot be forced) - image has dependent child images")
	if a := imgCall(t, sock, "DELETE", "/v1.41/images/e2e/busybox:1", nil); a.status != 200 || string(bytes.TrimSpace(a.body)) != `[{"Untagged":"e2e/busybox:1"}]` {
		t.Errorf("untag of a parent: %d %s", a.status, a.body)
	}
	a := imgCall(t, sock, "DELETE", "/v1.41/images/committed:1", nil)
	var del []map[string]string
	json.Unmarshal(a.body, &del)
	if a.status != 200 || len(del) < 3 || del[0]["Untagged"] != "committed:1" || del[1]["Deleted"] != cid || del[2]["Deleted"] != id {
		t.Errorf("rmi of a child with an untagged parent: %d %s", a.status, a.body)
	}

	// Inspect's shape by API version.
	docker(t, env, "import", filepath.Join(dir, "bb.tar"), "shape:1")
	for v, want := range map[string][]string{
		"1.41": {"Author", "Comment", "Container", "ContainerConfig", "DockerVersion", "Parent", "VirtualSize"},
		"1.44": {"Author", "Comment", "Container", "ContainerConfig", "DockerVersion", "Parent"},
		"1.45": {"Author", "Comment", "DockerVersion", "Parent"},
	} {
		var m map[string]json.RawMessage
		json.Unmarshal(imgCall(t, sock, "GET", "/v"+v+"/images/shape:1/json", nil).body, &m)
		for _, k := range want {
			if _, ok := m[k]; !ok {
				t.Errorf("inspect at %s: no %s in %v", v, k, imgKeys(m))
			}
		}
		var cfg map[string]json.RawMessage
		json.Unmarshal(m["Config"], &cfg)
		for _, k := range []string{"Hostname", "Env", "Entrypoint", "Labels", "OnBuild", "Volumes", "WorkingDir", "User", "Image"} {
			if _, ok := cfg[k]; !ok {
				t.Errorf("inspect at %s: no Config.%s in %v", v, k, imgKeys(cfg))
			}
		}
		if _, ok := m["VirtualSize"]; ok && v != "1.41" {
			t.Errorf("inspect at %s has VirtualSize", v)
		}
	}
}

// TestFidelityPullPush: a pull of what a registry on loopback lacks, and a
// push of what hull lacks, answer as dockerd.
func TestFidelityPullPush(t *testing.T) {
	requireDockerCLI(t)
	reg := distributionRegistry(t)
	env, dir := hullDaemon(t)
	sock := filepath.Join(dir, "hull.sock")
	imgWant(t, "pull of a missing repository", imgCall(t, sock, "POST", "/v1.41/images/create?fromImage="+reg+"/nothere&tag=latest", nil),
		404, "manifest for "+reg+"/nothere:latest not found: manifest unknown: manifest unknown")
	imgWant(t, "pull with a bad name", imgCall(t, sock, "POST", "/v1.41/images/create?fromImage="+reg+"/Bad&tag=latest", nil),
		400, "invalid reference format: repository name must be lowercase")
	imgWant(t, "pull with a bad tag", imgCall(t, sock, "POST", "/v1.41/images/create?fromImage="+reg+"/x&tag=bad%20tag", nil), 400, "invalid tag format")
	imgWant(t, "pull with a bad platform", imgCall(t, sock, "POST", "/v1.41/images/create?fromImage="+reg+"/x&tag=1&platform=bogus", nil),
		400, `"bogus": unknown operating system or architecture: invalid argument`)
	if _, errOut, code := dockerRun(t, env, "", "pull", reg+"/nothere"); code == 0 || !strings.Contains(errOut, "manifest for "+reg+"/nothere:latest not found: manifest unknown: manifest unknown") {
		t.Errorf("docker pull of a missing repository: %d %s", code, errOut)
	}
	a := imgCall(t, sock, "POST", "/v1.41/images/"+reg+"/nothere/push?tag=latest", nil)
	msgs := imgStream(t, a.body)
	if a.status != 200 || len(msgs) != 2 || msgs[0]["status"] != "The push refers to repository ["+reg+"/nothere]" ||
		msgs[1]["error"] != "An image does not exist locally with the tag: "+reg+"/nothere" {
		t.Errorf("push of a missing image: %d %s", a.status, a.body)
	}
}

// TestFidelitySearch: GET /images/search asks the index as dockerd does
// (a fake v1 index on loopback here), with dockerd's refusals; Docker
// Hub's index out of reach is dockerd's 500 with the client's error.
func TestFidelitySearch(t *testing.T) {
	requireDockerCLI(t)
	env, dir := hullDaemon(t)
	sock := filepath.Join(dir, "hull.sock")
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/search" {
			http.NotFound(w, r)
			return
		}
		asked = append(asked, r.URL.RawQuery)
		if r.URL.Query().Get("q") == "broken" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		fmt.Fprint(w, `{"num_results":2,"query":"box","results":[`+
			`{"name":"box","description":"the box","star_count":10,"is_official":true,"is_automated":true},`+
			`{"name":"someone/box","description":"another","star_count":1,"is_official":false}]}`)
	}))
	defer srv.Close()
	index := strings.TrimPrefix(srv.URL, "http://")
	a := imgCall(t, sock, "GET", "/v1.41/images/search?term="+url.QueryEscape(index+"/box"), nil)
	var found []map[string]any
	json.Unmarshal(a.body, &found)
	if want := `[map[description:the box is_automated:false is_official:true name:box star_count:10] map[description:another is_automated:false is_official:false name:someone/box star_count:1]]`; a.status != 200 || fmt.Sprint(found) != want {
		t.Errorf("search: %d %s", a.status, a.body)
	}
	if len(asked) != 1 || asked[0] != "q=box&n=25" {
		t.Errorf("the index was asked %v", asked)
	}
	filters := url.QueryEscape(`{"stars":{"5":true},"is-official":{"true":true}}`)
	if a := imgCall(t, sock, "GET", "/v1.41/images/search?limit=2&filters="+filters+"&term="+url.QueryEscape(index+"/box"), nil); a.status != 200 || strings.Count(string(a.body), `"name"`) != 1 {
		t.Errorf("search with filters: %d %s", a.status, a.body)
	}
	if out := docker(t, env, "search", "--format", "{{.Name}} {{.StarCount}}", index+"/box"); out != "box 10\nsomeone/box 1" {
		t.Errorf("docker search: %q", out)
	}
	for q, want := range map[string]struct {
		status int
		msg    string
	}{
		"term=box&limit=0":   {400, "Limit 0 is outside the range of [1, 100]"},
		"term=box&limit=101": {400, "Limit 101 is outside the range of [1, 100]"},
		"term=box&limit=x":   {400, `invalid limit specified: strconv.Atoi: parsing "x": invalid syntax`},
		"term=box&filters=" + url.QueryEscape(`{"bogus":{"1":true}}`): {400, "Invalid filter 'bogus'"},
		"term=box&filters=" + url.QueryEscape(`{"stars":{"x":true}}`): {400, "Invalid filter 'stars=x'"},
		"term=" + url.QueryEscape("http://x/y"):                       {400, `Invalid repository name (ex: "registry.domain.tld/myrepos")`},
		"term=" + url.QueryEscape(index+"/broken"):                    {500, "Unexpected status code 404"},
	} {
		imgWant(t, "search "+q, imgCall(t, sock, "GET", "/v1.41/images/search?"+q, nil), want.status, want.msg)
	}
	// Docker Hub's index: found, or out of reach in the client's words.
	if a := imgCall(t, sock, "GET", "/v1.41/images/search?term=busybox", nil); a.status != 200 &&
		(a.status != 500 || !strings.HasPrefix(a.message(), `Get "https://index.docker.io/v1/search?q=busybox&n=25"`)) {
		t.Errorf("search of Docker Hub: %d %s", a.status, a.body)
	}
}
