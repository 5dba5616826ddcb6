package image

import (
	"archive/tar"
	"bytes"
	"context"
	"testing"

	"github.com/hullproject/hull/internal/errdefs"
)

// TestCommit: a diff on top of an image becomes a second layer with the
// parent's history and a new entry; bad input leaves nothing.
func TestCommit(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	parent, err := s.Import(ctx, bytes.NewReader(busyboxRootfs(t)), ImportOptions{Repo: "base:1"})
	if err != nil {
		t.Fatal(err)
	}
	var diff bytes.Buffer
	tw := tar.NewWriter(&diff)
	tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("hi"))
	tw.Close()
	id, err := s.Commit(ctx, "base:1", &diff, CommitOptions{Ref: "child:1", Config: Config{Cmd: []string{"sh"}}, Changes: []string{"ENV A=1"}, Comment: "c", CreatedBy: "sh"})
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Get(ctx, "child:1")
	if err != nil || img.ID != id || img.ID == parent {
		t.Fatalf("get: %+v %v", img, err)
	}
	det, _ := s.Inspect(ctx, id)
	if len(det.RootFS.Layers) != 2 || det.Config.Env[0] != "A=1" || det.Comment != "c" {
		t.Errorf("inspect: %+v", det)
	}
	h, _ := s.History(ctx, id)
	if len(h) != 2 || h[0].Comment != "c" || h[1].Comment != "Imported from -" {
		t.Errorf("history: %+v", h)
	}
	before, _ := s.layers.List(ctx)
	if _, err := s.Commit(ctx, "base:1", bytes.NewReader([]byte("not a tar")), CommitOptions{}); err == nil {
		t.Error("a broken diff was committed")
	}
	if _, err := s.Commit(ctx, "base:1", &bytes.Buffer{}, CommitOptions{Ref: "Bad:Ref"}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad ref: %v", err)
	}
	if _, err := s.Commit(ctx, "nothere:1", &bytes.Buffer{}, CommitOptions{}); !errdefs.IsNotFound(err) {
		t.Errorf("missing parent: %v", err)
	}
	if after, _ := s.layers.List(ctx); len(after) != len(before) {
		t.Errorf("failed commits left layers: %d -> %d", len(before), len(after))
	}
}
