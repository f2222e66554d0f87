#include "quant_report.h"

#include <unistd.h>

#include <cmath>

namespace llama {

ProgressBar::ProgressBar(std::string label, int64_t total, FILE *out)
    : label_(std::move(label)), total_(total), out_(out), tty_(isatty(fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()) {}

std::string format_duration(double s) {
    if (!std::isfinite(s) || s < 0) return "?";
    const long t = long(s + 0.5);
    char buf[32];
    if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
    return buf;
}

void ProgressBar::update(int64_t done, const std::string &detail) {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double frac = total_ > 0 ? double(done) / double(total_) : 1.0;
    const double eta = done > 0 ? elapsed * (1.0 - frac) / frac : NAN;
    const int width = 24, filled = int(frac * width + 0.5);
    const int64_t step = total_ >= 10 ? total_ / 10 : 1;
    if (!tty_ && done != total_ && done / step == last_printed_ / step) return;
    last_printed_ = done;
    std::string bar(size_t(filled), '#');
    bar.append(size_t(width - filled), '.');
    std::fprintf(out_, "%s%s [%s] %lld/%lld %-34s elapsed %s ETA %s%s", tty_ ? "\r" : "",
                 label_.c_str(), bar.c_str(), (long long)done, (long long)total_, detail.c_str(),
                 format_duration(elapsed).c_str(), format_duration(eta).c_str(),
                 tty_ ? "\x1b[K" : "\n");
    std::fflush(out_);
}

void ProgressBar::finish() {
    if (tty_) std::fputc('\n', out_);
    std::fflush(out_);
}

namespace {

void print_rtn_table(FILE *out, const std::vector<LayerRecord> &records) {
    std::fprintf(out, "%-5s %-9s %9s %12s %7s\n", "layer", "module", "shape", "rel_err", "sec");
    for (const LayerRecord &r : records) {
        char shape[32], rel[16];
        std::snprintf(shape, sizeof shape, "%lldx%lld", (long long)r.n, (long long)r.k);
        // Without calibration data there is no Hessian to measure the error on.
        if (r.rel_error >= 0) std::snprintf(rel, sizeof rel, "%.4e", r.rel_error);
        else std::snprintf(rel, sizeof rel, "-");
        std::fprintf(out, "%-5d %-9s %9s %12s %7.3f\n", r.layer, module_short_name(r.module), shape,
                     rel, r.seconds);
    }
}

} // namespace

void print_layer_table(FILE *out, const std::vector<LayerRecord> &records, bool rtn_only) {
    if (rtn_only) return print_rtn_table(out, records);
    std::fprintf(out, "%-5s %-9s %9s %12s %12s %12s %8s %7s\n", "layer", "module", "shape",
                 "gptq_loss", "rel_err", "rtn_rel_err", "damp", "sec");
    for (const LayerRecord &r : records) {
        char shape[32], rel[16], rtn[16];
        std::snprintf(shape, sizeof shape, "%lldx%lld", (long long)r.n, (long long)r.k);
        if (r.rel_error >= 0) std::snprintf(rel, sizeof rel, "%.4e", r.rel_error);
        else std::snprintf(rel, sizeof rel, "-");
        if (r.rtn_rel_error >= 0) std::snprintf(rtn, sizeof rtn, "%.4e", r.rtn_rel_error);
        else std::snprintf(rtn, sizeof rtn, "-");
        std::fprintf(out, "%-5d %-9s %9s %12.4e %12s %12s %8.4f %7.3f\n", r.layer,
                     module_short_name(r.module), shape, r.gptq_loss, rel, rtn, r.damp_used,
                     r.seconds);
    }
}

} // namespace llama
