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
    const gptq_zeros_format fmt = opt.params.sym ? GPTQ_ZEROS_V1 : GPTQ_ZEROS_V2;
    auto writer = begin_checkpoint(m, out, so, &planned);
    write_checkpoint_globals(*writer, m);
    opt.block_done = [&](int l) { write_checkpoint_block(*writer, m, ctx, l, fmt); };
    StreamResult r;
    r.records = quantize_model(m, ctx, calib, opt, progress);
    if (before_publish) before_publish(r.records);
    r.shards = writer->shard_names();
    finish_checkpoint(*writer, m, so);
    return r;
}

} // namespace llama
