// The one definition of every host <-> shader push-constant block. Included by the shaders
// (GLSL) and by src/backends/vulkan/vk_push_constants.h (C++), which static_asserts each
// size. Every member is a 4-byte scalar, so the std430/push_constant layout and the C++
// struct layout coincide without padding rules to get wrong.
// A shader selects its block with #define GPTQ_PC_<NAME> before including this file (GLSL
// allows only one push_constant block per shader); C++ sees all of them.
#ifndef GPTQ_PUSH_CONSTANTS_GLSL
#define GPTQ_PUSH_CONSTANTS_GLSL

#ifdef __cplusplus
#define GPTQ_PC_BEGIN(Name) struct Name {
#define GPTQ_PC_END(Name) \
    };                    \
    static_assert(sizeof(Name) <= 128, #Name " exceeds the 128-byte push-constant minimum"); \
    static_assert(sizeof(Name) <= 64, #Name " overlaps the buffer addresses at offset 64");
#define u32 uint32_t
#define f32 float
#define GPTQ_PC_ALL
#else
#define GPTQ_PC_BEGIN(Name) layout(push_constant) uniform Name {
#ifdef GPTQ_ADDRESSED
// Device addresses of the bindings (shaders/addressed.glsl), after every block's members.
#define GPTQ_PC_END(Name) layout(offset = 64) uvec2 gptq_addr[8]; } pc;
#else
#define GPTQ_PC_END(Name) } pc;
#endif
#define u32 uint
#define f32 float
#endif

// dtype codes for raw activation buffers (X of matmul and Hessian): gptq_dtype values.
#define GPTQ_X_F32 0
#define GPTQ_X_F16 1
#define GPTQ_X_BF16 2

// Features per block of the matmul kernels' packed-weight layout (shaders/matmul_io.glsl).
#define GPTQ_QWEIGHT_BLOCK 64

// Quantizer parameter source of the GPTQ block step.
#define GPTQ_PARAMS_ROW 0      // one precomputed group per row (group_size -1)
#define GPTQ_PARAMS_STATIC 1   // precomputed natural-order groups (static_groups)
#define GPTQ_PARAMS_DYNAMIC 2  // computed at block start from the working W

#if defined(GPTQ_PC_ALL) || defined(GPTQ_PC_MATMUL)
GPTQ_PC_BEGIN(MatmulPC)
    u32 m;        // rows of X and Y
    u32 n;        // output features
    u32 k;        // input features (positions of this slice of the layer)
    u32 qrows;    // rows of qweight (packed along k)
    u32 bits;     // 2, 3, 4, 8
    u32 xoff;     // sorted position of this slice's first input feature (an offset into X)
    u32 ldx;      // row stride of X in elements (the layer's k rounded up to 32-position runs)
    u32 accumulate;  // 1: Y += this slice's product (k split across slices), 0: Y =
GPTQ_PC_END(MatmulPC)
#endif

#if defined(GPTQ_PC_ALL) || defined(GPTQ_PC_HESSIAN_ACCUM)
GPTQ_PC_BEGIN(HessianAccumPC)
    u32 n_tokens;
    u32 k;
    u32 dtype;    // GPTQ_X_*
    u32 offset;   // element offset of this dispatch's first token row in X
GPTQ_PC_END(HessianAccumPC)
#endif

#if defined(GPTQ_PC_ALL) || defined(GPTQ_PC_SCALE)
GPTQ_PC_BEGIN(ScalePC)
    u32 count;
    f32 scale;
GPTQ_PC_END(ScalePC)
#endif

#if defined(GPTQ_PC_ALL) || defined(GPTQ_PC_GROUP_PARAMS)
GPTQ_PC_BEGIN(GroupParamsPC)
    u32 n;           // rows of W
    u32 k;           // columns of W
    u32 group_cols;  // G
    u32 g0;          // first group of this dispatch
    u32 g_count;     // groups in this dispatch
    u32 bits;
    u32 sym;
    u32 s_begin;     // MSE shrink steps [s_begin, s_end) of this dispatch;
    u32 s_end;       // s_end == 0: plain min/max parameters
    f32 mse_norm;
    u32 use_dead;    // natural W: read dead columns (dead[c] != 0) as zero
    u32 transposed;  // 1: read the working Wt [k x n] instead of W [n x k]
GPTQ_PC_END(GroupParamsPC)
#endif

#if defined(GPTQ_PC_ALL) || defined(GPTQ_PC_PREP)
GPTQ_PC_BEGIN(PrepPC)
    u32 n;
    u32 k;
    u32 mode;    // 0: permute H (k x k) with the dead fix, 1: W [n x k] -> permuted Wt [k x n]
GPTQ_PC_END(PrepPC)
#endif

#if defined(GPTQ_PC_ALL) || defined(GPTQ_PC_DAMP)
GPTQ_PC_BEGIN(DampPC)
    u32 k;
    f32 damp;    // added to the diagonal
GPTQ_PC_END(DampPC)
#endif

#if defined(GPTQ_PC_ALL) || defined(GPTQ_PC_CHOL)
GPTQ_PC_BEGIN(CholPC)
    u32 k;
    u32 kb;      // first column of the current diagonal block
    u32 nb;      // its width
GPTQ_PC_END(CholPC)
#endif

#if defined(GPTQ_PC_ALL) || defined(GPTQ_PC_TRI_INV)
GPTQ_PC_BEGIN(TriInvPC)
    u32 k;
    u32 r0;      // row block [r0, r0 + nb) of L^-1 computed by this step
    u32 nb;
GPTQ_PC_END(TriInvPC)
#endif

#if defined(GPTQ_PC_ALL) || defined(GPTQ_PC_SQUARE)
GPTQ_PC_BEGIN(SquarePC)
    u32 k;
GPTQ_PC_END(SquarePC)
#endif

#if defined(GPTQ_PC_ALL) || defined(GPTQ_PC_BLOCK)
GPTQ_PC_BEGIN(BlockPC)
    u32 n;
    u32 k;
    u32 i1;          // block columns [i1, i2) of the permuted order
    u32 i2;
    u32 c_begin;     // columns [c_begin, c_end) of the block quantized by this dispatch
    u32 c_end;
    u32 group_cols;  // G (k for group_size -1)
    u32 bits;
    u32 params_mode; // GPTQ_PARAMS_*
    u32 act_order;   // static parameters are looked up through perm
GPTQ_PC_END(BlockPC)
#endif

#if defined(GPTQ_PC_ALL) || defined(GPTQ_PC_TRAILING)
GPTQ_PC_BEGIN(TrailingPC)
    u32 n;
    u32 k;
    u32 i1;
    u32 i2;
GPTQ_PC_END(TrailingPC)
#endif

#if defined(GPTQ_PC_ALL) || defined(GPTQ_PC_PACK)
GPTQ_PC_BEGIN(PackPC)
    u32 n;
    u32 k;
    u32 bits;
    u32 qrows;
GPTQ_PC_END(PackPC)
#endif

#if defined(GPTQ_PC_ALL) || defined(GPTQ_PC_PACK_ZEROS)
GPTQ_PC_BEGIN(PackZerosPC)
    u32 n;       // zero points per row (output features)
    u32 rows;    // groups
    u32 row0;    // first group of this dispatch (the grid's y size is limited)
    u32 bits;
    u32 qcols;   // words per row of qzeros
    u32 offset;  // subtracted before masking: 1 for v1, 0 for v2
GPTQ_PC_END(PackZerosPC)
#endif

#if defined(GPTQ_PC_ALL) || defined(GPTQ_PC_MATMUL_DENSE)
GPTQ_PC_BEGIN(MatmulDensePC)
    u32 m;        // rows of X and Y
    u32 n;        // output features (rows of W)
    u32 k;        // input features
    u32 x_dtype;  // GPTQ_X_*
    u32 w_dtype;  // GPTQ_X_* (the same codes)
GPTQ_PC_END(MatmulDensePC)
#endif

#if defined(GPTQ_PC_ALL) || defined(GPTQ_PC_HESSIAN_BCAST)
GPTQ_PC_BEGIN(HessianBcastPC)
    u32 n_tokens;
    u32 k;
    u32 ld;       // row stride of X in elements, a multiple of 4 (rows zero-padded)
    u32 offset;   // element offset of this dispatch's first token row in X (a multiple of 4)
GPTQ_PC_END(HessianBcastPC)
#endif

#undef u32
#undef f32
#undef GPTQ_PC_BEGIN
#undef GPTQ_PC_END
#endif
