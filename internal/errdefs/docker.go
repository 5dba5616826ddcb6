package errdefs

import (
	"errors"
	"fmt"
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
