#include "safetensors.h"

#include "error.h"
#include "half.h"

#include <algorithm>
#include <cstring>

namespace llama {

namespace {

size_t dtype_size(const std::string &d) {
    static const std::map<std::string, size_t> sizes = {
        {"F64", 8}, {"F32", 4},  {"F16", 2},  {"BF16", 2}, {"I64", 8},     {"I32", 4},
        {"I16", 2}, {"I8", 1},   {"U64", 8},  {"U32", 4},  {"U16", 2},     {"U8", 1},
        {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
    auto it = sizes.find(d);
    return it == sizes.end() ? 0 : it->second;
}

// nlohmann's parser is iterative, but bounding the nesting keeps every later walk over the
// value (printing, destruction) cheap; a real header is two levels deep.
bool nesting_within(const char *p, size_t n, int max_depth) {
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < n; ++i) {
        const char c = p[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth) return false;
        } else if (c == '}' || c == ']') {
            --depth;
        }
    }
    return true;
}

uint64_t read_u64_le(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

} // namespace

std::string shape_string(const std::vector<int64_t> &shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

SafeTensorsFile::SafeTensorsFile(const std::string &path) : file_(new MappedFile(path)) {
    const char *fn = path.c_str();
    const uint8_t *base = file_->data();
    const uint64_t size = file_->size();
    if (size < 8) fail(GPTQ_ERR_FORMAT, "%s: truncated safetensors file (%llu bytes)", fn,
                       (unsigned long long)size);
    const uint64_t hlen = read_u64_le(base);
    if (hlen > kMaxSafetensorsHeader)
        fail(GPTQ_ERR_FORMAT, "%s: header length %llu exceeds the %llu-byte limit", fn,
             (unsigned long long)hlen, (unsigned long long)kMaxSafetensorsHeader);
    if (hlen > size - 8)
        fail(GPTQ_ERR_FORMAT, "%s: header length %llu runs past the end of the file (%llu bytes)",
             fn, (unsigned long long)hlen, (unsigned long long)size);
    const char *hdr = reinterpret_cast<const char *>(base + 8);
    if (!nesting_within(hdr, hlen, 8))
        fail(GPTQ_ERR_FORMAT, "%s: header JSON nests too deeply", fn);
    nlohmann::json j = nlohmann::json::parse(hdr, hdr + hlen, nullptr, false);
    if (j.is_discarded()) fail(GPTQ_ERR_FORMAT, "%s: header is not valid JSON", fn);
    if (!j.is_object()) fail(GPTQ_ERR_FORMAT, "%s: header is not a JSON object", fn);

    const uint8_t *data = base + 8 + hlen;
    const uint64_t data_size = size - 8 - hlen;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string &name = it.key();
        const nlohmann::json &v = it.value();
        if (name == "__metadata__") {
            if (!v.is_object()) fail(GPTQ_ERR_FORMAT, "%s: __metadata__ is not an object", fn);
            metadata_ = v;
            continue;
        }
        const char *tn = name.c_str();
        if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") ||
            !v.contains("data_offsets"))
            fail(GPTQ_ERR_FORMAT, "%s: tensor '%s' lacks dtype/shape/data_offsets", fn, tn);
        const nlohmann::json &jd = v["dtype"], &js = v["shape"], &jo = v["data_offsets"];
        if (!jd.is_string()) fail(GPTQ_ERR_FORMAT, "%s: tensor '%s': dtype is not a string", fn, tn);
        TensorInfo t;
        t.name = name;
        t.dtype = jd.get<std::string>();
        t.elem_size = dtype_size(t.dtype);
        if (t.elem_size == 0)
            fail(GPTQ_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%s'", fn, tn, t.dtype.c_str());
        if (!js.is_array() || js.size() > 8)
            fail(GPTQ_ERR_FORMAT, "%s: tensor '%s': shape is not an array of <= 8 dims", fn, tn);
        uint64_t numel = 1;
        for (const auto &d : js) {
            if (!d.is_number_unsigned())
                fail(GPTQ_ERR_FORMAT, "%s: tensor '%s': shape has a non-integer or negative dim",
                     fn, tn);
            const uint64_t dim = d.get<uint64_t>();
            if (dim > uint64_t(INT64_MAX) || __builtin_mul_overflow(numel, dim, &numel))
                fail(GPTQ_ERR_FORMAT, "%s: tensor '%s': element count overflows", fn, tn);
            t.shape.push_back(int64_t(dim));
        }
        uint64_t nbytes;
        if (numel > uint64_t(INT64_MAX) || __builtin_mul_overflow(numel, t.elem_size, &nbytes))
            fail(GPTQ_ERR_FORMAT, "%s: tensor '%s': byte size overflows", fn, tn);
        if (!jo.is_array() || jo.size() != 2 || !jo[0].is_number_unsigned() ||
            !jo[1].is_number_unsigned())
            fail(GPTQ_ERR_FORMAT, "%s: tensor '%s': data_offsets is not [begin, end]", fn, tn);
        const uint64_t b = jo[0].get<uint64_t>(), e = jo[1].get<uint64_t>();
        if (b > e || e > data_size)
            fail(GPTQ_ERR_FORMAT,
                 "%s: tensor '%s': data_offsets [%llu, %llu] outside the %llu data bytes", fn, tn,
                 (unsigned long long)b, (unsigned long long)e, (unsigned long long)data_size);
        if (e - b != nbytes)
            fail(GPTQ_ERR_FORMAT, "%s: tensor '%s': %llu bytes for %s %s (expected %llu)", fn, tn,
                 (unsigned long long)(e - b), t.dtype.c_str(), shape_string(t.shape).c_str(),
                 (unsigned long long)nbytes);
        t.numel = int64_t(numel);
        t.nbytes = size_t(nbytes);
        t.data = data + b;
        if (nbytes > 0) ranges.emplace_back(b, e);
        tensors_.emplace(name, std::move(t));
    }
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); ++i)
        if (ranges[i].first < ranges[i - 1].second)
            fail(GPTQ_ERR_FORMAT, "%s: tensor data ranges overlap", fn);
}

const TensorInfo *SafeTensorsFile::find(const std::string &name) const {
    auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : &it->second;
}

const TensorInfo &SafeTensorsFile::get(const std::string &name) const {
    const TensorInfo *t = find(name);
    if (!t) fail(GPTQ_ERR_FORMAT, "%s: missing tensor '%s'", path().c_str(), name.c_str());
    return *t;
}

void expect_shape(const TensorInfo &t, const std::vector<int64_t> &shape) {
    if (t.shape != shape)
        fail(GPTQ_ERR_FORMAT, "tensor '%s' has shape %s, expected %s", t.name.c_str(),
             shape_string(t.shape).c_str(), shape_string(shape).c_str());
}

std::vector<float> tensor_to_f32(const TensorInfo &t) {
    std::vector<float> out(size_t(t.numel));
    if (t.dtype == "F32") {
        if (t.nbytes) std::memcpy(out.data(), t.data, t.nbytes);
    } else if (t.dtype == "F16" || t.dtype == "BF16") {
        const bool bf = t.dtype == "BF16";
        for (size_t i = 0; i < out.size(); ++i) {
            uint16_t h;
            std::memcpy(&h, t.data + 2 * i, 2);
            out[i] = bf ? bf16_to_float(h) : half_to_float(h);
        }
    } else {
        fail(GPTQ_ERR_FORMAT, "tensor '%s' has dtype %s, expected F32, F16 or BF16",
             t.name.c_str(), t.dtype.c_str());
    }
    return out;
}

std::vector<int32_t> tensor_to_i32(const TensorInfo &t) {
    if (t.dtype != "I32")
        fail(GPTQ_ERR_FORMAT, "tensor '%s' has dtype %s, expected I32", t.name.c_str(),
             t.dtype.c_str());
    std::vector<int32_t> out(size_t(t.numel));
    if (t.nbytes) std::memcpy(out.data(), t.data, t.nbytes);
    return out;
}

std::vector<uint16_t> tensor_to_f16_bits(const TensorInfo &t) {
    if (t.dtype != "F16")
        fail(GPTQ_ERR_FORMAT, "tensor '%s' has dtype %s, expected F16", t.name.c_str(),
             t.dtype.c_str());
    std::vector<uint16_t> out(size_t(t.numel));
    if (t.nbytes) std::memcpy(out.data(), t.data, t.nbytes);
    return out;
}

// ---------------------------------------------------------------- writer

void SafeTensorsWriter::add(const std::string &name, const std::string &dtype,
                            const std::vector<int64_t> &shape, const void *data, size_t bytes) {
    size_t numel = 1;
    for (int64_t d : shape) numel *= size_t(d);
    if (dtype_size(dtype) == 0 || numel * dtype_size(dtype) != bytes)
        fail(GPTQ_ERR_INTERNAL, "safetensors writer: '%s' %s %s does not match %zu bytes",
             name.c_str(), dtype.c_str(), shape_string(shape).c_str(), bytes);
    Entry e{name, dtype, shape, {}};
    e.bytes.resize(bytes);
    if (bytes) std::memcpy(e.bytes.data(), data, bytes);
    entries_.push_back(std::move(e));
}

void SafeTensorsWriter::add_f32(const std::string &name, const std::vector<int64_t> &shape,
                                const float *data) {
    size_t numel = 1;
    for (int64_t d : shape) numel *= size_t(d);
    add(name, "F32", shape, data, numel * 4);
}

void SafeTensorsWriter::add_f16_from_f32(const std::string &name,
                                         const std::vector<int64_t> &shape, const float *data) {
    size_t numel = 1;
    for (int64_t d : shape) numel *= size_t(d);
    std::vector<uint16_t> h(numel);
    for (size_t i = 0; i < numel; ++i) h[i] = float_to_half(data[i]);
    add(name, "F16", shape, h.data(), numel * 2);
}

void SafeTensorsWriter::add_bf16_from_f32(const std::string &name,
                                          const std::vector<int64_t> &shape, const float *data) {
    size_t numel = 1;
    for (int64_t d : shape) numel *= size_t(d);
    std::vector<uint16_t> h(numel);
    for (size_t i = 0; i < numel; ++i) h[i] = float_to_bf16(data[i]);
    add(name, "BF16", shape, h.data(), numel * 2);
}

void SafeTensorsWriter::add_i32(const std::string &name, const std::vector<int64_t> &shape,
                                const int32_t *data) {
    size_t numel = 1;
    for (int64_t d : shape) numel *= size_t(d);
    add(name, "I32", shape, data, numel * 4);
}

void SafeTensorsWriter::set_metadata(const std::string &key, const std::string &value) {
    metadata_[key] = value;
}

void SafeTensorsWriter::write(const std::string &path) const {
    nlohmann::json header = nlohmann::json::object();
    uint64_t offset = 0;
    for (const Entry &e : entries_) {
        header[e.name] = {{"dtype", e.dtype},
                          {"shape", e.shape},
                          {"data_offsets", {offset, offset + e.bytes.size()}}};
        offset += e.bytes.size();
    }
    if (!metadata_.empty()) header["__metadata__"] = metadata_;
    std::string text = header.dump();
    // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
    text.append((8 - text.size() % 8) % 8, ' ');
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(text.size()) >> (8 * i));
    std::vector<Chunk> chunks{{len, 8}, {text.data(), text.size()}};
    for (const Entry &e : entries_) chunks.push_back({e.bytes.data(), e.bytes.size()});
    write_file_atomic(path, chunks);
}

} // namespace llama
