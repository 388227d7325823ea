#!/bin/sh
# pg-dr render: command:remote:Command borgmatic-config (create)
# Runs when the resource is created or replaced (a `triggers` value changed); without an update
# command pulumi-command also re-runs it on any other input change.
# On pgdr@localhost port 22, as /bin/sh -c; stdin: 25 lines.
# A review copy: pulumi-command sends this script quoted as one command string (see graph.json).

set -eu
umask 077
target=/home/pgdr/.config/borgmatic/config.yaml
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
cat > "$tmp"
install_tmp
echo "pg-dr: $target $state"
