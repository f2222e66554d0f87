#!/bin/sh
# gptq quantize -> eval -> generate on the tiny-random Hugging Face models (Llama 3, Qwen2,
# Qwen3) and on the checkpoints made from them, under both calibration protocols (random
# windows of the chosen text, and documents), plus the window evaluation, half-open document
# ranges and the context cap. The tiny models have a 512-token vocabulary and ship no
# tokenizer: the 512-token llama2.c tokenizer of stories260K supplies valid ids.
# (That eval of a checkpoint equals the in-memory quantized model is tested in C++:
# test_e2e_hf_arch.) Usage: cli_hf_models.sh GPTQ MODELS_DIR TEXT BACKEND
set -eu
GPTQ=$1 MODELS=$(cd "$2" && pwd) TEXT=$3 BACKEND=${4:-cpu}
TOK=$MODELS/stories260K/tok512.bin
for f in "$TOK" "$TEXT" "$MODELS"/tiny-random-llama3/model.safetensors \
         "$MODELS"/tiny-random-qwen2/model.safetensors "$MODELS"/tiny-random-qwen3/model.safetensors; do
  [ -f "$f" ] || { echo "missing $f: skipped"; exit 77; }
done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/gptq-hf-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ppl() { awk '{for (i = 1; i < NF; ++i) if ($i == "perplexity") print $(i + 1)}'; }

for arch in llama3 qwen2 qwen3; do
  src=$MODELS/tiny-random-$arch
  out=$TMP/$arch
  echo "== $arch"
  # The paper's protocol: 8 random windows of 64 tokens of the whole text.
  "$GPTQ" quantize "$src" --tokenizer "$TOK" --calib "$TEXT" --calib-docs 0:4 --nsamples 8 --seq-len 64 --seed 3 \
    --bits 4 --group-size 32 --backend "$BACKEND" -o "$out" >"$TMP/q.txt" 2>"$TMP/q.err" ||
    { cat "$TMP/q.err"; fail "$arch: quantize (windows)"; }
  grep -q "calibration: 8 windows x 64 tokens drawn from [0-9]* tokens (seed 3)" "$TMP/q.err" ||
    fail "$arch: calibration line"
  # The checkpoint is a complete model directory of the same architecture.
  grep -q "\"model_type\": \"$(grep -o '"model_type": "[a-z0-9]*"' "$src/config.json" | cut -d'"' -f4)\"" \
    "$out/config.json" || fail "$arch: model_type kept"
  [ -f "$out/tokenizer.bin" ] || fail "$arch: tokenizer copied"
  # Documents mode, half-open range: 0:3 is documents 0, 1, 2.
  "$GPTQ" quantize "$src" --tokenizer "$TOK" --calib "$TEXT" --calib-docs 0:3 --seq-len 64 \
    --bits 4 --group-size 32 --backend "$BACKEND" -o "$out-docs" >/dev/null 2>"$TMP/q.err" ||
    { cat "$TMP/q.err"; fail "$arch: quantize (documents)"; }
  grep -q "calibration: 3 documents, [0-9]* tokens" "$TMP/q.err" || fail "$arch: 3 documents"

  for model in "$src" "$out" "$out-docs"; do
    w=$("$GPTQ" eval "$model" --tokenizer "$TOK" --text "$TEXT" --eval-docs 23:26 --windows 64 \
        --backend "$BACKEND" --quiet)
    echo "$w" | grep -Eq "^windows [1-9][0-9]* tokens [0-9]+ nll [0-9.]+ perplexity [0-9.]+" ||
      fail "$arch: window eval of $model: $w"
    d=$("$GPTQ" eval "$model" --tokenizer "$TOK" --text "$TEXT" --eval-docs 23:26 --seq-len 64 \
        --backend "$BACKEND" --quiet)
    echo "$d" | grep -Eq "^documents 3 tokens [0-9]+ nll" || fail "$arch: document eval of $model: $d"
    g=$("$GPTQ" generate "$model" --tokenizer "$TOK" --prompt "Once upon a time" --steps 8 \
        --backend "$BACKEND")
    [ -n "$g" ] || fail "$arch: generate on $model"
    echo "$model: $(echo "$w" | ppl) (windows) $(echo "$d" | ppl) (documents)"
  done
  # What eval holds (numbers checked in C++: test_e2e_resident): the source's 14 linears and
  # classifier as bf16 dense layers; the checkpoint's 14 layers packed; the embedding mapped.
  "$GPTQ" eval "$src" --tokenizer "$TOK" --text "$TEXT" --eval-docs 23:24 --backend "$BACKEND" \
    >/dev/null 2>"$TMP/e.err" || { cat "$TMP/e.err"; fail "$arch: eval of $src"; }
  grep -q "^resident: quantized 0 layers 0 B (packed), dense 15 layers [0-9.]* KiB (bf16), .*; mapped 64.0 KiB (bf16, read on demand)$" \
    "$TMP/e.err" || { cat "$TMP/e.err"; fail "$arch: resident line of $src"; }
  grep -q "^peak RSS [0-9.]* MiB$" "$TMP/e.err" || fail "$arch: peak RSS line of eval"
  "$GPTQ" generate "$out" --tokenizer "$TOK" --prompt "Once" --steps 2 --backend "$BACKEND" \
    >/dev/null 2>"$TMP/e.err" || { cat "$TMP/e.err"; fail "$arch: generate on $out"; }
  grep -q "^resident: quantized 14 layers [0-9.]* KiB (packed), dense 1 layer 64.0 KiB (bf16), " \
    "$TMP/e.err" || { cat "$TMP/e.err"; fail "$arch: resident line of $out"; }
  grep -q "^peak RSS [0-9.]* MiB$" "$TMP/e.err" || fail "$arch: peak RSS line of generate"
  # The checkpoint finds its own tokenizer.
  "$GPTQ" eval "$out" --text "$TEXT" --eval-docs 23:24 --backend "$BACKEND" --quiet >/dev/null ||
    fail "$arch: checkpoint without --tokenizer"
done

# A model with a 64-token context: windows default on a single-document text, 2048 capped
# to 64 with a note; --force-seq-len keeps the request.
short=$TMP/short
mkdir "$short"
sed 's/"max_position_embeddings": [0-9]*/"max_position_embeddings": 64/' \
  "$MODELS/tiny-random-qwen2/config.json" >"$short/config.json"
ln -s "$MODELS/tiny-random-qwen2/model.safetensors" "$short/model.safetensors"
awk '/<\|endoftext\|>/ { n++; next } n >= 23 && n < 27' "$TEXT" >"$TMP/single.txt"
r=$("$GPTQ" eval "$short" --tokenizer "$TOK" --text "$TMP/single.txt" --backend "$BACKEND" 2>"$TMP/e.err")
grep -q "exceeds the model's context of 64" "$TMP/e.err" || fail "no context-cap note"
echo "$r" | grep -Eq "^windows [1-9]" || fail "single-document text should use windows: $r"
r=$("$GPTQ" eval "$short" --tokenizer "$TOK" --text "$TMP/single.txt" --windows 128 --force-seq-len \
    --backend "$BACKEND" --quiet 2>"$TMP/e.err")
grep -q "exceeds" "$TMP/e.err" && fail "--force-seq-len should not cap"
set +e
"$GPTQ" eval "$short" --tokenizer "$TOK" --text "$TEXT" --eval-docs 3:3 --backend "$BACKEND" 2>"$TMP/e.err"
[ $? -ne 0 ] && grep -q "empty" "$TMP/e.err" || fail "3:3 is an empty range"
"$GPTQ" eval "$short" --tokenizer "$TOK" --text "$TEXT" --eval-docs 40:47 --backend "$BACKEND" 2>"$TMP/e.err"
[ $? -ne 0 ] && grep -q "outside the 46 documents" "$TMP/e.err" || fail "40:47 is outside"
set -e
echo "cli hf models test passed"
