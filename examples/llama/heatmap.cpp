// PNG heatmap of per-layer / per-module relative output error.
#include "error.h"
#include "quant_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include <stb/stb_image_write.h>
#include <stb/stb_easy_font.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace llama {

namespace {

// Perceptually ordered dark-blue -> yellow ramp (few stops, linear in between).
void colour(double t, uint8_t *rgb) {
    static const double stops[5][3] = {
        {0.07, 0.04, 0.30}, {0.25, 0.25, 0.60}, {0.13, 0.57, 0.55}, {0.45, 0.80, 0.30}, {0.99, 0.91, 0.15}};
    t = std::min(1.0, std::max(0.0, t)) * 4.0;
    const int i = std::min(3, int(t));
    const double f = t - i;
    for (int c = 0; c < 3; ++c)
        rgb[c] = uint8_t(255.0 * (stops[i][c] * (1 - f) + stops[i + 1][c] * f) + 0.5);
}

// Draws text with stb_easy_font (axis-aligned quads), scaled up `scale` times.
void draw_text(std::vector<uint8_t> &img, int w, int h, int x, int y, const std::string &text,
               int scale) {
    std::vector<char> vbuf(64 * 1024);
    std::string t = text;
    const int quads = stb_easy_font_print(0, 0, &t[0], nullptr, vbuf.data(), int(vbuf.size()));
    for (int q = 0; q < quads; ++q) {
        float v[4][4];  // 4 vertices of x, y, z, colour (16 bytes each)
        std::memcpy(v, vbuf.data() + q * 64, sizeof v);
        const int x0 = x + int(v[0][0]) * scale, y0 = y + int(v[0][1]) * scale;
        const int x1 = x + int(v[2][0]) * scale, y1 = y + int(v[2][1]) * scale;
        for (int yy = std::max(0, y0); yy < std::min(h, y1); ++yy)
            for (int xx = std::max(0, x0); xx < std::min(w, x1); ++xx)
                std::fill_n(&img[size_t((yy * w + xx) * 3)], 3, uint8_t(0));
    }
}

void fill_rect(std::vector<uint8_t> &img, int w, int x0, int y0, int x1, int y1, const uint8_t *rgb) {
    for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x) std::copy(rgb, rgb + 3, &img[size_t((y * w + x) * 3)]);
}

} // namespace

void write_error_heatmap(const std::string &path, const std::vector<LayerRecord> &records,
                         int n_layers) {
    const int cell = 28, gap = 24, left = 40, top = 44, bottom = 56, right = 16;
    const bool has_rtn = std::any_of(records.begin(), records.end(),
                                     [](const LayerRecord &r) { return r.rtn_rel_error > 0; });
    const int panels = has_rtn ? 2 : 1;
    const int panel_w = kNumModules * cell;
    const int w = left + panels * panel_w + (panels - 1) * gap + right;
    const int h = top + n_layers * cell + bottom;
    // One shared log scale over both panels so colours compare across them.
    double lo = INFINITY, hi = -INFINITY;
    for (const LayerRecord &r : records)
        for (double v : {r.rel_error, r.rtn_rel_error})
            if (v > 0) {
                lo = std::min(lo, std::log10(v));
                hi = std::max(hi, std::log10(v));
            }
    if (!(hi > lo)) {
        lo = std::isfinite(lo) ? lo : -3.0;
        hi = lo + 1.0;
    }
    std::vector<uint8_t> img(size_t(w * h * 3), 255);
    static const char *cols[kNumModules] = {"q", "k", "v", "o", "gt", "up", "dn"};
    for (int p = 0; p < panels; ++p) {
        const int px = left + p * (panel_w + gap);
        draw_text(img, w, h, px, 4, p == 0 ? "GPTQ" : "RTN", 2);
        for (int m = 0; m < kNumModules; ++m) draw_text(img, w, h, px + m * cell + 8, top - 14, cols[m], 1);
    }
    for (int l = 0; l < n_layers; ++l)
        draw_text(img, w, h, 6, top + l * cell + cell / 2 - 4, "L" + std::to_string(l), 1);
    for (const LayerRecord &r : records) {
        if (r.layer < 0 || r.layer >= n_layers) continue;
        for (int p = 0; p < panels; ++p) {
            const double v = p == 0 ? r.rel_error : r.rtn_rel_error;
            uint8_t rgb[3] = {160, 160, 160};  // grey: not measured
            if (v > 0) colour((std::log10(v) - lo) / (hi - lo), rgb);
            const int x0 = left + p * (panel_w + gap) + r.module * cell, y0 = top + r.layer * cell;
            fill_rect(img, w, x0 + 1, y0 + 1, x0 + cell - 1, y0 + cell - 1, rgb);
        }
    }
    // Colour bar with its end values (log10 of the relative output error).
    const int by = top + n_layers * cell + 12, bw = w - left - right;
    for (int x = 0; x < bw; ++x) {
        uint8_t rgb[3];
        colour(double(x) / std::max(1, bw - 1), rgb);
        fill_rect(img, w, left + x, by, left + x + 1, by + 12, rgb);
    }
    char lo_s[32], hi_s[32];
    std::snprintf(lo_s, sizeof lo_s, "1e%.1f", lo);
    std::snprintf(hi_s, sizeof hi_s, "1e%.1f", hi);
    draw_text(img, w, h, left, by + 18, lo_s, 1);
    draw_text(img, w, h, left + bw - 6 * int(std::strlen(hi_s)), by + 18, hi_s, 1);
    draw_text(img, w, h, left + bw / 2 - 60, by + 18, "rel. output error", 1);
    if (!stbi_write_png(path.c_str(), w, h, 3, img.data(), w * 3))
        fail(GPTQ_ERR_IO, "%s: cannot write the heatmap", path.c_str());
}

} // namespace llama
