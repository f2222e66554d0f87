// Register-blocked products without shared memory (hessian_bcast.comp, trailing_bcast.comp):
// a workgroup owns RI output rows, each invocation 4 adjacent output columns, and every step
// of the reduction needs the same RI row values in all invocations. The lanes of a subgroup
// load those values together, one quad (4 values) each, and pass them around by shuffles of
// constant lane index, so each is loaded once per subgroup instead of once per lane. On
// lavapipe, where a buffer load is a loop over the SIMD lanes and arithmetic is SIMD, this is
// what makes these kernels fast (4 * RI multiply-adds per own load); a dispatch whose
// subgroups turn out not to have the expected size SG has every lane load every quad (same
// values, same arithmetic: the result never depends on the subgroup size).
// Needs: the extensions GL_KHR_shader_subgroup_basic and _shuffle, GL_EXT_control_flow_
// attributes, and a specialization constant SG (the device's subgroup size, a power of two).
#ifndef GPTQ_BCAST_GLSL
#define GPTQ_BCAST_GLSL

// Fills vec4 dst[nq] with quads first + q (q < nq) read by LOAD(index), each index clamped to
// at most `last` (quads past the end are read as another quad; their sums must be dropped).
#define GPTQ_BCAST_QUADS(dst, nq, first, last, LOAD)                                        \
    if (gl_SubgroupSize == SG) {                                                             \
        vec4 mine_[(nq + SG - 1u) / SG];                                                     \
        [[unroll]] for (uint l_ = 0u; l_ < (nq + SG - 1u) / SG; ++l_)                        \
            mine_[l_] = LOAD(min((first) + min(gl_SubgroupInvocationID + l_ * SG, nq - 1u),  \
                                 (last)));                                                   \
        [[unroll]] for (uint q_ = 0u; q_ < nq; ++q_)                                         \
            dst[q_] = subgroupShuffle(mine_[q_ / SG], q_ % SG);                              \
    } else {                                                                                 \
        [[unroll]] for (uint q_ = 0u; q_ < nq; ++q_) dst[q_] = LOAD(min((first) + q_, (last))); \
    }

#endif
