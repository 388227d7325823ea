#!/bin/sh
# pg-dr render: command:remote:Command borgmatic-config (delete)
# Runs when the resource is deleted or replaced (the old resource's delete, at the end of the run).
# On pgdr@localhost port 22, as /bin/sh -c; stdin: 25 lines.
# A review copy: pulumi-command sends this script quoted as one command string (see graph.json).

set -eu
umask 077
target=/home/pgdr/.config/borgmatic/config.yaml
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

aside="$target.pg-dr-removed-$(date -u +%Y%m%dT%H%M%SZ)"
mv -f "$target" "$aside"

echo "pg-dr: $target moved to $aside"
