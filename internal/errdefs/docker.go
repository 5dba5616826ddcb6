package errdefs

import (
	"errors"
	"fmt"
	"strings"
)

// dockerError is an error whose message is the text dockerd answers, word
// for word, because clients match on it.
type dockerError struct {
	msg  string
	kind error
}

func (e *dockerError) Error() string { return e.msg }
func (e *dockerError) Unwrap() error { return e.kind }

// Dockerf returns an error of kind (one of the Err* kinds) whose message is
// exactly the formatted text, as dockerd writes it: the kind's name is not
// appended, and internal/server answers this text alone even when context
// was wrapped around the error on its way up (see DockerMessage). Use it
// where clients match on dockerd's words ("No such image: busybox:latest").
func Dockerf(kind error, format string, a ...any) error {
	return &dockerError{msg: fmt.Sprintf(format, a...), kind: kind}
}

// DockerMessage returns the message of the outermost error made by Dockerf
// in err's chain, and whether there is one.
func DockerMessage(err error) (string, bool) {
	var d *dockerError
	if errors.As(err, &d) {
		return d.msg, true
	}
	return "", false
}

// errorKinds are the kinds whose text a message ends with when an error was
// classified with %w at its end.
var errorKinds = []error{ErrNotFound, ErrInvalidArgument, ErrConflict, ErrAlreadyExists,
	ErrNotImplemented, ErrUnavailable, ErrUnauthorized, ErrDataLoss, ErrLimit,
	ErrNotModified, ErrForbidden}

// Message is err's message as a client reads it — the API's error answer,
// and a container's State.Error: dockerd's own words when err carries them
// (Dockerf), else the text without the trailing kind (": invalid argument")
// that classifying with %w appends, once for each time it was appended,
// since the status code says it and clients match dockerd's texts word for
// word. A not-found message keeps its kind unless it says so in words ("No
// such container: x"), so that "image \"x\": not found" stays whole.
func Message(err error) string {
	if m, ok := DockerMessage(err); ok {
		return m
	}
	msg := err.Error()
	for _, k := range errorKinds {
		n := kindWraps(err, k)
		if n == 0 {
			continue
		}
		t := msg
		for ; n > 0; n-- {
			s, ok := strings.CutSuffix(t, ": "+k.Error())
			if !ok || s == "" {
				break
			}
			t = s
		}
		if t == msg {
			continue
		}
		if k == ErrNotFound {
			l := strings.ToLower(t)
			if !strings.Contains(l, "no such") && !strings.Contains(l, "not found") && !strings.Contains(l, "not exist") {
				continue
			}
		}
		return t
	}
	return msg
}

// kindWraps counts the errors in err's tree that wrap the kind k itself
// (fmt.Errorf("…: %w", k)): each appended k's text to the message.
func kindWraps(err, k error) int {
	switch x := err.(type) {
	case interface{ Unwrap() error }:
		if u := x.Unwrap(); u == k {
			return 1
		} else if u != nil {
			return kindWraps(u, k)
		}
	case interface{ Unwrap() []error }:
		n := 0
		for _, u := range x.Unwrap() {
			if u == k {
				n++
			} else if u != nil {
				n += kindWraps(u, k)
			}
		}
		return n
	}
	return 0
}
