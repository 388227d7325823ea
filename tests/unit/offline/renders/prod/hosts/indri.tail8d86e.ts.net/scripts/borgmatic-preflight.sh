#!/bin/sh
# pg-dr render: command:remote:Command borgmatic-preflight (create)
# Runs when the resource is created or replaced (a `triggers` value changed); without an update
# command pulumi-command also re-runs it on any other input change.
# On erichblume@indri.tail8d86e.ts.net port 22, as /bin/sh -c; stdin: none.
# A review copy: pulumi-command sends this script quoted as one command string (see graph.json).

set -u
failed=0
check() {
  if [ -f "$2" ] && [ -x "$2" ]; then
    return 0
  fi
  echo "pg-dr preflight: $1: $2 is not an executable file on $(uname -n) (user $(id -un))" >&2
  failed=1
}
version() {
  if out=$("$3" --version 2>&1); then
    echo "pg-dr-version $1=$(printf '%s\n' "$out" | head -n 1)"
  else
    echo "pg-dr preflight: $2: $3 --version failed: $(printf '%s\n' "$out" | head -n 1)" >&2
    failed=1
  fi
}
check pg-dr:backup.borgPath /opt/homebrew/bin/borg
check pg-dr:backup.borgmaticPath /opt/homebrew/bin/borgmatic
check pg-dr:backup.pgBinDir /opt/homebrew/opt/postgresql@18/bin/pg_dump
check pg-dr:backup.pgBinDir /opt/homebrew/opt/postgresql@18/bin/pg_restore
check pg-dr:backup.pgBinDir /opt/homebrew/opt/postgresql@18/bin/psql
check pg-dr:backup.schedule.launchctlPath /bin/launchctl
if [ "$failed" -ne 0 ]; then
  exit 1
fi
version borg pg-dr:backup.borgPath /opt/homebrew/bin/borg
version borgmatic pg-dr:backup.borgmaticPath /opt/homebrew/bin/borgmatic
version pg_dump pg-dr:backup.pgBinDir /opt/homebrew/opt/postgresql@18/bin/pg_dump
version pg_restore pg-dr:backup.pgBinDir /opt/homebrew/opt/postgresql@18/bin/pg_restore
version psql pg-dr:backup.pgBinDir /opt/homebrew/opt/postgresql@18/bin/psql
exit "$failed"
