/* A small, bounds-checked safetensors reader for the tests (reference vectors). Reads a
 * whole file into memory; tensors are returned as freshly allocated converted copies. */
#ifndef GPTQ_TEST_SAFETENSORS_H
#define GPTQ_TEST_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct st_file st_file;

#define ST_MAX_DIMS 4

typedef struct st_tensor_info {
    char dtype[8]; /* "F32", "F16", "I32", ... */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const void *data; /* raw little-endian bytes inside the file buffer */
    size_t nbytes;
} st_tensor_info;

/* Returns NULL (and prints why to stderr) if the file is missing or malformed. */
st_file *st_open(const char *path);
void st_close(st_file *f);

/* 0 if found (fills info), -1 if there is no such tensor. */
int st_info(const st_file *f, const char *name, st_tensor_info *info);
/* Metadata string, or NULL if the key is absent. */
const char *st_meta(const st_file *f, const char *key);

/* Converted copies (free() them). F32 and F16 convert to float; I32 to int32. NULL if the
 * tensor is missing or has another dtype. numel may be NULL. */
float *st_read_f32(const st_file *f, const char *name, int64_t *numel);
int32_t *st_read_i32(const st_file *f, const char *name, int64_t *numel);

#ifdef __cplusplus
}
#endif

#endif
