// Validated, backend-facing copy of gptq_quant_params.
#pragma once

#include <gptq/gptq.h>

#include <cstdint>
#include <string>

namespace gptq {

struct QuantOptions {
    int bits = 4;
    int group_size = 128;  // as the user gave it: -1 or >= 1
    bool sym = false;
    bool desc_act = false;
    bool static_groups = false;
    int block_size = 128;
    float damp_percent = 0.01f;
    float damp_auto_increment = 0.01f;
    float damp_max = 1.0f;
    bool mse = false;
    int mse_grid = 100;
    float mse_maxshrink = 0.8f;
    float mse_norm = 2.4f;
    std::string layer_name;  // "" when the caller gave none
    gptq_progress_fn progress = nullptr;
    void *progress_user = nullptr;

    int maxq() const { return (1 << bits) - 1; }
    // Columns per group for a layer with k inputs (group_size -1 means one group of k).
    int64_t group_cols(int64_t k) const { return group_size < 0 ? k : group_size; }
    int64_t n_groups(int64_t k) const {
        const int64_t g = group_cols(k);
        return (k + g - 1) / g;
    }
    // Reports progress; throws Error(GPTQ_ERR_CANCELLED) if the callback asks to stop.
    void report_progress(int64_t done, int64_t total) const;
    // "layer 'name'" or "layer" for messages.
    std::string layer_label() const;
};

// Checks the user's params (struct_size, ranges) and converts them. Throws gptq::Error.
QuantOptions quant_options_from_params(const gptq_quant_params *params);

} // namespace gptq
