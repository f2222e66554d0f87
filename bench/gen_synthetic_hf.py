#!/usr/bin/env python3
"""Writes a random-weight bf16 Hugging Face model of a real architecture's shapes, for the
whole-model benchmark (bench/bench_model.sh). Pure Python (no numpy): one pool of random
bf16 values (normal, std 0.02; norms 1.0) is cycled through every tensor from a random
offset, which costs nothing in the benchmark's arithmetic and keeps generation I/O-bound.
Past --max-shard-bytes the model is split into model-0000i-of-0000N.safetensors shards with
model.safetensors.index.json, as Hugging Face writes them.

Usage: gen_synthetic_hf.py SHAPE OUT_DIR   (SHAPE: tinyllama-1.1b, qwen3-0.6b, llama3-8b)
"""
import json
import os
import random
import struct
import sys

SHAPES = {
    "tinyllama-1.1b": dict(model_type="llama", hidden_size=2048, intermediate_size=5632,
                           num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
                           vocab_size=32000, head_dim=64, tie_word_embeddings=False,
                           max_position_embeddings=2048, rope_theta=10000.0),
    "qwen3-0.6b": dict(model_type="qwen3", hidden_size=1024, intermediate_size=3072,
                       num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8,
                       vocab_size=151936, head_dim=128, tie_word_embeddings=True,
                       max_position_embeddings=40960, rope_theta=1000000.0),
    "llama3-8b": dict(model_type="llama", hidden_size=4096, intermediate_size=14336,
                      num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                      vocab_size=128256, head_dim=128, tie_word_embeddings=False,
                      max_position_embeddings=8192, rope_theta=500000.0),
}

POOL_VALUES = 1 << 22  # 8 MiB of bf16


def bf16(x):
    return struct.unpack("<I", struct.pack("<f", x))[0] >> 16


def make_pool(rng):
    vals = [bf16(rng.gauss(0.0, 0.02)) for _ in range(POOL_VALUES)]
    return struct.pack("<%dH" % POOL_VALUES, *vals)


def tensors(c):
    d, h, v, hd = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["head_dim"]
    q, kv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
    out = [("model.embed_tokens.weight", [v, d])]
    for l in range(c["num_hidden_layers"]):
        p = "model.layers.%d." % l
        out += [(p + "input_layernorm.weight", [d]),
                (p + "post_attention_layernorm.weight", [d]),
                (p + "self_attn.q_proj.weight", [q, d]),
                (p + "self_attn.k_proj.weight", [kv, d]),
                (p + "self_attn.v_proj.weight", [kv, d]),
                (p + "self_attn.o_proj.weight", [d, q])]
        if c["model_type"] == "qwen3":
            out += [(p + "self_attn.q_norm.weight", [hd]), (p + "self_attn.k_norm.weight", [hd])]
        out += [(p + "mlp.gate_proj.weight", [h, d]),
                (p + "mlp.up_proj.weight", [h, d]),
                (p + "mlp.down_proj.weight", [d, h])]
    out.append(("model.norm.weight", [d]))
    if not c["tie_word_embeddings"]:
        out.append(("lm_head.weight", [v, d]))
    return out


def nbytes(shape):
    n = 2
    for s in shape:
        n *= s
    return n


def write_shard(path, items, pool, ones, rng):
    header, off = {}, 0
    for name, shape in items:
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, off + nbytes(shape)]}
        off += nbytes(shape)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode())
        for name, shape in items:
            left = nbytes(shape)
            if name.endswith("norm.weight"):
                f.write(ones[:left] if left <= len(ones) else ones * (left // len(ones)))
                continue
            pos = rng.randrange(0, len(pool) // 2) * 2
            while left > 0:
                chunk = pool[pos:pos + left]
                f.write(chunk)
                left -= len(chunk)
                pos = 0
    os.replace(tmp, path)


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in SHAPES:
        sys.exit("usage: gen_synthetic_hf.py {%s} OUT_DIR [MAX_SHARD_BYTES]" % ",".join(SHAPES))
    cfg = dict(SHAPES[sys.argv[1]])
    out = sys.argv[2]
    max_shard = int(sys.argv[3]) if len(sys.argv) > 3 else 4 * 10**9
    os.makedirs(out, exist_ok=True)
    rng = random.Random(8)
    pool = make_pool(rng)
    ones = struct.pack("<H", bf16(1.0)) * (1 << 16)
    items = tensors(cfg)
    shards, cur, used = [], [], 0
    for it in items:
        if cur and used + nbytes(it[1]) > max_shard:
            shards.append(cur)
            cur, used = [], 0
        cur.append(it)
        used += nbytes(it[1])
    shards.append(cur)
    names = ["model.safetensors"] if len(shards) == 1 else [
        "model-%05d-of-%05d.safetensors" % (i + 1, len(shards)) for i in range(len(shards))]
    for name, items_ in zip(names, shards):
        write_shard(os.path.join(out, name), items_, pool, ones, rng)
    if len(shards) > 1:
        index = {"metadata": {"total_size": sum(nbytes(s) for _, s in items)},
                 "weight_map": {n: f for f, group in zip(names, shards) for n, _ in group}}
        with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
            json.dump(index, f, indent=2)
    cfg.update(architectures=["Qwen3ForCausalLM" if cfg["model_type"] == "qwen3"
                              else "LlamaForCausalLM"],
               hidden_act="silu", rms_norm_eps=1e-6, torch_dtype="bfloat16",
               bos_token_id=1, eos_token_id=2)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    print("%s: %d tensors, %.2f GB in %d shard(s)" % (
        out, len(items), sum(nbytes(s) for _, s in items) / 1e9, len(shards)))


if __name__ == "__main__":
    main()
