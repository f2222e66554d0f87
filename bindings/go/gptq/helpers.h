// C helpers of the Go binding.
#ifndef GPTQ_GO_HELPERS_H
#define GPTQ_GO_HELPERS_H
#include <gptq/gptq.h>

gptq_matrix go_matrix(const void *data, gptq_dtype dtype, int64_t rows, int64_t cols);
gptq_status go_hessian_add(gptq_hessian *h, const float *x, int64_t rows, int64_t cols);
gptq_status go_quantize(gptq_ctx *ctx, const gptq_quant_params *p, const float *w,
                        int64_t n, int64_t k, const gptq_hessian *h, int rtn,
                        gptq_qlayer **out, gptq_quant_report *rep);
gptq_status go_matmul(gptq_ctx *ctx, const gptq_qlayer *q, const float *x, int64_t rows,
                      int64_t cols, float *y);
gptq_status go_ctx_create(gptq_backend b, int device, int threads, gptq_ctx **out);
gptq_status go_from_packed(gptq_ctx *ctx, int64_t n, int64_t k, int bits, int group_size,
                           gptq_zeros_format zf, const int32_t *qweight,
                           const int32_t *qzeros, const uint16_t *scales,
                           const int32_t *g_idx, gptq_qlayer **out);
gptq_status go_info(const gptq_qlayer *q, gptq_qlayer_info *info);

#endif
