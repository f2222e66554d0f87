#!/usr/bin/env python3
"""Copies a Hugging Face model directory with its vocabulary widened to a tokenizer's.

Usage: widen_vocab.py SRC_MODEL_DIR TOKENIZER_DIR DST_DIR

The tiny-random test models have 512 embedding rows, too few for a real tokenizer. The copy
keeps config.json and every tensor, except that vocab_size becomes the tokenizer's size
(vocabulary and added tokens) and model.embed_tokens.weight (and lm_head.weight when the
model has one) get new rows that repeat the existing ones (row i is row i mod the old
vocabulary size), so the copy computes what the original does on ids below that size.
tokenizer.json and tokenizer_config.json are copied alongside, so the copy is a model
directory that the tool opens with that tokenizer. The safetensors file is written directly
(8-byte header length, JSON header, raw data), standard library only.
"""
import json
import os
import shutil
import struct
import sys

WIDENED = ("model.embed_tokens.weight", "lm_head.weight")


def tokenizer_size(tokenizer_json):
    with open(tokenizer_json, encoding="utf-8") as f:
        t = json.load(f)
    ids = list(t["model"]["vocab"].values()) + [a["id"] for a in t.get("added_tokens", [])]
    return max(ids) + 1


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", None)
    tensors = {}
    for name, h in header.items():
        begin, end = h["data_offsets"]
        tensors[name] = (h["dtype"], h["shape"], data[begin:end])
    return meta, tensors


def write_safetensors(path, meta, tensors):
    header, offset = {}, 0
    if meta is not None:
        header["__metadata__"] = meta
    for name in sorted(tensors):
        dtype, shape, raw = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name in sorted(tensors):
            f.write(tensors[name][2])
    os.replace(tmp, path)


def widen(dtype, shape, raw, rows):
    if len(shape) != 2 or rows < shape[0]:
        sys.exit(f"cannot widen a {dtype} tensor of shape {shape} to {rows} rows")
    row_bytes = len(raw) // shape[0]
    whole, part = divmod(rows, shape[0])
    return dtype, [rows, shape[1]], raw * whole + raw[: part * row_bytes]


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, tok_dir, dst = sys.argv[1:]
    rows = tokenizer_size(os.path.join(tok_dir, "tokenizer.json"))
    os.makedirs(dst, exist_ok=True)
    with open(os.path.join(src, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    if rows < config["vocab_size"]:
        sys.exit(f"the tokenizer ({rows}) is smaller than the model's vocabulary ({config['vocab_size']})")
    config["vocab_size"] = rows
    with open(os.path.join(dst, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    meta, tensors = read_safetensors(os.path.join(src, "model.safetensors"))
    for name in WIDENED:
        if name in tensors:
            tensors[name] = widen(*tensors[name], rows)
    write_safetensors(os.path.join(dst, "model.safetensors"), meta, tensors)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(tok_dir, name), os.path.join(dst, name))
    print(f"{dst}: vocab_size {rows}")


if __name__ == "__main__":
    main()
