#!/bin/sh
# pg-dr render: command:remote:Command borgmatic-schedule (delete)
# Runs when the resource is deleted or replaced (the old resource's delete, at the end of the run).
# On erichblume@indri.tail8d86e.ts.net port 22, as /bin/sh -c; stdin: 38 lines.
# A review copy: pulumi-command sends this script quoted as one command string (see graph.json).

set -eu
umask 077
target=/Users/erichblume/Library/LaunchAgents/io.pg-dr.borgmatic.plist
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
/bin/launchctl bootout "gui/$(id -u)"/io.pg-dr.borgmatic >/dev/null 2>&1 || true
aside="$target.pg-dr-removed-$(date -u +%Y%m%dT%H%M%SZ)"
mv -f "$target" "$aside"

echo "pg-dr: $target moved to $aside"
