package image

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
)

func TestImport(t *testing.T) {
	ctx := context.Background()
	rootfs := busyboxRootfs(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(rootfs)
	zw.Close()

	s := newTestStore(t)
	changes := []string{
		`CMD ["/bin/sh", "-c", "echo hi"]`,
		`ENTRYPOINT /bin/echo`,
		`ENV A=1 B="two words"`,
		`ENV C three words`,
		`WORKDIR /srv`,
		`WORKDIR data`,
		`EXPOSE 80 53/udp 8000-8001`,
		`LABEL org.example.a=1 "org.example.b"="x y"`,
		`USER nobody`,
		`VOLUME ["/data", "/logs"]`,
		`VOLUME /cache`,
		`STOPSIGNAL SIGTERM`,
		`ONBUILD RUN echo child`,
		`HEALTHCHECK --interval=5s --retries=2 CMD ls /`,
	}
	before := time.Now().UTC().Add(-time.Second)
	id, err := s.Import(ctx, onlyReader{bytes.NewReader(gz.Bytes())}, ImportOptions{Repo: "imported:v1", Changes: changes})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Inspect(ctx, "imported:v1")
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != id || !slices.Equal(d.RootFS.Layers, []string{digestOf(rootfs)}) {
		t.Errorf("id %s layers %v, want %s [%s]", d.ID, d.RootFS.Layers, id, digestOf(rootfs))
	}
	if d.Os != runtime.GOOS || d.Architecture != runtime.GOARCH || d.Created.Before(before) {
		t.Errorf("platform/created: %s/%s %v", d.Os, d.Architecture, d.Created)
	}
	c := d.Config
	want := Config{
		Cmd:          []string{"/bin/sh", "-c", "echo hi"},
		Entrypoint:   []string{"/bin/sh", "-c", "/bin/echo"},
		Env:          []string{"A=1", "B=two words", "C=three words"},
		WorkingDir:   "/srv/data",
		ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}},
		Labels:       map[string]string{"org.example.a": "1", "org.example.b": "x y"},
		User:         "nobody",
		Volumes:      map[string]struct{}{"/data": {}, "/logs": {}, "/cache": {}},
		StopSignal:   "SIGTERM",
		OnBuild:      []string{"RUN echo child"},
		Healthcheck:  &HealthConfig{Test: []string{"CMD-SHELL", "ls /"}, Interval: 5 * time.Second, Retries: 2},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("config\n got %+v\nwant %+v", c, want)
	}
	h, err := s.History(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 || h[0].Comment != "Imported from -" || h[0].ID != id || h[0].Size == 0 ||
		!slices.Equal(h[0].Tags, []string{"imported:v1"}) {
		t.Errorf("history %+v", h)
	}
	// The layer is named by its chain id, which for a base is its diff id.
	if ids := s.layerIDs(t); !slices.Equal(ids, []string{hexOf(digestOf(rootfs))}) {
		t.Errorf("layers %v", ids)
	}

	// Save gives back the tar as imported.
	var saved bytes.Buffer
	if err := s.Save(ctx, []string{id}, &saved, ""); err != nil {
		t.Fatal(err)
	}
	files, _ := tarEntries(t, saved.Bytes())
	if !bytes.Equal(files[blobPath(digestOf(rootfs))], rootfs) {
		t.Error("saved layer differs from the imported tar")
	}

	// Importing the same tree again shares the layer.
	id2, err := s.Import(ctx, bytes.NewReader(rootfs), ImportOptions{Changes: []string{"CMD /bin/ls"}})
	if err != nil {
		t.Fatal(err)
	}
	if id2 == id || len(s.layerIDs(t)) != 1 {
		t.Errorf("second import: %s, layers %v", id2, s.layerIDs(t))
	}
}

func TestImportBadInput(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	rootfs := smallLayer(t, "f", "x")
	for _, c := range []struct {
		ref     string
		changes []string
	}{
		{"", []string{"RUN echo no"}},
		{"", []string{"FROM busybox"}},
		{"", []string{"EXPOSE 99999"}},
		{"", []string{"EXPOSE"}},
		{"", []string{`ENV "unterminated`}},
		{"", []string{"ENV =x"}},
		{"", []string{"USER"}},
		{"", []string{"STOPSIGNAL SIGNOPE"}},
		{"", []string{""}},
		{"", []string{"ONBUILD FROM x"}},
		{"", []string{"HEALTHCHECK --bogus=1 CMD true"}},
		{"Bad:Ref", nil},
		{"x@sha256:" + hexOf(digestOf(nil)), nil},
	} {
		_, err := s.Import(ctx, bytes.NewReader(rootfs), ImportOptions{Repo: c.ref, Changes: c.changes})
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("import %q %q: %v, want invalid argument", c.ref, c.changes, err)
		}
	}
	if _, err := s.Import(ctx, bytes.NewReader([]byte("not a tar at all, really not")), ImportOptions{}); err == nil {
		t.Error("imported garbage")
	}
	s.assertEmpty(t)
}

func TestApplyChanges(t *testing.T) {
	for _, c := range []struct {
		change string
		want   Config
	}{
		{`CMD echo "a b"`, Config{Cmd: []string{"/bin/sh", "-c", `echo "a b"`}}},
		{`cmd ["ls","-l"]`, Config{Cmd: []string{"ls", "-l"}}},
		{`CMD []`, Config{Cmd: []string{}}},
		{`CMD [not json`, Config{Cmd: []string{"/bin/sh", "-c", "[not json"}}},
		{`ENTRYPOINT ["/init"]`, Config{Entrypoint: []string{"/init"}}},
		{`ENV PATH=/usr/bin:/bin`, Config{Env: []string{"PATH=/usr/bin:/bin"}}},
		{`ENV X=a\ b Y='c d'`, Config{Env: []string{"X=a b", "Y=c d"}}},
		{`LABEL a=b`, Config{Labels: map[string]string{"a": "b"}}},
		{`EXPOSE 8080/TCP`, Config{ExposedPorts: map[string]struct{}{"8080/tcp": {}}}},
		{`USER 1000:1000`, Config{User: "1000:1000"}},
		{`WORKDIR /a/b`, Config{WorkingDir: "/a/b"}},
		{`WORKDIR rel`, Config{WorkingDir: "/rel"}},
		{`VOLUME /a /b`, Config{Volumes: map[string]struct{}{"/a": {}, "/b": {}}}},
		{`HEALTHCHECK NONE`, Config{Healthcheck: &HealthConfig{Test: []string{"NONE"}}}},
		{`HEALTHCHECK CMD ["true"]`, Config{Healthcheck: &HealthConfig{Test: []string{"CMD", "true"}}}},
		{"ENV A=1 \\\n B=2", Config{Env: []string{"A=1", "B=2"}}},
	} {
		var got Config
		if err := ApplyChanges(&got, []string{c.change}); err != nil {
			t.Errorf("%q: %v", c.change, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %+v, want %+v", c.change, got, c.want)
		}
	}
	// ENV replaces a variable already set.
	c := Config{Env: []string{"A=1", "B=2"}}
	if err := ApplyChanges(&c, []string{"ENV A=3"}); err != nil || !slices.Equal(c.Env, []string{"A=3", "B=2"}) {
		t.Errorf("env %v %v", c.Env, err)
	}
	err := ApplyChanges(&c, []string{"ADD . /"})
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("ADD: %v", err)
	}
}
