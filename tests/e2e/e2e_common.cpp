#include "e2e_common.h"

#include "error.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace e2e {

Paths g_paths;
static gptq_ctx *g_ctx = nullptr;

bool parse_args(int argc, char **argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s MODEL_DIR TEXT_FILE [cpu|vulkan|cuda|auto]\n", argv[0]);
        return false;
    }
    g_paths.model = std::string(argv[1]) + "/stories260K.bin";
    g_paths.tokenizer = std::string(argv[1]) + "/tok512.bin";
    g_paths.text = argv[2];
    if (argc > 3) {
        const std::string b = argv[3];
        g_paths.backend = b == "vulkan" ? GPTQ_BACKEND_VULKAN
                          : b == "cuda" ? GPTQ_BACKEND_CUDA
                          : b == "auto" ? GPTQ_BACKEND_AUTO
                                        : GPTQ_BACKEND_CPU;
    }
    return true;
}

gptq_ctx *shared_ctx() {
    if (g_ctx) return g_ctx;
    gptq_ctx_params p;
    gptq_ctx_params_init(&p);
    p.backend = g_paths.backend;
    if (gptq_ctx_create(&p, &g_ctx) != GPTQ_OK) {
        std::fprintf(stderr, "backend %s unusable here: %s\n", gptq_backend_name(p.backend),
                     gptq_last_error(nullptr));
        std::exit(77);
    }
    return g_ctx;
}

void destroy_shared_ctx() {
    gptq_ctx_destroy(g_ctx);
    g_ctx = nullptr;
}

std::string make_temp_dir() {
    const char *tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/gptq-e2e-XXXXXX";
    if (!::mkdtemp(&tmpl[0])) fail_msg("mkdtemp failed");
    return tmpl;
}

void remove_tree(const std::string &dir) {
    DIR *d = ::opendir(dir.c_str());
    if (!d) return;
    while (dirent *e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        const std::string p = dir + "/" + name;
        struct stat st;
        if (::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) remove_tree(p);
        else ::unlink(p.c_str());
    }
    ::closedir(d);
    ::rmdir(dir.c_str());
}

void write_bytes(const std::string &path, const std::string &bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    if (!out) fail_msg("cannot write %s", path.c_str());
}

std::string read_bytes(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail_msg("cannot read %s", path.c_str());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string expect_error(const std::function<void()> &fn, gptq_status status) {
    try {
        fn();
    } catch (const llama::Error &e) {
        if (e.status() != status)
            fail_msg("expected status %s, got %s: %s", gptq_status_string(status),
                     gptq_status_string(e.status()), e.what());
        return e.what();
    } catch (const std::exception &e) {
        fail_msg("expected llama::Error, got std::exception: %s", e.what());
    }
    fail_msg("expected an error with status %s, but the call succeeded", gptq_status_string(status));
    return "";
}

void no_throw(const std::function<void()> &fn) {
    try {
        fn();
    } catch (const std::exception &e) {
        fail_msg("unexpected exception: %s", e.what());
    }
}

} // namespace e2e
