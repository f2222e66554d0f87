// Console output for long work: a progress bar with elapsed time and ETA, and the per-layer
// GPTQ-vs-RTN table.
#pragma once

#include "sequential.h"

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace llama {

class ProgressBar {
public:
    // Draws on `out` (normally stderr); redraws in place on a terminal, else prints a line
    // every ~10% so logs stay readable.
    ProgressBar(std::string label, int64_t total, FILE *out = stderr);
    void update(int64_t done, const std::string &detail = "");
    void finish();

private:
    std::string label_;
    int64_t total_;
    FILE *out_;
    bool tty_;
    int64_t last_printed_ = -1;
    std::chrono::steady_clock::time_point start_;
};

std::string format_duration(double seconds);  // "1:05", "1:02:03"

// One row per layer and module: GPTQ loss, relative output error for GPTQ and RTN. With
// rtn_only (--method rtn) only the columns RTN has: shape, relative error, time.
void print_layer_table(FILE *out, const std::vector<LayerRecord> &records, bool rtn_only = false);

// Writes a PNG: rows = transformer blocks, columns = modules, colour = log10 relative
// output error; GPTQ on the left, RTN on the right when available.
void write_error_heatmap(const std::string &path, const std::vector<LayerRecord> &records,
                         int n_layers);

} // namespace llama
