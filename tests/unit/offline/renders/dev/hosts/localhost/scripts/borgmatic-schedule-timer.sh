#!/bin/sh
# pg-dr render: command:remote:Command borgmatic-schedule-timer (create)
# Runs when the resource is created or replaced (a `triggers` value changed); without an update
# command pulumi-command also re-runs it on any other input change.
# On pgdr@localhost port 22, as /bin/sh -c; stdin: 11 lines.
# A review copy: pulumi-command sends this script quoted as one command string (see graph.json).

set -eu
umask 077
target=/home/pgdr/.config/systemd/user/io.pg-dr.borgmatic.timer
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
if [ "$state" != unchanged ]; then
XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}" /usr/bin/systemctl --user daemon-reload
XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}" /usr/bin/systemctl --user restart io.pg-dr.borgmatic.timer
fi
XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}" /usr/bin/systemctl --user enable --now io.pg-dr.borgmatic.timer
echo "pg-dr: $target $state"
