// The llama2.c model reader on arbitrary bytes: a clean llama::Error or a model, never a
// crash, an out-of-bounds read or an allocation the file cannot back.
#include "fuzz_input_file.h"

#include "error.h"
#include "loaders.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FuzzInputFile in(data, size);
    if (!in.ok()) return 0;
    try {
        (void)llama::load_llama2c(in.path());
    } catch (const llama::Error &) {
    }
    return 0;
}
