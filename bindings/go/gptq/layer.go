package gptq

// #include "helpers.h"
import "C"

import "unsafe"

// ZerosFormat is how a checkpoint stores zero points.
type ZerosFormat int

const (
	ZerosV1 ZerosFormat = C.GPTQ_ZEROS_V1 // checkpoint_format "gptq": stores zero - 1
	ZerosV2 ZerosFormat = C.GPTQ_ZEROS_V2 // checkpoint_format "gptq_v2": stores zero
)

// Info describes a quantized layer; tensor shapes are [rows, cols], row-major.
type Info struct {
	N, K, Bits, GroupSize, NGroups int
	Sym, DescAct, StaticGroups     bool
	QWeightShape                   [2]int // int32 [packed K, N]
	QZerosShape                    [2]int // int32 [NGroups, packed N]
	ScalesShape                    [2]int // fp16 [NGroups, N]
}

// QLayer is a quantized layer.
type QLayer struct {
	ctx  *Context
	q    *C.gptq_qlayer
	Info Info
}

func (ctx *Context) adopt(q *C.gptq_qlayer) (*QLayer, error) {
	var i C.gptq_qlayer_info
	if err := ctx.check(C.go_info(q, &i)); err != nil {
		C.gptq_qlayer_destroy(q)
		return nil, err
	}
	layer := &QLayer{ctx, q, Info{
		N: int(i.n), K: int(i.k), Bits: int(i.bits), GroupSize: int(i.group_size),
		NGroups: int(i.n_groups), Sym: i.sym != 0, DescAct: i.desc_act != 0,
		StaticGroups: i.static_groups != 0,
		QWeightShape: [2]int{int(i.qweight_rows), int(i.qweight_cols)},
		QZerosShape:  [2]int{int(i.qzeros_rows), int(i.qzeros_cols)},
		ScalesShape:  [2]int{int(i.scales_rows), int(i.scales_cols)},
	}}
	ctx.children[layer] = struct{}{}
	return layer, nil
}

// Close frees the layer; a second Close returns ErrClosed.
func (q *QLayer) Close() error {
	if q.q == nil {
		return ErrClosed
	}
	C.gptq_qlayer_destroy(q.q)
	q.q = nil
	delete(q.ctx.children, q)
	return nil
}

func (q *QLayer) getI32(n int, get func(*C.gptq_qlayer, *C.int32_t, C.size_t) C.gptq_status) ([]int32, error) {
	if q.q == nil {
		return nil, ErrClosed
	}
	out := make([]int32, n)
	return out, q.ctx.check(get(q.q, i32p(out), C.size_t(n)))
}

func (q *QLayer) getF32(n int, get func(*C.gptq_qlayer, *C.float, C.size_t) C.gptq_status) ([]float32, error) {
	if q.q == nil {
		return nil, ErrClosed
	}
	out := make([]float32, n)
	return out, q.ctx.check(get(q.q, f32p(out), C.size_t(n)))
}

// QWeight is the packed-codes checkpoint tensor, int32 Info.QWeightShape.
func (q *QLayer) QWeight() ([]int32, error) {
	s := q.Info.QWeightShape
	return q.getI32(s[0]*s[1], func(l *C.gptq_qlayer, d *C.int32_t, n C.size_t) C.gptq_status {
		return C.gptq_qlayer_get_qweight(l, d, n)
	})
}

// QZeros is the packed zero points, int32 Info.QZerosShape, in the given format.
func (q *QLayer) QZeros(format ZerosFormat) ([]int32, error) {
	s := q.Info.QZerosShape
	return q.getI32(s[0]*s[1], func(l *C.gptq_qlayer, d *C.int32_t, n C.size_t) C.gptq_status {
		return C.gptq_qlayer_get_qzeros(l, C.gptq_zeros_format(format), d, n)
	})
}

// Scales is the scales checkpoint tensor as fp16 bit patterns, Info.ScalesShape.
func (q *QLayer) Scales() ([]uint16, error) {
	if q.q == nil {
		return nil, ErrClosed
	}
	s := q.Info.ScalesShape
	out := make([]uint16, s[0]*s[1])
	return out, q.ctx.check(C.gptq_qlayer_get_scales_f16(q.q, (*C.uint16_t)(unsafe.Pointer(&out[0])), C.size_t(len(out))))
}

// GIdx is the group of every input column, int32 [K].
func (q *QLayer) GIdx() ([]int32, error) {
	return q.getI32(q.Info.K, func(l *C.gptq_qlayer, d *C.int32_t, n C.size_t) C.gptq_status {
		return C.gptq_qlayer_get_g_idx(l, d, n)
	})
}

// Codes are the unpacked codes 0..2^Bits-1, [N x K].
func (q *QLayer) Codes() ([]int32, error) {
	return q.getI32(q.Info.N*q.Info.K, func(l *C.gptq_qlayer, d *C.int32_t, n C.size_t) C.gptq_status {
		return C.gptq_qlayer_get_codes(l, d, n)
	})
}

// Zeros are the true zero points, [NGroups x N].
func (q *QLayer) Zeros() ([]int32, error) {
	return q.getI32(q.Info.NGroups*q.Info.N, func(l *C.gptq_qlayer, d *C.int32_t, n C.size_t) C.gptq_status {
		return C.gptq_qlayer_get_zeros(l, d, n)
	})
}

// Perm is the act-order permutation (Perm[i] = column quantized i-th), [K].
func (q *QLayer) Perm() ([]int32, error) {
	return q.getI32(q.Info.K, func(l *C.gptq_qlayer, d *C.int32_t, n C.size_t) C.gptq_status {
		return C.gptq_qlayer_get_perm(l, d, n)
	})
}

// UnpackedScales are the fp32 scales, [NGroups x N].
func (q *QLayer) UnpackedScales() ([]float32, error) {
	return q.getF32(q.Info.NGroups*q.Info.N, func(l *C.gptq_qlayer, d *C.float, n C.size_t) C.gptq_status {
		return C.gptq_qlayer_get_scales(l, d, n)
	})
}

// Dequantize returns the dequantized weight [N x K].
func (q *QLayer) Dequantize() ([]float32, error) {
	return q.getF32(q.Info.N*q.Info.K, func(l *C.gptq_qlayer, d *C.float, n C.size_t) C.gptq_status {
		return C.gptq_qlayer_dequantize(l, d, n)
	})
}

// Matmul returns y [rows x N] = x [rows x K] * dequant(W)^T.
func (q *QLayer) Matmul(x []float32) ([]float32, error) {
	if q.q == nil {
		return nil, ErrClosed
	}
	rows, err := rowsOf("x", len(x), q.Info.K)
	if err != nil {
		return nil, err
	}
	y := make([]float32, rows*q.Info.N)
	err = q.ctx.check(C.go_matmul(q.ctx.c, q.q, (*C.float)(&x[0]), C.int64_t(rows), C.int64_t(q.Info.K), (*C.float)(&y[0])))
	return y, err
}
