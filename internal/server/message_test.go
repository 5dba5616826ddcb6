package server

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hullproject/hull/internal/errdefs"
)

type exact struct{ msg string }

func (e exact) Error() string        { return e.msg }
func (e exact) Is(target error) bool { return target == errdefs.ErrInvalidArgument }

func TestPublicMessage(t *testing.T) {
	inner := fmt.Errorf("no such file or directory: %w", errdefs.ErrInvalidArgument)
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("Invalid container name (a): %w", errdefs.ErrInvalidArgument), "Invalid container name (a)"},
		{fmt.Errorf("No such container: x: %w", errdefs.ErrNotFound), "No such container: x"},
		{fmt.Errorf("image %q: %w", "x", errdefs.ErrNotFound), `image "x": not found`},
		{fmt.Errorf("%w: %w", inner, errdefs.ErrInvalidArgument), "no such file or directory"},
		{fmt.Errorf("Cannot update container 1: %w", fmt.Errorf("busy: %w", errdefs.ErrConflict)), "Cannot update container 1: busy"},
		{exact{"shares: invalid argument"}, "shares: invalid argument"},
		{errors.New("plain: invalid argument"), "plain: invalid argument"},
	} {
		if got := publicMessage(c.err); got != c.want {
			t.Errorf("publicMessage(%q) = %q, want %q", c.err, got, c.want)
		}
	}
}
