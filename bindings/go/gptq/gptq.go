// Package gptq is the Go binding of libgptq: GPTQ quantization of linear layers, the
// checkpoint tensors of the result, and quantized matrix products.
//
// The library is found through pkg-config (`#cgo pkg-config: gptq`): with libgptq
// installed to a prefix, set PKG_CONFIG_PATH=<prefix>/lib/pkgconfig. Matrices are
// row-major []float32. Every object must be closed; closing a Context closes the Hessians
// and layers made with it. A Context and its objects are for one goroutine at a time.
package gptq

// #include "helpers.h"
import "C"

import (
	"fmt"
	"unsafe"
)

// Backend selects the compute backend of a Context.
type Backend int

// The backends (values pinned by the C header).
const (
	Auto   Backend = C.GPTQ_BACKEND_AUTO
	CPU    Backend = C.GPTQ_BACKEND_CPU
	Vulkan Backend = C.GPTQ_BACKEND_VULKAN
	CUDA   Backend = C.GPTQ_BACKEND_CUDA
)

// Available reports whether a backend is compiled in and has a usable device.
func (b Backend) Available() bool { return C.gptq_backend_available(C.gptq_backend(b)) != 0 }

// Version is the library's version string ("0.1.0").
func Version() string { return C.GoString(C.gptq_version_string()) }

type closer interface{ Close() error }

// Context is a gptq_ctx: one backend instance.
type Context struct {
	c        *C.gptq_ctx
	children map[closer]struct{}
}

// NewContext creates a context on backend b with the default device and all CPU threads.
func NewContext(b Backend) (*Context, error) { return NewContextWith(b, 0, 0) }

// NewContextWith also chooses the device (among the backend's) and the CPU thread count
// (0 = all cores).
func NewContextWith(b Backend, device, threads int) (*Context, error) {
	var c *C.gptq_ctx
	if err := check(C.go_ctx_create(C.gptq_backend(b), C.int(device), C.int(threads), &c), nil); err != nil {
		return nil, err
	}
	return &Context{c: c, children: map[closer]struct{}{}}, nil
}

// Close closes the context's Hessians and layers, then the context. A second Close
// returns ErrClosed.
func (ctx *Context) Close() error {
	if ctx.c == nil {
		return ErrClosed
	}
	for child := range ctx.children {
		child.Close()
	}
	C.gptq_ctx_destroy(ctx.c)
	ctx.c = nil
	return nil
}

// DeviceName is a human-readable name of the device ("CPU (2 threads)").
func (ctx *Context) DeviceName() string {
	if ctx.c == nil {
		return ""
	}
	return C.GoString(C.gptq_ctx_device_name(ctx.c))
}

func (ctx *Context) check(st C.gptq_status) error { return check(st, ctx.c) }

// Hessian accumulates H = (2/n) sum x x^T for a layer with K inputs.
type Hessian struct {
	ctx *Context
	h   *C.gptq_hessian
	K   int
}

// NewHessian creates an empty accumulator for a layer with k inputs.
func (ctx *Context) NewHessian(k int) (*Hessian, error) {
	if ctx.c == nil {
		return nil, ErrClosed
	}
	var h *C.gptq_hessian
	if err := ctx.check(C.gptq_hessian_create(ctx.c, C.int64_t(k), &h)); err != nil {
		return nil, err
	}
	hess := &Hessian{ctx, h, k}
	ctx.children[hess] = struct{}{}
	return hess, nil
}

// Close frees the accumulator; a second Close returns ErrClosed.
func (h *Hessian) Close() error {
	if h.h == nil {
		return ErrClosed
	}
	C.gptq_hessian_destroy(h.h)
	h.h = nil
	delete(h.ctx.children, h)
	return nil
}

// rowsOf checks that a row-major matrix named name has a positive multiple of cols values.
func rowsOf(name string, values, cols int) (int, error) {
	if cols <= 0 || values == 0 || values%cols != 0 {
		return 0, shapeError("%s: %d values, not a positive multiple of its %d columns", name, values, cols)
	}
	return values / cols, nil
}

// Add accumulates activations x [tokens x K].
func (h *Hessian) Add(x []float32) error {
	if h.h == nil {
		return ErrClosed
	}
	rows, err := rowsOf("x", len(x), h.K)
	if err != nil {
		return err
	}
	return h.ctx.check(C.go_hessian_add(h.h, (*C.float)(&x[0]), C.int64_t(rows), C.int64_t(h.K)))
}

// Tokens is the number of activation rows added so far.
func (h *Hessian) Tokens() int64 { return int64(C.gptq_hessian_tokens(h.h)) }

// Get returns the scaled Hessian [K x K].
func (h *Hessian) Get() ([]float32, error) {
	if h.h == nil {
		return nil, ErrClosed
	}
	out := make([]float32, h.K*h.K)
	return out, h.ctx.check(C.gptq_hessian_get(h.h, f32p(out), C.size_t(len(out))))
}

// Set replaces the accumulated state by a scaled, symmetric [K x K] matrix; tokens is
// recorded for the report only.
func (h *Hessian) Set(m []float32, tokens int64) error {
	if h.h == nil {
		return ErrClosed
	}
	if len(m) != h.K*h.K {
		return shapeError("m: %d values, expected %d x %d", len(m), h.K, h.K)
	}
	return h.ctx.check(C.gptq_hessian_set(h.h, f32p(m), C.int64_t(h.K), C.int64_t(tokens)))
}

// Report is what quantizing one layer reported (gptq_quant_report).
type Report struct {
	Loss           float64 // sum of (w - q)^2 / d^2 / 2
	RelOutputError float64 // tr(D H D^T) / tr(W H W^T), D = W - Q
	DampUsed       float64
	DampRetries    int
	DeadColumns    int64
	Seconds        float64
}

// Quantize runs GPTQ on w [n x K] (K = h.K) with opts (nil: DefaultOptions()).
func (ctx *Context) Quantize(w []float32, h *Hessian, opts *Options) (*QLayer, Report, error) {
	if h == nil || h.h == nil {
		return nil, Report{}, fmt.Errorf("gptq: Quantize: h: %w", ErrClosed)
	}
	return ctx.quantize(w, h.K, h.h, opts, false)
}

// QuantizeRTN rounds w [n x k] to nearest on the same grid (the baseline GPTQ beats).
// DescAct, StaticGroups and the damping options are ignored.
func (ctx *Context) QuantizeRTN(w []float32, k int, opts *Options) (*QLayer, error) {
	q, _, err := ctx.quantize(w, k, nil, opts, true)
	return q, err
}

func (ctx *Context) quantize(w []float32, k int, h *C.gptq_hessian, opts *Options, rtn bool) (*QLayer, Report, error) {
	if ctx.c == nil {
		return nil, Report{}, ErrClosed
	}
	n, err := rowsOf("w", len(w), k)
	if err != nil {
		return nil, Report{}, err
	}
	p, release := opts.params()
	defer release()
	var q *C.gptq_qlayer
	var rep C.gptq_quant_report
	rtnFlag := C.int(0)
	if rtn {
		rtnFlag = 1
	}
	st := C.go_quantize(ctx.c, &p, (*C.float)(&w[0]), C.int64_t(n), C.int64_t(k), h, rtnFlag, &q, &rep)
	if err := ctx.check(st); err != nil {
		return nil, Report{}, err
	}
	layer, err := ctx.adopt(q)
	r := Report{float64(rep.loss), float64(rep.rel_output_error), float64(rep.damp_used),
		int(rep.damp_retries), int64(rep.dead_columns), float64(rep.seconds)}
	return layer, r, err
}

// Packed is a layer in checkpoint layout, for LayerFromPacked. Slice lengths must be the
// sizes a layer of this N, K, Bits and GroupSize has (see Info); GIdx may be nil.
type Packed struct {
	N, K, Bits, GroupSize int
	ZerosFormat           ZerosFormat
	QWeight, QZeros       []int32
	Scales                []uint16 // IEEE fp16 bit patterns
	GIdx                  []int32
}

// packedLen is the number of int32 words that hold n codes of the given width.
func packedLen(n, bits int) int {
	if bits == 3 {
		return (n + 31) / 32 * 3
	}
	return (n + 32/bits - 1) / (32 / bits)
}

// LayerFromPacked builds a layer from checkpoint tensors.
func (ctx *Context) LayerFromPacked(p Packed) (*QLayer, error) {
	if ctx.c == nil {
		return nil, ErrClosed
	}
	if p.Bits != 2 && p.Bits != 3 && p.Bits != 4 && p.Bits != 8 || p.GroupSize == 0 || p.GroupSize < -1 || p.N <= 0 || p.K <= 0 {
		return nil, &Error{StatusUnsupported, fmt.Sprintf("LayerFromPacked: bits %d, group size %d, %d x %d", p.Bits, p.GroupSize, p.N, p.K)}
	}
	groups := 1
	if p.GroupSize > 0 {
		groups = (p.K + p.GroupSize - 1) / p.GroupSize
	}
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"QWeight", len(p.QWeight), packedLen(p.K, p.Bits) * p.N},
		{"QZeros", len(p.QZeros), groups * packedLen(p.N, p.Bits)},
		{"Scales", len(p.Scales), groups * p.N},
	} {
		if c.got != c.want {
			return nil, shapeError("%s: %d values, expected %d", c.name, c.got, c.want)
		}
	}
	var gIdx *C.int32_t
	if p.GIdx != nil {
		if len(p.GIdx) != p.K {
			return nil, shapeError("GIdx: %d values, expected %d", len(p.GIdx), p.K)
		}
		gIdx = (*C.int32_t)(&p.GIdx[0])
	}
	var q *C.gptq_qlayer
	st := C.go_from_packed(ctx.c, C.int64_t(p.N), C.int64_t(p.K), C.int(p.Bits), C.int(p.GroupSize),
		C.gptq_zeros_format(p.ZerosFormat), (*C.int32_t)(&p.QWeight[0]), (*C.int32_t)(&p.QZeros[0]),
		(*C.uint16_t)(&p.Scales[0]), gIdx, &q)
	if err := ctx.check(st); err != nil {
		return nil, err
	}
	return ctx.adopt(q)
}

// Pointer helpers for the getters; an empty slice has no element to point at.
func i32p(s []int32) *C.int32_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.int32_t)(unsafe.Pointer(&s[0]))
}

func f32p(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}
