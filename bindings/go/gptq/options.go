package gptq

// #include "helpers.h"
// #include <stdlib.h>
import "C"

import "unsafe"

// Options are the quantization options (gptq_quant_params). Start from DefaultOptions():
// the zero value is not usable (Bits 0).
type Options struct {
	Bits              int     // 2, 3, 4 or 8
	GroupSize         int     // -1 (one group per row) or >= 1
	Sym               bool    // symmetric quantization
	DescAct           bool    // act-order: columns by descending diag(H)
	StaticGroups      bool    // group parameters fixed before GPTQ
	BlockSize         int     // columns per lazy-update block
	DampPercent       float32 // relative damping of the mean diagonal of H
	DampAutoIncrement float32 // added when the Cholesky factorization fails; 0 = no retry
	DampMax           float32 // cap on the damping
	MSE               bool    // search the clipping range that minimises the error
	MSEGrid           int     // clipping candidates of the search
	MSEMaxShrink      float32 // largest shrink the search tries
	MSENorm           float32 // norm of the search's error
	LayerName         string  // used in error messages
}

// DefaultOptions returns the library's defaults (4 bits, group 128, damping 0.01, ...).
func DefaultOptions() Options {
	var p C.gptq_quant_params
	C.gptq_quant_params_init(&p)
	return Options{
		Bits: int(p.bits), GroupSize: int(p.group_size), Sym: p.sym != 0,
		DescAct: p.desc_act != 0, StaticGroups: p.static_groups != 0,
		BlockSize: int(p.block_size), DampPercent: float32(p.damp_percent),
		DampAutoIncrement: float32(p.damp_auto_increment), DampMax: float32(p.damp_max),
		MSE: p.mse != 0, MSEGrid: int(p.mse_grid), MSEMaxShrink: float32(p.mse_maxshrink),
		MSENorm: float32(p.mse_norm),
	}
}

func cbool(b bool) C.int32_t {
	if b {
		return 1
	}
	return 0
}

// params converts o (nil: the defaults); release frees the C copy of LayerName.
func (o *Options) params() (p C.gptq_quant_params, release func()) {
	if o == nil {
		d := DefaultOptions()
		o = &d
	}
	C.gptq_quant_params_init(&p)
	p.bits, p.group_size, p.sym = C.int32_t(o.Bits), C.int32_t(o.GroupSize), cbool(o.Sym)
	p.desc_act, p.static_groups = cbool(o.DescAct), cbool(o.StaticGroups)
	p.block_size = C.int32_t(o.BlockSize)
	p.damp_percent, p.damp_auto_increment = C.float(o.DampPercent), C.float(o.DampAutoIncrement)
	p.damp_max = C.float(o.DampMax)
	p.mse, p.mse_grid = cbool(o.MSE), C.int32_t(o.MSEGrid)
	p.mse_maxshrink, p.mse_norm = C.float(o.MSEMaxShrink), C.float(o.MSENorm)
	release = func() {}
	if o.LayerName != "" {
		name := C.CString(o.LayerName)
		p.layer_name = name
		release = func() { C.free(unsafe.Pointer(name)) }
	}
	return p, release
}
