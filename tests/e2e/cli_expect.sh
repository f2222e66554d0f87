# Shared by the CLI test scripts (sourced, after TMP is set to a scratch directory): a
# failure counter and `expect`.
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect RC PATTERN CMD...: CMD exits RC, stderr matches PATTERN (grep -E), and no raw
# JSON-library message leaks out.
expect() {
  want=$1 pat=$2
  shift 2
  "$@" >"$TMP/out.txt" 2>"$TMP/err.txt"
  rc=$?
  [ "$rc" -eq "$want" ] || fail "[$*] exit $rc, expected $want; stderr: $(cat "$TMP/err.txt")"
  [ -z "$pat" ] || grep -Eq -- "$pat" "$TMP/err.txt" || fail "[$*] stderr lacks /$pat/: $(cat "$TMP/err.txt")"
  ! grep -q "json.exception" "$TMP/err.txt" || fail "[$*] raw JSON exception: $(cat "$TMP/err.txt")"
}
