#!/bin/sh
# pg-dr render: command:remote:Command borgmatic-schedule-timer (delete)
# Runs when the resource is deleted or replaced (the old resource's delete, at the end of the run).
# On pgdr@localhost port 22, as /bin/sh -c; stdin: 11 lines.
# A review copy: pulumi-command sends this script quoted as one command string (see graph.json).

set -eu
umask 077
target=/home/pgdr/.config/systemd/user/io.pg-dr.borgmatic.timer
if [ ! -e "$target" ]; then
  echo "pg-dr: $target is already gone"
  exit 0
fi
in=$(mktemp "${TMPDIR:-/tmp}/pg-dr.XXXXXXXX")
trap 'rm -f "$in"' EXIT
cat > "$in"
if ! cmp -s "$in" "$target"; then
  echo "pg-dr: $target holds another version (a replacement wrote it); left in place"
  exit 0
fi
XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}" /usr/bin/systemctl --user disable --now io.pg-dr.borgmatic.timer
aside="$target.pg-dr-removed-$(date -u +%Y%m%dT%H%M%SZ)"
mv -f "$target" "$aside"
XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}" /usr/bin/systemctl --user daemon-reload
echo "pg-dr: $target moved to $aside"
