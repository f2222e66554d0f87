#!/bin/sh
# gptq quantize -> eval -> generate with real Hugging Face tokenizers (Qwen3 for Qwen2/Qwen3,
# Mistral for Llama 3) on copies of the tiny-random models whose vocabulary is widened to the
# tokenizer's (widen_vocab.py), and on the checkpoints made from them under both calibration
# protocols. Checks: exit status 0, finite perplexities, the window count the tokenizer's own
# token count implies, the checkpoint's copied tokenizer files (byte-identical, and found
# without --tokenizer: the same perplexity), and the early refusal of a tokenizer whose ids
# exceed the model's vocabulary. (That eval of a checkpoint equals the in-memory quantized
# model is tested in C++: test_e2e_hf_arch; the tool prints no in-memory perplexity.)
# Usage: cli_hf_tokenizers.sh GPTQ SHARED_DIR   (SHARED_DIR: ../shared)
set -eu
GPTQ=$1 SHARED=$(cd "$2" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
TEXT=$SHARED/data/tinystories_valid_head.txt
command -v python3 >/dev/null || { echo "python3 missing: skipped"; exit 77; }
for f in "$TEXT" "$SHARED/data/wiki.test.raw" "$SHARED/tokenizers/qwen3/tokenizer.json" \
         "$SHARED/tokenizers/mistral/tokenizer.json"; do
  [ -f "$f" ] || { echo "missing $f: skipped"; exit 77; }
done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/gptq-hftok-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# The perplexity of an eval line, which must be a finite positive number.
ppl() {
  echo "$1" | awk '{for (i = 1; i < NF; ++i) if ($i == "perplexity") p = $(i + 1)}
                   END {if (p !~ /^[0-9]+(\.[0-9]+)?$/ || p + 0 <= 0) exit 1; print p}'
}
# The head of WikiText-2's test file, a single document: the window protocol by default.
WIKI=$TMP/wiki.txt
head -c 1000 "$SHARED/data/wiki.test.raw" >"$WIKI"
W=64

for pair in llama3:mistral qwen2:qwen3 qwen3:qwen3; do
  arch=${pair%%:*} tokname=${pair#*:}
  src=$SHARED/models/tiny-random-$arch tokdir=$SHARED/tokenizers/$tokname
  [ -f "$src/model.safetensors" ] || { echo "missing $src: skipped"; exit 77; }
  m=$TMP/$arch
  python3 "$HERE/widen_vocab.py" "$src" "$tokdir" "$m" >/dev/null || fail "$arch: widen_vocab.py"
  vocab=$(grep -o '"vocab_size": [0-9]*' "$m/config.json" | grep -o '[0-9]*$')
  echo "== $arch with the $tokname tokenizer ($vocab tokens)"

  # The original 512-token model refuses the tokenizer before any forward pass, naming both sizes.
  set +e
  "$GPTQ" eval "$src" --tokenizer "$tokdir" --text "$WIKI" --windows $W --quiet >/dev/null 2>"$TMP/e.err"
  rc=$?
  set -e
  [ $rc -eq 1 ] && grep -q "($vocab tokens) gives token id [0-9]*, but the model's vocabulary has 512 tokens" \
    "$TMP/e.err" || { cat "$TMP/e.err"; fail "$arch: tokenizer wider than the model (exit $rc)"; }
  if [ "$arch" = llama3 ]; then  # the prompt of generate too (once: each run parses the tokenizer)
    set +e
    "$GPTQ" generate "$src" --tokenizer "$tokdir/tokenizer.json" --prompt "Once upon a time" --steps 2 \
      >/dev/null 2>"$TMP/e.err"
    rc=$?
    set -e
    [ $rc -eq 1 ] && grep -q "vocabulary has 512 tokens" "$TMP/e.err" ||
      { cat "$TMP/e.err"; fail "$arch: generate with a tokenizer wider than the model (exit $rc)"; }
  fi

  # Both calibration protocols; the model directory's own tokenizer.json is found.
  "$GPTQ" quantize "$m" --calib "$TEXT" --calib-docs 0:4 --seq-len 48 --bits 4 --group-size 32 \
    --backend cpu -o "$m-docs" >/dev/null 2>"$TMP/q.err" || { cat "$TMP/q.err"; fail "$arch: quantize (documents)"; }
  grep -q "calibration: 4 documents, [0-9]* tokens" "$TMP/q.err" || fail "$arch: 4 documents"
  "$GPTQ" quantize "$m" --calib "$WIKI" --nsamples 4 --seq-len $W --seed 1 --bits 4 --group-size 32 \
    --backend cpu -o "$m-win" >/dev/null 2>"$TMP/q.err" || { cat "$TMP/q.err"; fail "$arch: quantize (windows)"; }
  grep -q "calibration: 4 windows x $W tokens drawn from [0-9]* tokens (seed 1)" "$TMP/q.err" ||
    fail "$arch: 4 windows"
  for out in "$m-docs" "$m-win"; do
    for f in tokenizer.json tokenizer_config.json; do
      cmp -s "$tokdir/$f" "$out/$f" || fail "$arch: $out/$f is not the tokenizer's"
    done
  done

  # Window evaluation: as many windows as the tokenizer's own token count implies.
  ntok=$("$GPTQ" tokenize --tokenizer "$tokdir" --text "$WIKI" | tr -cd ',' | wc -c)
  nwin=$(( (ntok + 1) / W ))
  for model in "$m" "$m-win"; do
    r=$("$GPTQ" eval "$model" --text "$WIKI" --windows $W --backend cpu --quiet) || fail "$arch: eval $model"
    echo "$r" | grep -q "^windows $nwin tokens $((nwin * (W - 1))) " || fail "$arch: $nwin windows expected: $r"
    p=$(ppl "$r") || fail "$arch: perplexity of $model: $r"
    echo "$model: windows perplexity $p"
  done
  # Document evaluation; the checkpoint's copied tokenizer gives what --tokenizer gives.
  for model in "$m" "$m-docs"; do
    r=$("$GPTQ" eval "$model" --text "$TEXT" --eval-docs 23:25 --seq-len 32 --backend cpu --quiet) ||
      fail "$arch: eval $model"
    echo "$r" | grep -q "^documents 2 tokens " || fail "$arch: document eval of $model: $r"
    p=$(ppl "$r") || fail "$arch: perplexity of $model: $r"
    echo "$model: documents perplexity $p"
  done
  r2=$("$GPTQ" eval "$m-docs" --tokenizer "$tokdir" --text "$TEXT" --eval-docs 23:25 --seq-len 32 --backend cpu --quiet)
  [ "$(ppl "$r2")" = "$p" ] || fail "$arch: checkpoint's tokenizer vs --tokenizer: $r vs $r2"

  g=$("$GPTQ" generate "$m-win" --prompt "Once upon a time" --steps 4 --backend cpu 2>"$TMP/g.err") ||
    { cat "$TMP/g.err"; fail "$arch: generate"; }
  case $g in "Once upon a time"*) ;; *) fail "$arch: generate printed: $g" ;; esac
done
echo "cli hf tokenizers test passed"
