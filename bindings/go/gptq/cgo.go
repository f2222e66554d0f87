package gptq

// The C side of the binding: compile flags from pkg-config, and helpers (helpers.c) that
// build the C structs, because cgo forbids Go memory that holds Go pointers from reaching C.

/*
#cgo pkg-config: gptq
#include "helpers.h"
*/
import "C"
