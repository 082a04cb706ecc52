package arm

import (
	"errors"
	"io"
)

var errEOF = io.EOF

func asErr(err error, target any) bool { return errors.As(err, target) }
