#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
// matmul_gemv_runs.comp with X broadcast by subgroup shuffles instead of shared-memory reads
// (see run_dot_shuffle); built only on devices with subgroup shuffles.
#define GPTQ_RUNS_SHUFFLE
#include "matmul_gemv_runs.glsl"
