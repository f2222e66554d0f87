#include "helpers.h"

// cgo forbids Go memory that holds Go pointers from reaching C, so every struct that points
// at Go slices is assembled here, on the C side, from plain pointer arguments.
gptq_matrix go_matrix(const void *data, gptq_dtype dtype, int64_t rows, int64_t cols) {
	gptq_matrix m = {data, dtype, rows, cols, 0};
	return m;
}

gptq_status go_hessian_add(gptq_hessian *h, const float *x, int64_t rows, int64_t cols) {
	gptq_matrix m = go_matrix(x, GPTQ_DTYPE_F32, rows, cols);
	return gptq_hessian_add(h, &m);
}

gptq_status go_quantize(gptq_ctx *ctx, const gptq_quant_params *p, const float *w,
                        int64_t n, int64_t k, const gptq_hessian *h, int rtn,
                        gptq_qlayer **out, gptq_quant_report *rep) {
	gptq_matrix m = go_matrix(w, GPTQ_DTYPE_F32, n, k);
	rep->struct_size = sizeof *rep;
	if (rtn) return gptq_quantize_rtn(ctx, p, &m, out);
	return gptq_quantize_layer(ctx, p, &m, h, out, rep);
}

gptq_status go_matmul(gptq_ctx *ctx, const gptq_qlayer *q, const float *x, int64_t rows,
                      int64_t cols, float *y) {
	gptq_matrix m = go_matrix(x, GPTQ_DTYPE_F32, rows, cols);
	return gptq_matmul_q(ctx, q, &m, y, 0);
}

gptq_status go_ctx_create(gptq_backend b, int device, int threads, gptq_ctx **out) {
	gptq_ctx_params p;
	gptq_ctx_params_init(&p);
	p.backend = b;
	p.device_index = device;
	p.n_threads = threads;
	return gptq_ctx_create(&p, out);
}

gptq_status go_from_packed(gptq_ctx *ctx, int64_t n, int64_t k, int bits, int group_size,
                           gptq_zeros_format zf, const int32_t *qweight,
                           const int32_t *qzeros, const uint16_t *scales,
                           const int32_t *g_idx, gptq_qlayer **out) {
	gptq_packed_layer p = {sizeof p, n, k, bits, group_size, 0, 0, zf, qweight, qzeros,
	                       scales, GPTQ_DTYPE_F16, g_idx};
	return gptq_qlayer_from_packed(ctx, &p, out);
}

gptq_status go_info(const gptq_qlayer *q, gptq_qlayer_info *info) {
	info->struct_size = sizeof *info;
	return gptq_qlayer_get_info(q, info);
}
