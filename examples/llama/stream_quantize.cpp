#include "stream_quantize.h"

#include "checkpoint_writer.h"

namespace llama {

StreamResult quantize_to_checkpoint(Model &m, gptq_ctx *ctx,
                                    const std::vector<std::vector<int32_t>> &calib,
                                    QuantizeOptions opt, const std::string &out,
                                    const SaveOptions &so, const QuantizeProgressFn &progress,
                                    const std::function<void(const std::vector<LayerRecord> &)>
                                        &before_publish) {
    // Only the packed shapes depend on the quantization: bits and group size.
    QuantConfig planned;
    planned.bits = opt.params.bits;
    planned.group_size = opt.params.group_size;
    const gptq_zeros_format fmt = checkpoint_zeros_format(opt);
    const int n_layers = int(m.cfg.n_layers);
    const int first = opt.first_layer, last = opt.last_layer < 0 ? n_layers : opt.last_layer;
    auto writer = begin_checkpoint(m, out, so, &planned, first, last);
    write_checkpoint_globals(*writer, m);
    // Each block is freed once written: the quantized layers are in the file, and a lazily
    // loaded block gives its mapped pages back.
    auto write_and_free = [&](int l) {
        write_checkpoint_block(*writer, m, ctx, l, fmt);
        for (Linear &lin : m.blocks[size_t(l)].lin) lin.release();
    };
    // Blocks after the range are final already; the ones before are needed for calibration.
    for (int l = last; l < n_layers; ++l) write_and_free(l);
    opt.block_done = [&](int l) {
        write_and_free(l);
        if (l == first)
            for (int b = 0; b < first; ++b) write_and_free(b);
    };
    StreamResult r;
    r.records = quantize_model(m, ctx, calib, opt, progress);
    if (before_publish) before_publish(r.records);
    r.shards = writer->shard_names();
    finish_checkpoint(*writer, m, so);
    return r;
}

} // namespace llama
