/* The growable structs exactly as libgptq 0.1.0 declared them (include/gptq/gptq.h at the
 * first release), frozen: an application compiled against 0.1.0 passes these layouts.
 * Never edit this file; a later release that grows a struct adds fields to gptq.h only. */
#ifndef GPTQ_ABI_V0_1_0_H
#define GPTQ_ABI_V0_1_0_H

#include <gptq/gptq.h>

#include <stddef.h>
#include <stdint.h>

typedef struct v010_ctx_params {
    uint32_t struct_size;
    gptq_backend backend;
    int32_t device_index;
    int32_t n_threads;
    const void *pipeline_cache;
    size_t pipeline_cache_size;
} v010_ctx_params;

typedef struct v010_quant_params {
    uint32_t struct_size;
    int32_t bits;
    int32_t group_size;
    int32_t sym;
    int32_t desc_act;
    int32_t static_groups;
    int32_t block_size;
    float damp_percent;
    float damp_auto_increment;
    float damp_max;
    int32_t mse;
    int32_t mse_grid;
    float mse_maxshrink;
    float mse_norm;
    const char *layer_name;
    gptq_progress_fn progress;
    void *progress_user;
} v010_quant_params;

typedef struct v010_quant_report {
    uint32_t struct_size;
    double loss;
    double rel_output_error;
    double damp_used;
    int32_t damp_retries;
    int64_t dead_columns;
    double seconds;
} v010_quant_report;

typedef struct v010_qlayer_info {
    uint32_t struct_size;
    int64_t n;
    int64_t k;
    int32_t bits;
    int32_t group_size;
    int64_t n_groups;
    int32_t sym;
    int32_t desc_act;
    int32_t static_groups;
    int64_t qweight_rows, qweight_cols;
    int64_t qzeros_rows, qzeros_cols;
    int64_t scales_rows, scales_cols;
    int64_t g_idx_len;
} v010_qlayer_info;

typedef struct v010_packed_layer {
    uint32_t struct_size;
    int64_t n, k;
    int32_t bits;
    int32_t group_size;
    int32_t sym;
    int32_t desc_act;
    gptq_zeros_format zeros_format;
    const int32_t *qweight;
    const int32_t *qzeros;
    const uint16_t *scales;
    gptq_dtype scales_dtype;
    const int32_t *g_idx;
} v010_packed_layer;

#endif
