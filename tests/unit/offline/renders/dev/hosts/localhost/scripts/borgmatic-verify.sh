#!/bin/sh
# pg-dr render: command:remote:Command borgmatic-verify (create)
# Runs when the resource is created or replaced (a `triggers` value changed); without an update
# command pulumi-command also re-runs it on any other input change.
# On pgdr@localhost port 22, as /bin/sh -c; stdin: none.
# A review copy: pulumi-command sends this script quoted as one command string (see graph.json).

set -u
config=/home/pgdr/.config/borgmatic.d/pg-dr.yaml
bm() {
  /usr/bin/env -i HOME=/home/pgdr USER="$(id -un)" LOGNAME="$(id -un)" PATH=/usr/bin:/bin:/usr/sbin:/sbin  \
    /home/pgdr/.venv/bin/borgmatic "$@" -c "$config"
}
work=$(mktemp -d "${TMPDIR:-/tmp}/pg-dr-verify.XXXXXXXX")
trap 'rm -rf "$work"' EXIT
# dash skips the EXIT trap on a signal: exit from the signal's trap runs it
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM
if ! bm config validate; then
  echo "pg-dr verify: borgmatic config validate failed for $config" >&2
  exit 1
fi
if ! bm create; then
  echo "pg-dr verify: borgmatic create failed for $config" >&2
  exit 1
fi
list() {
  if ! bm list --repository "$2" --archive latest --json > "$work/$1.list"; then
    echo "pg-dr verify: borgmatic list --repository $2 --archive latest failed" >&2
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
  echo "pg-dr-dump $2 $(printf '%s\n' "$line" | sed -e 's/.*"path": "\([^"]*\)".*/\1/')"
}
list 0 local
check_dump 0 local miniflux@127.0.0.1:5432 borgmatic/postgresql_databases/127.0.0.1:5432/miniflux '^[{]"type": "-", .*"path": "([^"]*/)?borgmatic/postgresql_databases/127[.]0[.]0[.]1:5432/miniflux", .*"size": [1-9]'
if [ -n "$missing" ]; then
  echo "pg-dr verify: dumps missing:$missing" >&2
  exit 1
fi
