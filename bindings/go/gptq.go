// Package gptq is a small cgo binding of libgptq (include/gptq/gptq.h): contexts, Hessian
// accumulation, GPTQ quantization, checkpoint tensors and the quantized matmul.
//
// Build with CGO_CFLAGS=-I<prefix>/include and CGO_LDFLAGS=-L<prefix>/lib (or an installed
// libgptq on the default paths). Objects must be closed before their Context.
package gptq

/*
#cgo LDFLAGS: -lgptq
#include <gptq/gptq.h>

// cgo forbids Go memory that holds Go pointers from reaching C, so structs that point at
// Go slices are assembled here, on the C side, from plain pointer arguments.
static gptq_status go_hessian_add(gptq_hessian *h, const float *x, int64_t rows, int64_t cols) {
	gptq_matrix m = {x, GPTQ_DTYPE_F32, rows, cols, 0};
	return gptq_hessian_add(h, &m);
}

static gptq_status go_quantize(gptq_ctx *ctx, const float *w, int64_t n, int64_t k,
                               const gptq_hessian *h, int bits, int group_size, int sym,
                               int desc_act, gptq_qlayer **out, gptq_quant_report *rep) {
	gptq_quant_params p;
	gptq_quant_params_init(&p);
	p.bits = bits;
	p.group_size = group_size;
	p.sym = sym;
	p.desc_act = desc_act;
	gptq_matrix m = {w, GPTQ_DTYPE_F32, n, k, 0};
	rep->struct_size = sizeof *rep;
	return gptq_quantize_layer(ctx, &p, &m, h, out, rep);
}

static gptq_status go_matmul(gptq_ctx *ctx, const gptq_qlayer *q, const float *x, int64_t rows,
                             int64_t cols, float *y) {
	gptq_matrix m = {x, GPTQ_DTYPE_F32, rows, cols, 0};
	return gptq_matmul_q(ctx, q, &m, y, 0);
}

static gptq_status go_ctx_create(gptq_backend b, gptq_ctx **out) {
	gptq_ctx_params p;
	gptq_ctx_params_init(&p);
	p.backend = b;
	return gptq_ctx_create(&p, out);
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Backend selects the compute backend of a Context.
type Backend int

const (
	Auto   Backend = C.GPTQ_BACKEND_AUTO
	CPU    Backend = C.GPTQ_BACKEND_CPU
	Vulkan Backend = C.GPTQ_BACKEND_VULKAN
	CUDA   Backend = C.GPTQ_BACKEND_CUDA
)

// Error is a failed libgptq call: the gptq_status code and the library's message.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", C.GoString(C.gptq_status_string(C.gptq_status(e.Status))), e.Message)
}

func check(st C.gptq_status, ctx *C.gptq_ctx) error {
	if st == C.GPTQ_OK {
		return nil
	}
	return &Error{Status: int(st), Message: C.GoString(C.gptq_last_error(ctx))}
}

// Version is the library's version string ("0.1.0").
func Version() string { return C.GoString(C.gptq_version_string()) }

// Available reports whether a backend is compiled in and has a usable device.
func Available(b Backend) bool { return C.gptq_backend_available(C.gptq_backend(b)) != 0 }

// Context is a gptq_ctx. Use from one goroutine at a time.
type Context struct{ c *C.gptq_ctx }

func NewContext(b Backend) (*Context, error) {
	var c *C.gptq_ctx
	if err := check(C.go_ctx_create(C.gptq_backend(b), &c), nil); err != nil {
		return nil, err
	}
	return &Context{c}, nil
}

func (ctx *Context) Close() {
	C.gptq_ctx_destroy(ctx.c)
	ctx.c = nil
}

func (ctx *Context) DeviceName() string { return C.GoString(C.gptq_ctx_device_name(ctx.c)) }

// Hessian accumulates H = (2/n) sum x x^T for a layer with K inputs.
type Hessian struct {
	ctx *Context
	h   *C.gptq_hessian
	K   int
}

func (ctx *Context) NewHessian(k int) (*Hessian, error) {
	var h *C.gptq_hessian
	if err := check(C.gptq_hessian_create(ctx.c, C.int64_t(k), &h), ctx.c); err != nil {
		return nil, err
	}
	return &Hessian{ctx, h, k}, nil
}

func (h *Hessian) Close() {
	C.gptq_hessian_destroy(h.h)
	h.h = nil
}

// Add accumulates the rows of x (row-major, len(x) = rows * K).
func (h *Hessian) Add(x []float32) error {
	if len(x) == 0 || len(x)%h.K != 0 {
		return fmt.Errorf("gptq: x has %d values, not a positive multiple of k = %d", len(x), h.K)
	}
	rows := len(x) / h.K
	return check(C.go_hessian_add(h.h, (*C.float)(unsafe.Pointer(&x[0])), C.int64_t(rows),
		C.int64_t(h.K)), h.ctx.c)
}

// QLayer is a quantized layer.
type QLayer struct {
	ctx  *Context
	q    *C.gptq_qlayer
	N, K int
}

// Report is the quantization report (a subset of gptq_quant_report).
type Report struct {
	Loss, RelOutputError, DampUsed, Seconds float64
}

// Quantize runs GPTQ on w [n x k] (row-major).
func (ctx *Context) Quantize(w []float32, n, k int, h *Hessian, bits, groupSize int, sym, descAct bool) (*QLayer, Report, error) {
	if n <= 0 || k <= 0 || len(w) != n*k {
		return nil, Report{}, fmt.Errorf("gptq: w has %d values, expected %d x %d", len(w), n, k)
	}
	b2i := func(b bool) C.int {
		if b {
			return 1
		}
		return 0
	}
	var q *C.gptq_qlayer
	var rep C.gptq_quant_report
	st := C.go_quantize(ctx.c, (*C.float)(unsafe.Pointer(&w[0])), C.int64_t(n), C.int64_t(k), h.h,
		C.int(bits), C.int(groupSize), b2i(sym), b2i(descAct), &q, &rep)
	if err := check(st, ctx.c); err != nil {
		return nil, Report{}, err
	}
	r := Report{float64(rep.loss), float64(rep.rel_output_error), float64(rep.damp_used), float64(rep.seconds)}
	return &QLayer{ctx, q, n, k}, r, nil
}

func (q *QLayer) Close() {
	C.gptq_qlayer_destroy(q.q)
	q.q = nil
}

// Dequantize returns the dequantized weight [N x K].
func (q *QLayer) Dequantize() ([]float32, error) {
	out := make([]float32, q.N*q.K)
	err := check(C.gptq_qlayer_dequantize(q.q, (*C.float)(unsafe.Pointer(&out[0])), C.size_t(len(out))), q.ctx.c)
	return out, err
}

// QWeight returns the packed checkpoint tensor qweight.
func (q *QLayer) QWeight() ([]int32, error) {
	info := C.gptq_qlayer_info{struct_size: C.uint32_t(unsafe.Sizeof(C.gptq_qlayer_info{}))}
	if err := check(C.gptq_qlayer_get_info(q.q, &info), q.ctx.c); err != nil {
		return nil, err
	}
	out := make([]int32, int(info.qweight_rows*info.qweight_cols))
	err := check(C.gptq_qlayer_get_qweight(q.q, (*C.int32_t)(unsafe.Pointer(&out[0])), C.size_t(len(out))), q.ctx.c)
	return out, err
}

// Matmul returns y [rows x N] = x [rows x K] * dequant(W)^T.
func (q *QLayer) Matmul(x []float32) ([]float32, error) {
	if len(x) == 0 || len(x)%q.K != 0 {
		return nil, fmt.Errorf("gptq: x has %d values, not a positive multiple of k = %d", len(x), q.K)
	}
	rows := len(x) / q.K
	y := make([]float32, rows*q.N)
	err := check(C.go_matmul(q.ctx.c, q.q, (*C.float)(unsafe.Pointer(&x[0])), C.int64_t(rows),
		C.int64_t(q.K), (*C.float)(unsafe.Pointer(&y[0]))), q.ctx.c)
	return y, err
}
