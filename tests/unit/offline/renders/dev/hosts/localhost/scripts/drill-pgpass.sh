#!/bin/sh
# pg-dr render: command:remote:Command drill-pgpass (create)
# Runs when the resource is created or replaced (a `triggers` value changed); without an update
# command pulumi-command also re-runs it on any other input change.
# On pgdr@localhost port 22, as /bin/sh -c; stdin: secret (not shown).
# A review copy: pulumi-command sends this script quoted as one command string (see graph.json).

set -eu
umask 077
target=/home/pgdr/.pgpass
mode=600
dir=$(dirname "$target")
mkdir -p "$dir"
tmp=$(mktemp "$dir/.pg-dr.XXXXXXXX")
trap 'rm -f "$tmp" "$tmp.prev" "$tmp.in" "$tmp.cur"' EXIT

# install "$tmp" as "$target" (mode $mode), keeping the current file as "$target.pg-dr-previous"
install_tmp() {
  if [ -f "$target" ] && cmp -s "$tmp" "$target"; then
    chmod "$mode" "$target"
    state=unchanged
    return 0
  fi
  if [ -e "$target" ]; then
    cp -p "$target" "$tmp.prev"
    chmod "$mode" "$tmp.prev"
    mv -f "$tmp.prev" "$target.pg-dr-previous"
    state=updated
  else
    state=created
  fi
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$target"
}
begin='# BEGIN pg-dr drill'
end='# END pg-dr drill'

# locate the managed block: b and e are its first and last line numbers (0 when absent)
find_block() {
  b=0; e=0
  [ -f "$target" ] || return 0
  nb=$(grep -c -x -F -e "$begin" "$target" || true)
  ne=$(grep -c -x -F -e "$end" "$target" || true)
  if [ "$nb" -eq 0 ] && [ "$ne" -eq 0 ]; then
    return 0
  fi
  if [ "$nb" -ne 1 ] || [ "$ne" -ne 1 ]; then
    echo "pg-dr: $target has a malformed pg-dr block ($nb BEGIN, $ne END lines); fix it by hand" >&2
    exit 1
  fi
  b=$(grep -n -x -F -e "$begin" "$target" | cut -d: -f1)
  e=$(grep -n -x -F -e "$end" "$target" | cut -d: -f1)
  if [ "$b" -gt "$e" ]; then
    echo "pg-dr: $target has '$end' before '$begin'; fix it by hand" >&2
    exit 1
  fi
}
# write to "$tmp": the lines before the block, then file "$1" (may be empty), then the lines after it
splice() {
  {
    if [ "$b" -eq 0 ]; then
      cat "$1"
      if [ -f "$target" ]; then
        cat "$target"
      fi
    else
      if [ "$b" -gt 1 ]; then
        head -n "$((b - 1))" "$target"
      fi
      cat "$1"
      tail -n "+$((e + 1))" "$target"
    fi
  } > "$tmp"
}
cat > "$tmp.in"
find_block
splice "$tmp.in"
install_tmp
echo "pg-dr: $target $state"
