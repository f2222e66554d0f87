// What chol_diag, chol_panel and tri_inv_gemm share: the reversed view of the matrix, the
// tile shape and the register-tiled product over chunks staged in shared memory.
//
// GPTQ's factor comes from the reversed matrix (docs/gptq-reference.md §2.6, as the CPU
// backend's gptq_inverse_factor_reversed): with J the reversal permutation, J H J = L L^T
// and U = J L^-1 J. The kernels index the logical matrix J M J of a k x k row-major buffer:
// its element (i, j) is M[k-1-i][k-1-j], i.e. linear index k*k-1 - (i*k + j). So no copy
// reverses anything, the factor of the logical lower triangle lives in the physical upper
// one, and L^-1 written in logical coordinates is U in physical ones.
//
// Tiles are NB x NB (one block of the factorisation), computed by TS x TS invocations that
// each own R x R adjacent outputs (rows ty*R + i, columns tx*R + j). Products run over the
// reduction index in chunks of TK: each chunk of both operands is staged in shared memory as
// [kk][row], then every invocation loads its R + R values per kk as R/2 vec4s for R*R
// multiply-adds. On lavapipe every load is a loop over the lanes, whatever its width, so
// vec4 loads are what makes the product run at multiply-add speed. Two staged chunks (2 * TK * NB floats) and one whole tile (NB * NB) share `sh`, so
// TK >= NB / 2 (the host picks TK from the device's shared-memory size, vk_pipelines.h).
#ifndef GPTQ_FACTOR_TILES_GLSL
#define GPTQ_FACTOR_TILES_GLSL

layout(constant_id = 0) const uint NB = 64;  // block size = tile side
layout(constant_id = 1) const uint TS = 8;   // invocations per tile side
layout(constant_id = 2) const uint TK = 32;  // reduction entries per staged chunk
layout(local_size_x_id = 1, local_size_y_id = 1) in;

const uint R = NB / TS;   // outputs per invocation per side
const uint NT = TS * TS;  // invocations per workgroup
const uint RIGHT = TK * NB;  // offset of the second staged operand in sh

shared vec4 sh4[2u * TK * NB / 4u];  // >= NB * NB floats: TK >= NB / 2
// Float e of the shared tile.
#define SH(e) sh4[(e) >> 2u][(e) & 3u]

// dst[0 .. R) = the R floats of the shared tile from base (a multiple of 4), as vec4 loads.
#define LOAD_RUN(dst, base)                                        \
    [[unroll]] for (uint q_ = 0u; q_ < R / 4u; ++q_) {             \
        const vec4 x_ = sh4[((base) >> 2u) + q_];                  \
        dst[4u * q_] = x_.x;                                       \
        dst[4u * q_ + 1u] = x_.y;                                  \
        dst[4u * q_ + 2u] = x_.z;                                  \
        dst[4u * q_ + 3u] = x_.w;                                  \
    }

// Linear index of element (i, j) of the logical (reversed) k x k matrix.
uint rev(uint i, uint j) {
    return pc.k * pc.k - 1u - (i * pc.k + j);
}

// The 4 logical elements (i, p .. p+3), p a multiple of 4: one vec4 load of their physical
// (descending) run when k is a multiple of 4, which makes the run 16-byte aligned; else four.
#define LOAD4(buf4, buf, i, p)                                                             \
    ((pc.k & 3u) == 0u ? buf4[rev((i), (p) + 3u) >> 2u].wzyx                               \
                       : vec4(buf[rev((i), (p))], buf[rev((i), (p) + 1u)],                 \
                              buf[rev((i), (p) + 2u)], buf[rev((i), (p) + 3u)]))

// Stages rows [row0, row0 + NB) (those from `rows` on read as zero) x columns [p0, p0 + TK)
// of a logical matrix as sh[dst + kk*NB + r], in 4 x 4 blocks: four vec4 loads along the
// rows, four vec4 stores along the columns.
#define STAGE_TRANSPOSED(dst, buf4, buf, row0, rows, p0)                                   \
    for (uint e_ = gl_LocalInvocationIndex; e_ < (NB / 4u) * (TK / 4u); e_ += NT) {        \
        const uint r_ = (e_ / (TK / 4u)) * 4u, kk_ = (e_ % (TK / 4u)) * 4u;                 \
        vec4 m_[4];                                                                       \
        [[unroll]] for (uint i_ = 0u; i_ < 4u; ++i_)                                      \
            m_[i_] = r_ + i_ < (rows) ? LOAD4(buf4, buf, (row0) + r_ + i_, (p0) + kk_)    \
                                      : vec4(0.0);                                        \
        [[unroll]] for (uint j_ = 0u; j_ < 4u; ++j_)                                      \
            sh4[((dst) + (kk_ + j_) * NB + r_) >> 2u] =                                   \
                vec4(m_[0][j_], m_[1][j_], m_[2][j_], m_[3][j_]);                         \
    }

// Stages rows [p0, p0 + TK) x columns [col0, col0 + NB) as they are: sh[dst + kk*NB + c].
#define STAGE_STRAIGHT(dst, buf4, buf, p0, col0)                                         \
    for (uint e_ = gl_LocalInvocationIndex; e_ < TK * (NB / 4u); e_ += NT) {              \
        const uint kk_ = e_ / (NB / 4u), c_ = (e_ % (NB / 4u)) * 4u;                      \
        sh4[((dst) + kk_ * NB + c_) >> 2u] = LOAD4(buf4, buf, (p0) + kk_, (col0) + c_);   \
    }

// The R x R accumulators are a local array of main (macros, not functions, so that they
// stay registers once the loops are unrolled).
#define CLEAR_ACC(acc)                                  \
    [[unroll]] for (uint i_ = 0u; i_ < R; ++i_)         \
        [[unroll]] for (uint j_ = 0u; j_ < R; ++j_) acc[i_][j_] = 0.0

// acc[i][j] += sum_{kk < steps} sh[kk][ty*R + i] * sh[right + kk][tx*R + j], rows of NB
// floats (right = 0 for a product of the staged rows with themselves).
#define ACCUMULATE(acc, steps, right, tx, ty)                                \
    for (uint kk_ = 0u; kk_ < (steps); ++kk_) {                              \
        float v_[R], w_[R];                                                  \
        LOAD_RUN(v_, kk_ * NB + (ty) * R)                                    \
        LOAD_RUN(w_, (right) + kk_ * NB + (tx) * R)                          \
        [[unroll]] for (uint i_ = 0u; i_ < R; ++i_)                          \
            [[unroll]] for (uint j_ = 0u; j_ < R; ++j_)                      \
                acc[i_][j_] = fma(v_[i_], w_[j_], acc[i_][j_]);              \
    }

#endif
