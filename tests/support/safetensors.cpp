// Test-only safetensors reader. Trusted input (the shared reference vectors), but every
// offset is still checked against the file size so a truncated file fails cleanly.
#include "safetensors.h"

#include "test_common.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

struct st_file {
    std::vector<unsigned char> bytes;
    size_t body = 0;  // offset of the first data byte
    std::map<std::string, st_tensor_info> tensors;
    std::map<std::string, std::string> meta;
};

namespace {

size_t dtype_size(const std::string &dt) {
    if (dt == "F32" || dt == "I32" || dt == "U32") return 4;
    if (dt == "F16" || dt == "BF16" || dt == "I16") return 2;
    if (dt == "F64" || dt == "I64") return 8;
    if (dt == "I8" || dt == "U8" || dt == "BOOL") return 1;
    return 0;
}

bool parse(st_file &f, const char *path) {
    if (f.bytes.size() < 8) {
        std::fprintf(stderr, "%s: shorter than the 8-byte header length\n", path);
        return false;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | f.bytes[size_t(i)];
    if (hlen > f.bytes.size() - 8) {
        std::fprintf(stderr, "%s: header length %llu exceeds the file\n", path,
                     static_cast<unsigned long long>(hlen));
        return false;
    }
    f.body = 8 + size_t(hlen);
    const size_t body_len = f.bytes.size() - f.body;
    nlohmann::json j = nlohmann::json::parse(f.bytes.begin() + 8, f.bytes.begin() + long(f.body),
                                             nullptr, false);
    if (!j.is_object()) {
        std::fprintf(stderr, "%s: header is not a JSON object\n", path);
        return false;
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (it.key() == "__metadata__") {
            if (!it->is_object()) return false;
            for (auto m = it->begin(); m != it->end(); ++m)
                if (m->is_string()) f.meta[m.key()] = m->get<std::string>();
            continue;
        }
        const nlohmann::json &t = *it;
        if (!t.is_object() || !t.contains("dtype") || !t.contains("shape") ||
            !t.contains("data_offsets")) {
            std::fprintf(stderr, "%s: tensor '%s' lacks dtype/shape/data_offsets\n", path,
                         it.key().c_str());
            return false;
        }
        st_tensor_info info{};
        const std::string dt = t["dtype"].get<std::string>();
        const size_t esz = dtype_size(dt);
        if (esz == 0 || dt.size() >= sizeof info.dtype) return false;
        std::strcpy(info.dtype, dt.c_str());
        const auto &shape = t["shape"];
        if (!shape.is_array() || shape.size() > ST_MAX_DIMS) return false;
        info.ndim = int(shape.size());
        info.numel = 1;
        for (int d = 0; d < info.ndim; ++d) {
            if (!shape[size_t(d)].is_number_integer()) return false;
            const int64_t s = shape[size_t(d)].get<int64_t>();
            if (s < 0 || s > (int64_t(1) << 40)) return false;
            info.shape[d] = s;
            // A hostile shape whose product wraps would make a tiny allocation look
            // large enough for every later write.
            if (__builtin_mul_overflow(info.numel, s, &info.numel)) {
                std::fprintf(stderr, "%s: tensor '%s' has an overflowing shape\n", path,
                             it.key().c_str());
                return false;
            }
        }
        uint64_t want = 0;
        if (__builtin_mul_overflow(uint64_t(info.numel), uint64_t(esz), &want)) {
            std::fprintf(stderr, "%s: tensor '%s' is too large\n", path, it.key().c_str());
            return false;
        }
        const auto &off = t["data_offsets"];
        if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
            !off[1].is_number_unsigned())
            return false;
        const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
        if (b > e || e > body_len || e - b != want) {
            std::fprintf(stderr, "%s: tensor '%s' has bad data_offsets\n", path,
                         it.key().c_str());
            return false;
        }
        info.data = f.bytes.data() + f.body + b;
        info.nbytes = size_t(e - b);
        f.tensors[it.key()] = info;
    }
    return true;
}

uint32_t load_u32(const unsigned char *p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

}  // namespace

extern "C" st_file *st_open(const char *path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "%s: cannot open\n", path);
        return nullptr;
    }
    st_file *f = new st_file;
    f->bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    bool ok = false;
    try {
        ok = parse(*f, path);
    } catch (const std::exception &e) {  // a field of the wrong JSON type
        std::fprintf(stderr, "%s: %s\n", path, e.what());
    }
    if (!ok) {
        delete f;
        return nullptr;
    }
    return f;
}

extern "C" void st_close(st_file *f) { delete f; }

extern "C" int st_info(const st_file *f, const char *name, st_tensor_info *info) {
    const auto it = f->tensors.find(name);
    if (it == f->tensors.end()) return -1;
    *info = it->second;
    return 0;
}

extern "C" const char *st_meta(const st_file *f, const char *key) {
    const auto it = f->meta.find(key);
    return it == f->meta.end() ? nullptr : it->second.c_str();
}

extern "C" float *st_read_f32(const st_file *f, const char *name, int64_t *numel) {
    st_tensor_info info;
    if (st_info(f, name, &info) != 0) return nullptr;
    const auto *p = static_cast<const unsigned char *>(info.data);
    float *out = static_cast<float *>(tc_xmalloc(size_t(info.numel) * sizeof(float)));
    if (std::strcmp(info.dtype, "F32") == 0) {
        for (int64_t i = 0; i < info.numel; ++i) {
            const uint32_t u = load_u32(p + 4 * i);
            std::memcpy(&out[i], &u, 4);
        }
    } else if (std::strcmp(info.dtype, "F16") == 0) {
        for (int64_t i = 0; i < info.numel; ++i)
            out[i] = tc_f16_to_f32(uint16_t(p[2 * i] | p[2 * i + 1] << 8));
    } else {
        std::free(out);
        return nullptr;
    }
    if (numel) *numel = info.numel;
    return out;
}

extern "C" int32_t *st_read_i32(const st_file *f, const char *name, int64_t *numel) {
    st_tensor_info info;
    if (st_info(f, name, &info) != 0 || std::strcmp(info.dtype, "I32") != 0) return nullptr;
    const auto *p = static_cast<const unsigned char *>(info.data);
    int32_t *out = static_cast<int32_t *>(tc_xmalloc(size_t(info.numel) * sizeof(int32_t)));
    for (int64_t i = 0; i < info.numel; ++i) out[i] = int32_t(load_u32(p + 4 * i));
    if (numel) *numel = info.numel;
    return out;
}
