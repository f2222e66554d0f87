package gptq

// #include "helpers.h"
import "C"

import (
	"errors"
	"fmt"
)

// Status is a gptq_status code of the C API.
type Status int

// The status codes (values pinned by the C header).
const (
	StatusInvalidArgument     Status = C.GPTQ_ERR_INVALID_ARGUMENT
	StatusShape               Status = C.GPTQ_ERR_SHAPE
	StatusUnsupported         Status = C.GPTQ_ERR_UNSUPPORTED
	StatusNonFinite           Status = C.GPTQ_ERR_NON_FINITE
	StatusNotPositiveDefinite Status = C.GPTQ_ERR_NOT_POSITIVE_DEFINITE
	StatusOutOfMemory         Status = C.GPTQ_ERR_OUT_OF_MEMORY
	StatusBackendUnavailable  Status = C.GPTQ_ERR_BACKEND_UNAVAILABLE
	StatusDevice              Status = C.GPTQ_ERR_DEVICE
	StatusDeviceOutOfMemory   Status = C.GPTQ_ERR_DEVICE_OUT_OF_MEMORY
	StatusIO                  Status = C.GPTQ_ERR_IO
	StatusFormat              Status = C.GPTQ_ERR_FORMAT
	StatusCancelled           Status = C.GPTQ_ERR_CANCELLED
	StatusWrongContext        Status = C.GPTQ_ERR_WRONG_CONTEXT
	StatusInternal            Status = C.GPTQ_ERR_INTERNAL
)

// String is the library's short description ("shape error", ...).
func (s Status) String() string {
	return C.GoString(C.gptq_status_string(C.gptq_status(s)))
}

// Error is a failed call: its status and a message naming the argument, shape or layer.
// Test for a kind with errors.As and Status, e.g. `var e *gptq.Error; errors.As(err, &e) &&
// e.Status == gptq.StatusShape`.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("gptq: %s: %s", e.Status, e.Message) }

// ErrClosed is returned for a call on a closed Context, Hessian or QLayer.
var ErrClosed = errors.New("gptq: use of a closed object")

func shapeError(format string, args ...interface{}) error {
	return &Error{Status: StatusShape, Message: fmt.Sprintf(format, args...)}
}

func check(st C.gptq_status, ctx *C.gptq_ctx) error {
	if st == C.GPTQ_OK {
		return nil
	}
	return &Error{Status: Status(st), Message: C.GoString(C.gptq_last_error(ctx))}
}
