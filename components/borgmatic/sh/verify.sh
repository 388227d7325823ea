set -u
config=@CONFIG@
bm() {
  /usr/bin/env -i HOME=@HOME@ USER="$(id -un)" LOGNAME="$(id -un)" PATH=@BARE_PATH@ @ENV@ \
    @BORGMATIC@ "$@" -c "$config"
}
work=$(mktemp -d "${TMPDIR:-/tmp}/pg-dr-verify.XXXXXXXX")
trap 'rm -rf "$work"' EXIT
# dash skips the EXIT trap on a signal: exit from the signal's trap runs it
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM
if ! bm config validate; then
  printf '%s\n' "pg-dr verify: borgmatic config validate failed for $config" >&2
  exit 1
fi
@VALIDATE_MORE@
if ! bm create; then
  printf '%s\n' "pg-dr verify: borgmatic create failed for $config" >&2
  exit 1
fi
list() {
  if ! bm list --repository "$2" --archive latest --json > "$work/$1.list"; then
    printf '%s\n' "pg-dr verify: borgmatic list --repository $2 --archive latest failed" >&2
    exit 1
  fi
}
missing=""
check_dump() {
  line=$(grep -E -e "$5" "$work/$1.list" | head -n 1)
  if [ -z "$line" ]; then
    missing="$missing
  $3: no $4 in the latest archive of repository $2"
    return 0
  fi
  printf '%s\n' "$6$2 $(printf '%s\n' "$line" | sed -e 's/.*"path": "\([^"]*\)".*/\1/')"
}
@CHECKS@
run_psql() {
  /usr/bin/env -i HOME=@HOME@ PGCONNECT_TIMEOUT=10 @ENV@ @PSQL@ "$@"
}
@COVERAGE_LIB@
@COVERAGE@
@METRIC@
if [ -n "$missing" ]; then
  printf '%s\n' "pg-dr verify: dumps missing:$missing" >&2
  exit 1
fi
