#include "checkpoint_writer.h"

#include "error.h"
#include "file_io.h"
#include "gptq_layout.h"
#include "half.h"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace llama {

namespace {

uint64_t dtype_bytes(const std::string &d) { return d == "F16" || d == "BF16" ? 2 : 4; }

void add(std::vector<PlannedTensor> &p, const std::string &name, const std::string &dtype,
         std::vector<int64_t> shape) {
    uint64_t n = dtype_bytes(dtype);
    for (int64_t d : shape) n *= uint64_t(d);
    p.push_back({name, dtype, std::move(shape), n});
}

// strerror in the middle of a sentence: "no space left on device".
std::string error_text(int err) {
    std::string t = std::strerror(err);
    if (!t.empty() && t[0] >= 'A' && t[0] <= 'Z' && !(t.size() > 1 && t[1] >= 'A' && t[1] <= 'Z'))
        t[0] = char(t[0] - 'A' + 'a');
    return t;
}

// A failed I/O step, told in the user's terms: the file and the output directory they asked
// for (the staging directory OUT.tmp-XXXXXX is removed on the way out, naming it would only
// confuse). E.g. "no space left on device while writing model.safetensors for OUT: ...".
// The thrown error unwinds through the StagingDir, which removes what was written.
[[noreturn]] void io_fail(const std::string &out, const std::string &file, const char *doing,
                          int err) {
    const std::string name = file.substr(file.find_last_of('/') + 1);
    fail(GPTQ_ERR_IO,
         "%s while %s %s for %s: the checkpoint was not saved (an existing %s is left as it "
         "was)",
         error_text(err).c_str(), doing, name.c_str(), out.c_str(), out.c_str());
}

void pwrite_all(int fd, const void *data, uint64_t size, uint64_t offset, const std::string &path,
                const std::string &out) {
    const char *p = static_cast<const char *>(data);
    while (size > 0) {
        const int injected = checkpoint_io_errno("write");
        const ssize_t n =
            injected ? -1 : ::pwrite(fd, p, size_t(std::min<uint64_t>(size, 1u << 30)), off_t(offset));
        const int err = injected ? injected : errno;
        if (n < 0 && err == EINTR) continue;
        // A write that makes no progress without an error: the disk is full.
        if (n <= 0) io_fail(out, path, "writing", n < 0 ? err : ENOSPC);
        p += n;
        size -= uint64_t(n);
        offset += uint64_t(n);
    }
}

std::string shard_name(int i, int n) {
    if (n == 1) return "model.safetensors";
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", i + 1, n);
    return buf;
}

} // namespace

std::vector<PlannedTensor> plan_checkpoint(const Model &m, const QuantConfig *quant,
                                           const std::string &fd, int first, int last) {
    const Config &c = m.cfg;
    std::vector<PlannedTensor> p;
    add(p, "model.embed_tokens.weight", fd, {c.vocab_size, c.dim});
    for (int l = 0; l < int(c.n_layers); ++l) {
        const Block &b = m.blocks[size_t(l)];
        const std::string pre = "model.layers." + std::to_string(l) + ".";
        add(p, pre + "input_layernorm.weight", fd, {c.dim});
        add(p, pre + "post_attention_layernorm.weight", fd, {c.dim});
        if (!b.q_norm.empty()) {
            add(p, pre + "self_attn.q_norm.weight", fd, {c.head_dim});
            add(p, pre + "self_attn.k_norm.weight", fd, {c.head_dim});
        }
        for (int mod = 0; mod < kNumModules; ++mod) {
            const Linear &lin = b.lin[size_t(mod)];
            const std::string name = module_hf_name(l, mod);
            const bool in_range = l >= first && (last < 0 || l < last);
            const QuantConfig *q = quant ? (in_range ? quant : nullptr)
                                         : lin.quantized() ? &m.quant : nullptr;
            const std::vector<float> &bias = b.bias[size_t(mod)];
            if (!bias.empty()) add(p, name + ".bias", fd, {int64_t(bias.size())});
            if (!q) {
                add(p, name + ".weight", fd, {lin.n(), lin.k()});
                continue;
            }
            const int64_t n = lin.n(), k = lin.k();
            const int64_t groups = group_count(k, q->group_size);
            add(p, name + ".qweight", "I32", {packed_len(k, q->bits), n});
            add(p, name + ".qzeros", "I32", {groups, packed_len(n, q->bits)});
            add(p, name + ".scales", "F16", {groups, n});
            add(p, name + ".g_idx", "I32", {k});
        }
    }
    add(p, "model.norm.weight", fd, {c.dim});
    if (!c.tied_embeddings) add(p, "lm_head.weight", fd, {c.vocab_size, c.dim});
    return p;
}

CheckpointWriter::CheckpointWriter(const std::string &out, std::vector<PlannedTensor> plan,
                                   uint64_t max_shard_bytes)
    : dir_(out) {
    try {
        // Greedy split in file order; a tensor larger than the limit gets a shard of its own.
        std::vector<std::vector<size_t>> groups(1);
        uint64_t used = 0;
        for (size_t i = 0; i < plan.size(); ++i) {
            if (!groups.back().empty() && used + plan[i].bytes > max_shard_bytes) {
                groups.emplace_back();
                used = 0;
            }
            groups.back().push_back(i);
            used += plan[i].bytes;
        }
        const int n = int(groups.size());
        for (int s = 0; s < n; ++s) {
            nlohmann::json header = nlohmann::json::object();
            uint64_t off = 0;
            for (size_t i : groups[size_t(s)]) {
                const PlannedTensor &t = plan[i];
                header[t.name] = {{"dtype", t.dtype},
                                  {"shape", t.shape},
                                  {"data_offsets", {off, off + t.bytes}}};
                slots_[t.name] = Slot{s, off, t, false};
                order_.push_back(t.name);
                off += t.bytes;
            }
            header["__metadata__"] = {{"format", "pt"}};
            std::string text = header.dump();
            // Spaces up to 8-byte alignment of the data, as the reference writer does.
            text.append((8 - text.size() % 8) % 8, ' ');
            uint8_t len[8];
            for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(text.size()) >> (8 * i));
            Shard sh;
            sh.file = dir_.file(shard_name(s, n));
            checkpoint_io_step("create");
            sh.fd = ::open(sh.file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
            if (sh.fd < 0) io_fail(dir_.out(), sh.file, "creating", errno);
            shards_.push_back(sh);
            pwrite_all(sh.fd, len, 8, 0, sh.file, dir_.out());
            pwrite_all(sh.fd, text.data(), text.size(), 8, sh.file, dir_.out());
            shards_.back().data_start = 8 + text.size();
        }
    } catch (...) {
        close_all();
        throw;
    }
}

CheckpointWriter::~CheckpointWriter() { close_all(); }

void CheckpointWriter::close_all() noexcept {
    for (Shard &s : shards_)
        if (s.fd >= 0) {
            ::close(s.fd);
            s.fd = -1;
        }
}

void CheckpointWriter::write(const std::string &name, const void *data, uint64_t bytes) {
    const auto it = slots_.find(name);
    if (it == slots_.end())
        fail(GPTQ_ERR_INTERNAL, "checkpoint writer: '%s' is not in the plan", name.c_str());
    Slot &s = it->second;
    if (s.written || bytes != s.t.bytes)
        fail(GPTQ_ERR_INTERNAL, "checkpoint writer: '%s' written twice or with %llu bytes, "
             "planned %llu", name.c_str(), (unsigned long long)bytes,
             (unsigned long long)s.t.bytes);
    const Shard &sh = shards_[size_t(s.shard)];
    pwrite_all(sh.fd, data, bytes, sh.data_start + s.offset, sh.file, dir_.out());
    s.written = true;
}

void CheckpointWriter::write_floats(const std::string &name, const float *data, int64_t count) {
    const auto it = slots_.find(name);
    if (it == slots_.end())
        fail(GPTQ_ERR_INTERNAL, "checkpoint writer: '%s' is not in the plan", name.c_str());
    const std::string &d = it->second.t.dtype;
    if (d == "F32") return write(name, data, uint64_t(count) * 4);
    std::vector<uint16_t> h(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i)
        h[size_t(i)] = d == "F16" ? float_to_half(data[i]) : float_to_bf16(data[i]);
    write(name, h.data(), uint64_t(count) * 2);
}

void CheckpointWriter::write_matrix(const std::string &name, const gptq_matrix &m) {
    const auto it = slots_.find(name);
    if (it == slots_.end())
        fail(GPTQ_ERR_INTERNAL, "checkpoint writer: '%s' is not in the plan", name.c_str());
    const std::string &d = it->second.t.dtype;
    const int64_t count = m.rows * m.cols;
    if ((d == "F16" && m.dtype == GPTQ_DTYPE_F16) || (d == "BF16" && m.dtype == GPTQ_DTYPE_BF16))
        return write(name, m.data, uint64_t(count) * 2);
    if (m.dtype == GPTQ_DTYPE_F32) return write_floats(name, static_cast<const float *>(m.data), count);
    const std::vector<float> f = matrix_to_f32(m);
    write_floats(name, f.data(), count);
}

void CheckpointWriter::write_text(const std::string &file, const std::string &text) {
    const std::string path = dir_.file(file);
    checkpoint_io_step("create");
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) io_fail(dir_.out(), path, "creating", errno);
    try {
        pwrite_all(fd, text.data(), text.size(), 0, path, dir_.out());
        checkpoint_io_step("fsync");
        if (::fsync(fd) != 0) io_fail(dir_.out(), path, "flushing", errno);
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
}

std::vector<std::string> CheckpointWriter::shard_names() const {
    std::vector<std::string> names;
    for (const Shard &s : shards_) names.push_back(s.file.substr(s.file.find_last_of('/') + 1));
    return names;
}

void CheckpointWriter::commit() {
    for (const std::string &name : order_)
        if (!slots_[name].written)
            fail(GPTQ_ERR_INTERNAL, "checkpoint writer: tensor '%s' was never written",
                 name.c_str());
    for (Shard &s : shards_) {
        checkpoint_io_step("fsync");
        if (::fsync(s.fd) != 0) io_fail(dir_.out(), s.file, "flushing", errno);
        const int fd = s.fd;
        s.fd = -1;
        if (::close(fd) != 0) io_fail(dir_.out(), s.file, "closing", errno);
    }
    if (shards_.size() > 1) {
        nlohmann::json map = nlohmann::json::object();
        uint64_t total = 0;
        const std::vector<std::string> names = shard_names();
        for (const std::string &name : order_) {
            const Slot &s = slots_[name];
            map[name] = names[size_t(s.shard)];
            total += s.t.bytes;
        }
        const nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", map}};
        write_text("model.safetensors.index.json", index.dump(2) + "\n");
    }
    dir_.publish();
}

} // namespace llama
