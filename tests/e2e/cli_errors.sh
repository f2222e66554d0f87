#!/bin/sh
# The gptq tool as a user meets it with bad input: every mistake is refused before anything
# is loaded, with one clear message and the documented exit status (2: bad option, 1: a file
# problem), and the AutoGPTQ/GPTQModel spellings, --format and the RTN table work.
# Usage: cli_errors.sh GPTQ_BINARY MODEL_DIR TEXT_FILE
set -u
GPTQ=$1 MODEL=$2/stories260K.bin TEXT=$3
[ -f "$MODEL" ] && [ -f "$TEXT" ] || { echo "SKIP: model or text missing"; exit 77; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/gptq-cli-errors-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/cli_expect.sh"

# expect_early RC PATTERN ARGS...: `gptq quantize MODEL -o OUT ARGS` fails with a single
# line before the model is even identified, and OUT is not created.
expect_early() {
  want=$1 pat=$2
  shift 2
  expect "$want" "$pat" "$GPTQ" quantize "$MODEL" -o "$TMP/never" "$@"
  [ "$(wc -l <"$TMP/err.txt")" -eq 1 ] || fail "[quantize $*] not one line: $(cat "$TMP/err.txt")"
  [ ! -e "$TMP/never" ] || fail "[quantize $*] created the output directory"
}

# --- options, checked before loading --------------------------------------------------------
expect_early 2 "bits = 5 is not supported \(2, 3, 4 or 8\)" --method rtn --bits 5
expect_early 2 "--bits: 4294967300 is out of range" --method rtn --bits 4294967300
expect_early 2 "--group-size: 4294967296 is out of range" --method rtn --group-size 4294967296
expect_early 2 "group_size = 0 is not supported" --method rtn --group-size 0
expect_early 2 "--damp: 2 is out of range" --method rtn --damp 2
expect_early 2 "--damp: 'nan' is not a finite number" --method rtn --damp nan
expect_early 2 "--seq-len: -5 is out of range" --method rtn --seq-len -5
expect_early 2 "--threads: -3 is out of range" --method rtn --threads -3
expect_early 2 "--calib-tokens: -1 is out of range" --method rtn --calib-tokens -1
expect_early 2 "--block-size: 0 is out of range" --method rtn --block-size 0
expect_early 2 "--mse-norm: 'inf' is not a finite number" --method rtn --mse --mse-norm inf
expect_early 2 "--bits: 'four' is not an integer" --method rtn --bits four
expect_early 2 "--dtype: 'f64' is not auto, f32, f16 or bf16" --method rtn --dtype f64
expect_early 2 "--format: 'v3' is not v1, v2 or auto" --method rtn --format v3
expect_early 2 "--backend: 'tpu'" --method rtn --backend tpu
expect_early 2 "--method: 'awq' is not gptq or rtn" --method awq
expect_early 2 "did you mean --desc-act\?" --method rtn --desc-actt
expect_early 2 "did you mean --group-size\?" --method rtn --grup-size 32
expect_early 2 "did you mean --calib-tokens\?" --method rtn --calib-tokns 5
expect_early 2 "--desc-act and --act-order are the same option" --method rtn --desc-act --act-order
expect_early 2 "--method gptq needs --calib FILE" --bits 4
expect_early 2 "--calib needs --calib-docs" --calib "$TEXT"
expect_early 1 "--calib $TMP: is a directory" --calib "$TMP" --calib-docs 0:3
expect_early 1 "--calib $TMP/none: no such file" --calib "$TMP/none" --calib-docs 0:3
expect_early 2 "document range 0:1000 outside the [0-9]+ documents" --calib "$TEXT" --calib-docs 0:1000
expect_early 2 "bad document range" --calib "$TEXT" --calib-docs x:y
expect_early 1 "--tokenizer $TMP/none: no such file" --method rtn --tokenizer "$TMP/none"
# A bad option is reported even when MODEL is not a model: options come first.
expect 2 "bits = 5" "$GPTQ" quantize "$TEXT" -o "$TMP/never" --method rtn --bits 5

# --- output paths, checked before loading ---------------------------------------------------
: >"$TMP/plainfile"
expect_early 1 "-o $TMP/plainfile: exists and is not a directory" --method rtn -o "$TMP/plainfile"
expect 1 "-o $TMP/plainfile/out: $TMP/plainfile is not a directory" \
  "$GPTQ" quantize "$MODEL" --method rtn -o "$TMP/plainfile/out"
expect 1 "-o $TMP/no/such/out: directory $TMP/no/such does not exist" \
  "$GPTQ" quantize "$MODEL" --method rtn -o "$TMP/no/such/out"
expect 1 "-o /proc/gptq-out: cannot create files in /proc" \
  "$GPTQ" quantize "$MODEL" --method rtn -o /proc/gptq-out
expect_early 1 "--heatmap $TMP: is a directory" --method rtn --heatmap "$TMP"
expect_early 1 "--heatmap /proc/h.png: cannot create files in /proc" --method rtn --heatmap /proc/h.png
[ -z "$(ls -A /proc | grep gptq-write-probe)" ] || fail "write probe left behind"
[ -z "$(ls -A "$TMP" | grep gptq-write-probe)" ] || fail "write probe left behind in $TMP"

# --- eval and generate ----------------------------------------------------------------------
expect 2 "--text FILE is required" "$GPTQ" eval "$MODEL"
expect 1 "--text $TMP: is a directory" "$GPTQ" eval "$MODEL" --text "$TMP"
expect 2 "document range 40:50 outside the [0-9]+ documents" "$GPTQ" eval "$MODEL" --text "$TEXT" --eval-docs 40:50
expect 2 "--seq-len: -1 is out of range" "$GPTQ" eval "$MODEL" --text "$TEXT" --seq-len -1
# Beyond the model's context the length is capped (and said), unless --force-seq-len.
expect 0 "sequence length 5000 exceeds the model's context of 512 tokens; using 512" \
  "$GPTQ" eval "$MODEL" --text "$TEXT" --eval-docs 0:1 --seq-len 5000 --quiet
expect 2 "--temperature: 'nan' is not a finite number" "$GPTQ" generate "$MODEL" --temperature nan
expect 2 "--temperature: 'inf' is not a finite number" "$GPTQ" generate "$MODEL" --temperature inf
expect 2 "--top-p: 'nan' is not a finite number" "$GPTQ" generate "$MODEL" --top-p nan
expect 2 "--top-p: must be above 0" "$GPTQ" generate "$MODEL" --top-p 0
expect 2 "--steps: -1 is out of range" "$GPTQ" generate "$MODEL" --steps -1
expect 2 "did you mean --temperature\?" "$GPTQ" generate "$MODEL" --temprature 0.5

# --- what MODEL is ---------------------------------------------------------------------------
expect 1 "$TEXT: not a model file \(it looks like text" "$GPTQ" inspect "$TEXT"
expect 1 "$TEXT: not a model file" "$GPTQ" eval "$TEXT" --text "$TEXT"
: >"$TMP/empty.bin"
expect 1 "not a model file \(the file is empty\)" "$GPTQ" inspect "$TMP/empty.bin"
expect 1 "$TMP/nothing: no such file or directory" "$GPTQ" inspect "$TMP/nothing"
mkdir "$TMP/emptydir"
expect 1 "not a model directory \(no config.json\)" "$GPTQ" inspect "$TMP/emptydir"
mkdir "$TMP/badjson" && printf '{"hidden_size": 64,' >"$TMP/badjson/config.json"
: >"$TMP/badjson/model.safetensors"
expect 1 "$TMP/badjson/config.json: not valid JSON" "$GPTQ" inspect "$TMP/badjson"
expect 1 "$TMP/badjson/config.json: not valid JSON" "$GPTQ" eval "$TMP/badjson" --text "$TEXT"
expect 0 "" "$GPTQ" inspect "$MODEL"
grep -q "^llama2.c checkpoint" "$TMP/out.txt" || fail "inspect does not name a llama2.c checkpoint"

# A NaN in the embedding of BOS (token 1; stories260K has dim 64, so its row starts at byte
# 28 + 64 * 4): the error names the layer whose calibration inputs went bad.
cp "$MODEL" "$TMP/nan.bin" && cp "$(dirname "$MODEL")/tok512.bin" "$TMP/"
printf '\000\000\300\177' | dd of="$TMP/nan.bin" bs=1 seek=284 conv=notrunc 2>/dev/null
expect 1 "inputs of model.layers.0.self_attn.q_proj: .*non-finite value nan" \
  "$GPTQ" quantize "$TMP/nan.bin" -o "$TMP/nanout" --calib "$TEXT" --calib-docs 0:1 --quiet

# --- help -----------------------------------------------------------------------------------
"$GPTQ" quantize --help >"$TMP/help.txt"
grep -Eq -- "--calib FILE .*\[required with --method gptq\]" "$TMP/help.txt" || fail "help: --calib not marked required"
grep -Eq -- "--output DIR .*\[required\]" "$TMP/help.txt" || fail "help: -o not marked required"
grep -Eq -- "--calib-docs A:B .*\[required with a multi-document --calib" "$TMP/help.txt" || fail "help: --calib-docs not marked required"
grep -Eq -- "--act-order .*\(also --desc-act\)" "$TMP/help.txt" || fail "help: aliases not shown"
"$GPTQ" eval --help | grep -Eq -- "--text FILE .*\[required\]" || fail "help: eval --text not marked required"

# --- what works: aliases, --format, the RTN table ---------------------------------------------
expect 0 "" "$GPTQ" quantize "$MODEL" --method rtn --wbits 4 --group_size 32 --desc_act \
  --damp-percent 0.02 --sym -o "$TMP/sym"
grep -q '"group_size": 32' "$TMP/sym/quantize_config.json" || fail "--group_size alias"
grep -q '"checkpoint_format": "gptq"' "$TMP/sym/quantize_config.json" || fail "sym default should be v1"
grep -q "^model: $MODEL (llama2.c checkpoint)" "$TMP/err.txt" || fail "quantize does not say what MODEL is"
head -n 1 "$TMP/out.txt" | grep -Eq "^layer +module +shape +rel_err +sec$" || fail "RTN table header: $(head -n 1 "$TMP/out.txt")"
! grep -q "gptq_loss\|damp" "$TMP/out.txt" || fail "RTN table shows GPTQ columns"
[ "$(grep -c "_proj" "$TMP/out.txt")" -eq 35 ] || fail "RTN table should have 35 rows"
expect 0 "" "$GPTQ" inspect "$TMP/sym"
grep -q "^GPTQ checkpoint directory" "$TMP/out.txt" || fail "inspect does not name a GPTQ checkpoint"
expect 2 "already quantized" "$GPTQ" quantize "$TMP/sym" --method rtn -o "$TMP/again"

expect 0 "" "$GPTQ" quantize "$MODEL" --method rtn --quiet -o "$TMP/asym"
grep -q '"checkpoint_format": "gptq_v2"' "$TMP/asym/quantize_config.json" || fail "asym default should be v2"
expect 0 "warning: --format v1 with asymmetric quantization" \
  "$GPTQ" quantize "$MODEL" --method rtn --quiet --format v1 -o "$TMP/asym_v1"
grep -q '"checkpoint_format": "gptq"' "$TMP/asym_v1/quantize_config.json" || fail "--format v1"
expect 0 "" "$GPTQ" quantize "$MODEL" --method rtn --quiet --sym --checkpoint-format v2 -o "$TMP/sym_v2"
grep -q '"checkpoint_format": "gptq_v2"' "$TMP/sym_v2/quantize_config.json" || fail "--format v2 with --sym"
# The v2 file of a symmetric layer stores zero points 2^(bits-1), v1 stores one less: both
# read back to the same model, so the same perplexity.
p_v1=$("$GPTQ" eval "$TMP/sym" --text "$TEXT" --eval-docs 0:3 --quiet | sed 's/.*perplexity \([0-9.]*\).*/\1/')
"$GPTQ" quantize "$MODEL" --method rtn --quiet --sym --group-size 32 --format v2 -o "$TMP/sym32_v2" >/dev/null 2>&1
"$GPTQ" quantize "$MODEL" --method rtn --quiet --sym --group-size 32 --format v1 -o "$TMP/sym32_v1" >/dev/null 2>&1
a=$("$GPTQ" eval "$TMP/sym32_v1" --text "$TEXT" --eval-docs 0:3 --quiet | sed 's/.*perplexity \([0-9.]*\).*/\1/')
b=$("$GPTQ" eval "$TMP/sym32_v2" --text "$TEXT" --eval-docs 0:3 --quiet | sed 's/.*perplexity \([0-9.]*\).*/\1/')
[ -n "$a" ] && [ "$a" = "$b" ] || fail "sym v1 and v2 checkpoints differ: perplexity $a vs $b"
[ -n "$p_v1" ] || fail "eval of the alias-made checkpoint failed"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "cli error tests passed"
