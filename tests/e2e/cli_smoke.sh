#!/bin/sh
# The gptq command line end to end: help texts, argument errors, RTN and GPTQ quantization,
# inspect, eval (checkpoint == in-memory figure is tested in C++; here: the output contract),
# generate, heatmap. Usage: cli_smoke.sh GPTQ_BINARY MODEL_DIR TEXT_FILE BACKEND
set -eu
GPTQ=$1 MODEL=$2/stories260K.bin TEXT=$3 BACKEND=${4:-cpu}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/gptq-cli-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$GPTQ" --help >/dev/null || fail "gptq --help"
for c in quantize eval generate inspect; do
  "$GPTQ" $c --help | grep -q "usage: gptq $c" || fail "gptq $c --help"
done
set +e
"$GPTQ" quantize "$MODEL" --bogus -o "$TMP/x" 2>/dev/null; rc=$?
[ $rc -eq 2 ] || fail "unknown option should exit 2, got $rc"
"$GPTQ" frobnicate 2>/dev/null; rc=$?
[ $rc -eq 2 ] || fail "unknown command should exit 2, got $rc"
"$GPTQ" eval "$TMP/does-not-exist" --text "$TEXT" --backend "$BACKEND" 2>"$TMP/err"; rc=$?
[ $rc -eq 1 ] && grep -q "error" "$TMP/err" || fail "missing model should exit 1 with a message"
"$GPTQ" quantize "$MODEL" --bits 5 --method rtn --backend "$BACKEND" -o "$TMP/b5" 2>"$TMP/err"; rc=$?
[ $rc -ne 0 ] && grep -q "error" "$TMP/err" || fail "--bits 5 should fail with a message"
set -e

"$GPTQ" quantize "$MODEL" --method rtn --bits 4 --group-size 32 --sym --backend "$BACKEND" \
  -o "$TMP/rtn" --quiet >/dev/null
"$GPTQ" inspect "$TMP/rtn" > "$TMP/inspect.txt"
grep -q '"checkpoint_format":"gptq"' "$TMP/inspect.txt" || fail "sym checkpoint should be v1"
grep -q "model.layers.4.mlp.down_proj" "$TMP/inspect.txt" || fail "inspect lists modules"
grep -q "35 quantized modules" "$TMP/inspect.txt" || fail "inspect counts modules"

"$GPTQ" quantize "$MODEL" --bits 4 --group-size 32 --act-order --calib "$TEXT" \
  --calib-docs 0:23 --calib-tokens 3000 --backend "$BACKEND" -o "$TMP/gptq" \
  --heatmap "$TMP/heat.png" > "$TMP/quant.txt" 2>"$TMP/progress.txt"
grep -q "^4 *down_proj" "$TMP/quant.txt" || fail "per-layer table"
grep -q "ETA" "$TMP/progress.txt" || fail "progress bar"
head -c 4 "$TMP/heat.png" | od -c | grep -q "P   N   G" || fail "heatmap is not a PNG"
grep -q '"checkpoint_format": "gptq_v2"' "$TMP/gptq/quantize_config.json" || fail "asym -> v2"
grep -q '"desc_act": true' "$TMP/gptq/quantize_config.json" || fail "desc_act recorded"

out=$("$GPTQ" eval "$TMP/gptq" --text "$TEXT" --eval-docs 23:46 --backend "$BACKEND" --quiet)
echo "$out"
echo "$out" | grep -Eq "^documents 23 tokens [0-9]+ nll [0-9.]+ perplexity [0-9.]+" || fail "eval output"
gen=$("$GPTQ" generate "$TMP/gptq" --prompt "Once upon a time" --steps 20 --backend "$BACKEND")
echo "$gen"
[ "${#gen}" -gt 30 ] || fail "generate produced too little text"
# Streaming output: shards + index past --max-shard-size, replacing an existing checkpoint
# whole, nothing staged left next to it; a directory holding other files is not replaced.
"$GPTQ" quantize "$MODEL" --method rtn --bits 4 --group-size 32 --backend "$BACKEND" \
  --max-shard-size 100KB -o "$TMP/rtn" --quiet >/dev/null
[ -f "$TMP/rtn/model.safetensors.index.json" ] && [ ! -f "$TMP/rtn/model.safetensors" ] ||
  fail "sharded output"
ls "$TMP/rtn" | grep -q "^model-00001-of-000" || fail "shard names"
"$GPTQ" eval "$TMP/rtn" --text "$TEXT" --eval-docs 23:24 --backend "$BACKEND" --quiet \
  >/dev/null || fail "sharded checkpoint loads"
if ls "$TMP" | grep -q "\.tmp-\|\.old-"; then fail "staging directory left behind"; fi
mkdir "$TMP/foreign"
echo notes > "$TMP/foreign/notes.txt"
set +e
"$GPTQ" quantize "$MODEL" --method rtn --backend "$BACKEND" -o "$TMP/foreign" --quiet \
  >/dev/null 2>"$TMP/err"; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "not a checkpoint file" "$TMP/err" && [ -f "$TMP/foreign/notes.txt" ] ||
  fail "a directory with other files must not be replaced"
echo "cli smoke test passed"
