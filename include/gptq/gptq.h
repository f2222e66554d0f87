/*
 * libgptq — GPTQ quantization of linear layers and quantized matrix products.
 *
 * The one public header. Plain C11; usable from C, C++, Rust, Go and Python ctypes.
 * The header is the same in every build: backends compiled out are reported at run
 * time by gptq_backend_available(), never by #if here.
 *
 * Ownership and lifetimes
 * -----------------------
 * - Every object is an opaque handle created by a gptq_*_create / gptq_*_from_* function
 *   that returns a gptq_status and writes an out parameter (set to NULL on failure).
 *   Every gptq_*_destroy accepts NULL.
 * - gptq_hessian, gptq_qlayer and gptq_dlayer belong to the gptq_ctx they were created with;
 *   the ctx must outlive them. Destroy them before the ctx.
 * - The library never keeps or modifies caller memory: input arrays are read during the call
 *   only, output arrays are written during the call only.
 * - Strings returned by the library (status strings, error messages, device names) are owned
 *   by the library. gptq_last_error's string stays valid until the next call that uses the
 *   same context (or, for ctx == NULL, the next library call on the same thread).
 *
 * Thread safety
 * -------------
 * - gptq_ctx: one thread at a time (all objects of a ctx share its queues and scratch).
 * - gptq_hessian, gptq_qlayer: one thread at a time, and not concurrently with their ctx.
 * - Different contexts may be used from different threads concurrently.
 * - gptq_version_*, gptq_status_string, gptq_backend_available, *_params_init: thread-safe.
 *
 * Errors
 * ------
 * Every fallible function returns a gptq_status. On failure a message naming the argument,
 * shape or layer is available from gptq_last_error(ctx) (or gptq_last_error(NULL) for calls
 * that have no context, such as gptq_ctx_create). No function aborts on bad input.
 *
 * Growable structs
 * ----------------
 * Structs that start with struct_size may gain fields at their end in later versions. The
 * library accepts any struct_size from the 0.1.0 layout up to its own sizeof: fields the
 * caller's layout lacks take their defaults (inputs) or are not written (outputs). A larger
 * size, from an application built against a newer header, is accepted when every byte the
 * library does not know is zero, and refused with GPTQ_ERR_INVALID_ARGUMENT otherwise.
 */
#ifndef GPTQ_GPTQ_H
#define GPTQ_GPTQ_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  if defined(GPTQ_BUILDING)
#    define GPTQ_API __declspec(dllexport)
#  else
#    define GPTQ_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define GPTQ_API __attribute__((visibility("default")))
#else
#  define GPTQ_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- versions */

#define GPTQ_VERSION_MAJOR 0
#define GPTQ_VERSION_MINOR 1
#define GPTQ_VERSION_PATCH 0
#define GPTQ_VERSION_NUMBER \
    (GPTQ_VERSION_MAJOR * 10000 + GPTQ_VERSION_MINOR * 100 + GPTQ_VERSION_PATCH)
/* Changes only when the layout of packed weights (qweight/qzeros/scales/g_idx) changes. */
#define GPTQ_PACKED_FORMAT_VERSION 1

GPTQ_API unsigned gptq_version_number(void);
GPTQ_API const char *gptq_version_string(void);
GPTQ_API unsigned gptq_packed_format_version(void);

/* ---------------------------------------------------------------- status */

/* Values are pinned: new codes are only ever appended. */
typedef enum gptq_status {
    GPTQ_OK = 0,
    GPTQ_ERR_INVALID_ARGUMENT = 1,      /* NULL pointer, bad enum or option value */
    GPTQ_ERR_SHAPE = 2,                 /* zero/negative dimension, mismatched sizes */
    GPTQ_ERR_UNSUPPORTED = 3,           /* bits, group size, dtype not supported */
    GPTQ_ERR_NON_FINITE = 4,            /* NaN or Inf in an input */
    GPTQ_ERR_NOT_POSITIVE_DEFINITE = 5, /* Hessian stays non-PD up to the damping cap */
    GPTQ_ERR_OUT_OF_MEMORY = 6,         /* host allocation failed */
    GPTQ_ERR_BACKEND_UNAVAILABLE = 7,   /* backend not compiled in, or no usable device */
    GPTQ_ERR_DEVICE = 8,                /* driver / device failure */
    GPTQ_ERR_DEVICE_OUT_OF_MEMORY = 9,  /* device allocation failed */
    GPTQ_ERR_IO = 10,                   /* file could not be read or written */
    GPTQ_ERR_FORMAT = 11,               /* malformed, truncated or hostile data */
    GPTQ_ERR_CANCELLED = 12,            /* the progress callback asked to stop */
    GPTQ_ERR_WRONG_CONTEXT = 13,        /* object used with a context it does not belong to */
    GPTQ_ERR_INTERNAL = 14              /* a bug in libgptq: please report it */
} gptq_status;

/* Short static description of a status ("invalid argument", ...); never NULL. */
GPTQ_API const char *gptq_status_string(gptq_status status);

/* ---------------------------------------------------------------- types */

typedef struct gptq_ctx gptq_ctx;
typedef struct gptq_hessian gptq_hessian;
typedef struct gptq_qlayer gptq_qlayer;

typedef enum gptq_backend {
    GPTQ_BACKEND_AUTO = 0, /* CUDA, then a Vulkan GPU, then CPU: the first that works.
                              CPU-emulated Vulkan (lavapipe) is passed over. */
    GPTQ_BACKEND_CPU = 1,
    GPTQ_BACKEND_VULKAN = 2,
    GPTQ_BACKEND_CUDA = 3
} gptq_backend;

typedef enum gptq_dtype {
    GPTQ_DTYPE_F32 = 0,
    GPTQ_DTYPE_F16 = 1, /* IEEE binary16, stored as uint16_t */
    GPTQ_DTYPE_BF16 = 2 /* bfloat16, stored as uint16_t */
} gptq_dtype;

/* A read-only row-major matrix view. row_stride is in elements (0 means cols). */
typedef struct gptq_matrix {
    const void *data;
    gptq_dtype dtype;
    int64_t rows;
    int64_t cols;
    int64_t row_stride;
} gptq_matrix;

/* ---------------------------------------------------------------- context */

typedef struct gptq_ctx_params {
    uint32_t struct_size;  /* sizeof(gptq_ctx_params); set by gptq_ctx_params_init */
    gptq_backend backend;  /* default GPTQ_BACKEND_AUTO */
    int32_t device_index;  /* among the backend's usable devices; default 0 */
    int32_t n_threads;     /* CPU threads; 0 = all cores (default) */
    /* Optional Vulkan pipeline-cache blob from gptq_ctx_pipeline_cache(); may be NULL. */
    const void *pipeline_cache;
    size_t pipeline_cache_size;
} gptq_ctx_params;

GPTQ_API void gptq_ctx_params_init(gptq_ctx_params *params);

/* 1 if the backend is compiled in and has a usable device, else 0. AUTO: always 1. */
GPTQ_API int gptq_backend_available(gptq_backend backend);
GPTQ_API const char *gptq_backend_name(gptq_backend backend);

/* params may be NULL for defaults. GPTQ_ERR_BACKEND_UNAVAILABLE if the backend is not
 * compiled in or no device exists. */
GPTQ_API gptq_status gptq_ctx_create(const gptq_ctx_params *params, gptq_ctx **out_ctx);
GPTQ_API void gptq_ctx_destroy(gptq_ctx *ctx);

GPTQ_API gptq_backend gptq_ctx_backend(const gptq_ctx *ctx);
/* Human-readable device name ("CPU (2 threads)", "llvmpipe (LLVM 15.0.6, 256 bits)"). */
GPTQ_API const char *gptq_ctx_device_name(const gptq_ctx *ctx);

/* Message of the most recent call on ctx (or, with ctx NULL, of the calling thread's most
 * recent call that had no usable context): empty if that call succeeded; never NULL. */
GPTQ_API const char *gptq_last_error(const gptq_ctx *ctx);

/* Vulkan: copies up to capacity bytes of the pipeline-cache blob into dst and writes the
 * full size to out_size (dst may be NULL to query the size). Other backends: size 0. */
GPTQ_API gptq_status gptq_ctx_pipeline_cache(gptq_ctx *ctx, void *dst, size_t capacity,
                                             size_t *out_size);

/* ---------------------------------------------------------------- Hessian */

/* Accumulator for H = (2/n) * sum over tokens of x x^T, for layers with k inputs. */
GPTQ_API gptq_status gptq_hessian_create(gptq_ctx *ctx, int64_t k, gptq_hessian **out);
GPTQ_API void gptq_hessian_destroy(gptq_hessian *hessian);

/* Adds a batch of activations X [n_tokens x k] (F32, F16 or BF16, any row stride).
 * Any number of batches, any n_tokens >= 1 (n < k is allowed: H is then rank-deficient).
 * Bad arguments (NaN/Inf in X: GPTQ_ERR_NON_FINITE; shapes) leave the accumulator unchanged.
 * If the addition itself fails part-way (out of memory, device error), the accumulator is
 * marked incomplete: add, get and quantize then return GPTQ_ERR_INVALID_ARGUMENT until
 * gptq_hessian_set replaces its contents. */
GPTQ_API gptq_status gptq_hessian_add(gptq_hessian *hessian, const gptq_matrix *x);

/* Replaces the accumulated state by a given, already scaled K x K matrix (row-major fp32,
 * symmetric). n_tokens is recorded for the report only (may be 0). */
GPTQ_API gptq_status gptq_hessian_set(gptq_hessian *hessian, const float *h, int64_t k,
                                      int64_t n_tokens);

GPTQ_API int64_t gptq_hessian_dim(const gptq_hessian *hessian);
GPTQ_API int64_t gptq_hessian_tokens(const gptq_hessian *hessian);

/* Writes the scaled Hessian (K x K fp32, row-major) to dst; count is dst's length in
 * elements and must be >= K*K. GPTQ_ERR_INVALID_ARGUMENT if no token was added. */
GPTQ_API gptq_status gptq_hessian_get(const gptq_hessian *hessian, float *dst, size_t count);

/* ---------------------------------------------------------------- quantization */

typedef enum gptq_mse_mode { GPTQ_MSE_OFF = 0, GPTQ_MSE_ON = 1 } gptq_mse_mode;

/* Called from the calling thread during long work: done of total units (columns).
 * Return non-zero to cancel (the call then returns GPTQ_ERR_CANCELLED). */
typedef int (*gptq_progress_fn)(void *user, int64_t done, int64_t total);

typedef struct gptq_quant_params {
    uint32_t struct_size;        /* sizeof(gptq_quant_params); set by init */
    int32_t bits;                /* 2, 3, 4 or 8; default 4 */
    int32_t group_size;          /* -1 (one group per row) or >= 1; default 128 */
    int32_t sym;                 /* symmetric quantization; default 0 */
    int32_t desc_act;            /* act-order: columns by descending diag(H); default 0 */
    int32_t static_groups;       /* group parameters fixed before GPTQ; default 0 */
    int32_t block_size;          /* columns per lazy-update block; default 128 */
    float damp_percent;          /* relative damping of the mean diagonal; default 0.01 */
    float damp_auto_increment;   /* added on Cholesky failure; default 0.01; 0 = no retry */
    float damp_max;              /* cap on damping; default 1.0 */
    int32_t mse;                 /* gptq_mse_mode: clipping search; default OFF */
    int32_t mse_grid;            /* default 100 */
    float mse_maxshrink;         /* default 0.8 */
    float mse_norm;              /* default 2.4 */
    const char *layer_name;      /* used in messages; may be NULL */
    gptq_progress_fn progress;   /* may be NULL */
    void *progress_user;
} gptq_quant_params;

GPTQ_API void gptq_quant_params_init(gptq_quant_params *params);

/* Checks params as gptq_quantize_layer / gptq_quantize_rtn would (struct_size, bits,
 * group_size, block_size, damping, mse fields) without quantizing anything: a tool can
 * refuse bad options before loading a model. Returns GPTQ_OK or the status those calls would
 * return; the message is in gptq_last_error(NULL). Thread-safe. */
GPTQ_API gptq_status gptq_quant_params_validate(const gptq_quant_params *params);

typedef struct gptq_quant_report {
    uint32_t struct_size;     /* sizeof(gptq_quant_report), or 0 = this header's size (the
                               * library then stores the size). An optional output: another
                               * size never fails the call; the library fills the leading
                               * struct_size bytes (the fields an older header knows). */
    double loss;              /* GPTQ loss: sum of (w - q)^2 / d^2 / 2 */
    double rel_output_error;  /* tr(D H D^T) / tr(W H W^T), D = W - Q, on the given H */
    double damp_used;         /* damp_percent that made the Cholesky succeed */
    int32_t damp_retries;     /* how many times damping was increased */
    int64_t dead_columns;     /* columns with H[j,j] == 0 */
    double seconds;           /* wall time of the call */
} gptq_quant_report;

/* Quantizes W [N x K] (F32/F16/BF16) with GPTQ using the Hessian of its K inputs.
 * report may be NULL. The caller's W and the Hessian are not modified. */
GPTQ_API gptq_status gptq_quantize_layer(gptq_ctx *ctx, const gptq_quant_params *params,
                                         const gptq_matrix *w, const gptq_hessian *hessian,
                                         gptq_qlayer **out, gptq_quant_report *report);

/* Round-to-nearest with the same quantizer grid (natural-order groups, no error feedback):
 * the baseline GPTQ is compared with. desc_act/static_groups/damping are ignored. */
GPTQ_API gptq_status gptq_quantize_rtn(gptq_ctx *ctx, const gptq_quant_params *params,
                                       const gptq_matrix *w, gptq_qlayer **out);

/* ---------------------------------------------------------------- quantized layers */

typedef enum gptq_zeros_format {
    GPTQ_ZEROS_V1 = 1, /* checkpoint_format "gptq": stores zero - 1 */
    GPTQ_ZEROS_V2 = 2  /* checkpoint_format "gptq_v2": stores zero */
} gptq_zeros_format;

typedef struct gptq_qlayer_info {
    uint32_t struct_size; /* sizeof(gptq_qlayer_info), or 0 = this header's size (the
                           * library then stores the size); other values are refused */
    int64_t n;            /* out_features (rows of W) */
    int64_t k;            /* in_features (columns of W) */
    int32_t bits;
    int32_t group_size;   /* as given: -1 or >= 1 */
    int64_t n_groups;     /* ceil(K / G), 1 for group_size -1 */
    int32_t sym;
    int32_t desc_act;
    int32_t static_groups;
    /* Shapes of the checkpoint tensors (rows x cols), element counts follow. Packed
     * dimensions are rounded up; padding codes are 0. */
    int64_t qweight_rows, qweight_cols; /* int32 [ceil-packed K, N] */
    int64_t qzeros_rows, qzeros_cols;   /* int32 [n_groups, ceil-packed N] */
    int64_t scales_rows, scales_cols;   /* fp16  [n_groups, N] */
    int64_t g_idx_len;                  /* int32 [K] */
} gptq_qlayer_info;

GPTQ_API gptq_status gptq_qlayer_get_info(const gptq_qlayer *q, gptq_qlayer_info *info);

/* Checkpoint tensors. count is the destination's length in elements; it must be at least
 * the size from gptq_qlayer_info (else GPTQ_ERR_SHAPE). */
GPTQ_API gptq_status gptq_qlayer_get_qweight(const gptq_qlayer *q, int32_t *dst, size_t count);
GPTQ_API gptq_status gptq_qlayer_get_qzeros(const gptq_qlayer *q, gptq_zeros_format format,
                                            int32_t *dst, size_t count);
GPTQ_API gptq_status gptq_qlayer_get_scales_f16(const gptq_qlayer *q, uint16_t *dst,
                                                size_t count);
GPTQ_API gptq_status gptq_qlayer_get_g_idx(const gptq_qlayer *q, int32_t *dst, size_t count);

/* Unpacked views, for analysis and tests. */
GPTQ_API gptq_status gptq_qlayer_get_codes(const gptq_qlayer *q, int32_t *dst,
                                           size_t count); /* [N x K], 0..2^bits-1 */
GPTQ_API gptq_status gptq_qlayer_get_scales(const gptq_qlayer *q, float *dst,
                                            size_t count); /* [n_groups x N] fp32 */
GPTQ_API gptq_status gptq_qlayer_get_zeros(const gptq_qlayer *q, int32_t *dst,
                                           size_t count); /* [n_groups x N], true zeros */
/* Act-order permutation (perm[i] = column quantized i-th); identity without act-order. */
GPTQ_API gptq_status gptq_qlayer_get_perm(const gptq_qlayer *q, int32_t *dst, size_t count);

/* Dequantized weight [N x K] fp32: scales[g,n] * (code[n,k] - zero[g,n]), g = g_idx[k]. */
GPTQ_API gptq_status gptq_qlayer_dequantize(const gptq_qlayer *q, float *dst, size_t count);

/* A layer in checkpoint layout, for gptq_qlayer_from_packed. Arrays are read during the
 * call only. */
typedef struct gptq_packed_layer {
    uint32_t struct_size; /* sizeof(gptq_packed_layer) */
    int64_t n, k;
    int32_t bits;
    int32_t group_size;   /* -1 or >= 1 */
    int32_t sym;          /* informational */
    int32_t desc_act;     /* informational */
    gptq_zeros_format zeros_format;
    const int32_t *qweight;  /* sizes as in gptq_qlayer_info */
    const int32_t *qzeros;
    const void *scales;      /* uint16_t fp16 or float, as scales_dtype says */
    gptq_dtype scales_dtype; /* F16 (checkpoints) or F32 (then a const float*) */
    const int32_t *g_idx;    /* may be NULL: k / group_size */
} gptq_packed_layer;

/* Builds a qlayer from checkpoint tensors (validated: g_idx within [0, n_groups), finite
 * scales). A v1 zero stored as maxq decodes to maxq + 1, as v1 readers compute it; such a
 * layer can be exported as v1 only. */
GPTQ_API gptq_status gptq_qlayer_from_packed(gptq_ctx *ctx, const gptq_packed_layer *packed,
                                             gptq_qlayer **out);
GPTQ_API void gptq_qlayer_destroy(gptq_qlayer *q);

/* ---------------------------------------------------------------- matmul */

/* Y [M x N] = X [M x K] * dequant(Q)^T. X is F32, F16 or BF16 with any row stride; Y is fp32
 * with row stride ldy elements (0 means N). M = 1 is the decode case; M may be thousands.
 * Serves every bit width; the name follows the INT4 kernel it is built around. */
GPTQ_API gptq_status gptq_matmul_q4(gptq_ctx *ctx, const gptq_qlayer *q, const gptq_matrix *x,
                                    float *y, int64_t ldy);
/* The same function as gptq_matmul_q4 under a name without the bit width. Both names were
 * exported by 0.1.0 and both stay (removing a symbol would break binaries built against
 * it); new code may use either. */
GPTQ_API gptq_status gptq_matmul_q(gptq_ctx *ctx, const gptq_qlayer *q, const gptq_matrix *x,
                                   float *y, int64_t ldy);

/* ---------------------------------------------------------------- dense layers */

/* An unquantized weight W [N x K] resident on the context's backend (device memory on GPU
 * backends), the counterpart of gptq_qlayer for layers that stay in floating point (the
 * calibration forward pass, lm_head). It belongs to its ctx like a qlayer; destroy it first. */
typedef struct gptq_dlayer gptq_dlayer;

/* Copies W [N x K] (F32, F16 or BF16, any row stride; the caller's array is not kept). W is
 * kept in its dtype where the backend can read it directly (CPU, Vulkan) and converted to
 * fp32 otherwise (CUDA). GPTQ_ERR_NON_FINITE for NaN/Inf in W. */
GPTQ_API gptq_status gptq_dlayer_create(gptq_ctx *ctx, const gptq_matrix *w, gptq_dlayer **out);
GPTQ_API void gptq_dlayer_destroy(gptq_dlayer *d);
/* N (output features) and K (input features) of d; 0 for NULL. */
GPTQ_API int64_t gptq_dlayer_rows(const gptq_dlayer *d);
GPTQ_API int64_t gptq_dlayer_cols(const gptq_dlayer *d);

/* Y [M x N] = X [M x K] * W^T with fp32 accumulation (f16/bf16 W and X are widened exactly),
 * the same conventions as gptq_matmul_q4: X is F32, F16 or BF16 with any row stride, Y is fp32
 * with row stride ldy elements (0 means N). Error bound: |Y - exact| <= K * 2^-23 *
 * sum_p |X[i,p] W[j,p]| (any summation order); backends differ only in that order. */
GPTQ_API gptq_status gptq_matmul_dense(gptq_ctx *ctx, const gptq_dlayer *d, const gptq_matrix *x,
                                       float *y, int64_t ldy);

#ifdef __cplusplus
}
#endif

#endif /* GPTQ_GPTQ_H */
