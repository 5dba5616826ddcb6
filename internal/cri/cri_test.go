package cri

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hullproject/hull/internal/errdefs"
)

func TestGRPCError(t *testing.T) {
	for _, c := range []struct {
		err  error
		code codes.Code
	}{
		{fmt.Errorf("container %q: %w", "x", errdefs.ErrNotFound), codes.NotFound},
		{fmt.Errorf("bad: %w", errdefs.ErrInvalidArgument), codes.InvalidArgument},
		{fmt.Errorf("running: %w", errdefs.ErrConflict), codes.FailedPrecondition},
		{fmt.Errorf("name: %w", errdefs.ErrAlreadyExists), codes.AlreadyExists},
		{fmt.Errorf("no: %w", errdefs.ErrNotImplemented), codes.Unimplemented},
		{fmt.Errorf("pull: %w", errdefs.ErrUnauthorized), codes.Unauthenticated},
		{fmt.Errorf("exec: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{status.Error(codes.DeadlineExceeded, "timed out"), codes.DeadlineExceeded},
		{fmt.Errorf("plain"), codes.Unknown},
	} {
		if got := status.Code(grpcError(c.err)); got != c.code {
			t.Errorf("%v: %v, want %v", c.err, got, c.code)
		}
	}
}

func TestQualifyAndUser(t *testing.T) {
	got := qualify([]string{"busybox:1", "127.0.0.1:5000/a/b:2", "quay.io/x/y@sha256:" + fmt.Sprintf("%064d", 0)})
	want := []string{"docker.io/library/busybox:1", "127.0.0.1:5000/a/b:2", "quay.io/x/y@sha256:" + fmt.Sprintf("%064d", 0)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("qualify: %v, want %v", got, want)
	}
	for _, c := range []struct {
		user string
		uid  int64
		name string
	}{{"", -1, ""}, {"1000", 1000, ""}, {"1000:1000", 1000, ""}, {"nobody", -1, "nobody"}, {"app:grp", -1, "app"}} {
		uid, name := imageUser(c.user)
		if n := int64(-1); uid != nil {
			n = uid.Value
			if n != c.uid {
				t.Errorf("imageUser(%q) uid %d, want %d", c.user, n, c.uid)
			}
		} else if c.uid != -1 {
			t.Errorf("imageUser(%q): no uid, want %d", c.user, c.uid)
		}
		if name != c.name {
			t.Errorf("imageUser(%q) name %q, want %q", c.user, name, c.name)
		}
	}
	if checkHandler("") != nil || checkHandler("hull") != nil || !errdefs.IsInvalidArgument(checkHandler("runc")) {
		t.Error("checkHandler: the default handler and hull's are taken, others refused")
	}
}
