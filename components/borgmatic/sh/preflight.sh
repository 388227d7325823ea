set -u
failed=0
check() {
  if [ -f "$2" ] && [ -x "$2" ]; then
    return 0
  fi
  printf '%s\n' "pg-dr preflight: $1: $2 is not an executable file on $(uname -n) (user $(id -un))" >&2
  failed=1
}
version() {
  if out=$("$3" --version 2>&1); then
    printf '%s\n' "@VERSION_PREFIX@$1=$(printf '%s\n' "$out" | head -n 1)"
  else
    printf '%s\n' "pg-dr preflight: $2: $3 --version failed: $(printf '%s\n' "$out" | head -n 1)" >&2
    failed=1
  fi
}
@CHECKS@
if [ "$failed" -ne 0 ]; then
  exit 1
fi
@VERSIONS@
exit "$failed"
