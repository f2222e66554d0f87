#!/bin/sh
# Checkpoints the gptq tool writes, read back by a user: a symmetric checkpoint whose
# checkpoint_format was flipped (gptq <-> gptq_v2) is refused with a message naming the file,
# the layer and both zero-point values, instead of evaluating to noise; the tool's own files
# (every bit width, both formats, asymmetric ones too) still load. And a write that fails
# (file size limit: the same path as a full disk) says so in terms of the output directory
# and leaves no directory behind.
# Usage: checkpoint_consistency.sh GPTQ_BINARY MODEL_DIR TEXT_FILE
set -u
GPTQ=$1 MODEL=$2/stories260K.bin TEXT=$3
[ -f "$MODEL" ] && [ -f "$TEXT" ] || { echo "SKIP: model or text missing"; exit 77; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/gptq-ckpt-consistency-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/cli_expect.sh"

quantize() {  # quantize OUT ARGS...
  out=$1
  shift
  "$GPTQ" quantize "$MODEL" --method rtn -o "$out" "$@" >/dev/null 2>"$TMP/q_err.txt" ||
    fail "quantize $*: $(cat "$TMP/q_err.txt")"
}
evaluate() { expect "$1" "$2" "$GPTQ" eval "$3" --text "$TEXT" --eval-docs 0:2 --quiet; }
# set_format DIR FORMAT: declares FORMAT in config.json and quantize_config.json.
set_format() {
  for f in "$1/config.json" "$1/quantize_config.json"; do
    sed 's/"checkpoint_format": *"[a-z0-9_]*"/"checkpoint_format": "'"$2"'"/' "$f" >"$f.new" &&
      mv "$f.new" "$f"
  done
}

# bits, format written, the symmetric zero point it stores, the other format, its value
for row in "4 gptq 7 gptq_v2 8" "4 gptq_v2 8 gptq 7" "3 gptq 3 gptq_v2 4" "2 gptq_v2 2 gptq 1" \
           "8 gptq 127 gptq_v2 128"; do
  set -- $row
  bits=$1 fmt=$2 stored=$3 other=$4 other_value=$5
  ck="$TMP/sym$bits-$fmt"
  quantize "$ck" --sym --bits "$bits" --format "$fmt"
  evaluate 0 "" "$ck"  # the tool's own file loads
  set_format "$ck" "$other"
  evaluate 1 "$ck/config.json quantization_config declares checkpoint_format '$other' with symmetric $bits-bit layers, whose zero points are stored as $other_value, but layer 'model\.layers\.0\.self_attn\.q_proj' stores $stored .*the value of checkpoint_format '$fmt'" "$ck"
  [ "$(wc -l <"$TMP/err.txt")" -eq 1 ] || fail "[$bits-bit $fmt flipped] not one line: $(cat "$TMP/err.txt")"
done

# A checkpoint whose settings are only in quantize_config.json (older tools): that file is named.
ck="$TMP/sym4-gptq"  # flipped to gptq_v2 above
sed 's/"quantization_config"/"unused_quantization_config"/' "$ck/config.json" >"$ck/c.json" &&
  mv "$ck/c.json" "$ck/config.json"
evaluate 1 "^gptq eval: error: $ck/quantize_config.json declares checkpoint_format 'gptq_v2' .* stores 7 " "$ck"

# Asymmetric layers: every stored value is valid in both formats, so both declarations load.
for fmt in gptq gptq_v2; do
  ck="$TMP/asym-$fmt"
  quantize "$ck" --bits 4 --format "$fmt"
  evaluate 0 "" "$ck"
done

# A write that fails part way (RLIMIT_FSIZE: EFBIG, taking the same path as ENOSPC): the
# message names the file and the output directory asked for, not the staging directory, and
# neither a new directory nor a staging directory is left; an existing checkpoint survives.
write_limited() {  # write_limited OUT: quantize into OUT with files limited to 16 KiB
  (trap '' XFSZ; ulimit -f 16 && exec "$GPTQ" quantize "$MODEL" --method rtn --sym -o "$1") \
    >/dev/null 2>"$TMP/err.txt"
}
mkdir "$TMP/w"
write_limited "$TMP/w/new"
rc=$?
[ "$rc" -eq 1 ] || fail "[write over the size limit] exit $rc, expected 1: $(cat "$TMP/err.txt")"
grep -Eq "file too large while writing model\.safetensors for $TMP/w/new: the checkpoint was not saved" "$TMP/err.txt" ||
  fail "[write over the size limit] message: $(cat "$TMP/err.txt")"
! grep -q "\.tmp-" "$TMP/err.txt" || fail "[write over the size limit] names the staging path: $(cat "$TMP/err.txt")"
[ -z "$(ls "$TMP/w")" ] || fail "[write over the size limit] left behind: $(ls "$TMP/w")"
quantize "$TMP/w/old" --sym
cp -r "$TMP/w/old" "$TMP/old-copy"
write_limited "$TMP/w/old"
[ "$(ls "$TMP/w")" = old ] || fail "[replacing over the size limit] left behind: $(ls "$TMP/w")"
diff -r "$TMP/w/old" "$TMP/old-copy" >/dev/null || fail "[replacing over the size limit] the old checkpoint changed"

[ "$failures" -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "checkpoint consistency: all checks passed"
