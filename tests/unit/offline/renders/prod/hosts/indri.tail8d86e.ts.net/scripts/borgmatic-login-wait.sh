#!/bin/sh
# pg-dr render: command:remote:Command borgmatic-login-wait (create)
# Runs when the resource is created or replaced (a `triggers` value changed); without an update
# command pulumi-command also re-runs it on any other input change.
# On erichblume@indri.tail8d86e.ts.net port 22, as /bin/sh -c; stdin: none.
# A review copy: pulumi-command sends this script quoted as one command string (see graph.json).

set -u
# pg-dr login wait: CNPG applies a new managed role or password asynchronously, after the Kubernetes apply
# returns. Wait, bounded, until each backup role logs in with the delivered pgpass file.
limit=300
deadline=$(( $(date +%s) + limit ))
failed=0
wait_login() {
  while :; do
    if out=$(PGCONNECT_TIMEOUT=10 PGPASSFILE=/Users/erichblume/.config/pg-dr/pgpass /opt/homebrew/opt/postgresql@18/bin/psql -X -w -At -h "$2" -p "$3" -U "$4" -d "$5" -c 'SELECT 1' 2>&1); then
      echo "pg-dr: $4@$2:$3/$5 logs in"
      return 0
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "pg-dr login wait: $1: $4@$2:$3/$5 still cannot log in after ${limit}s (CNPG applies roles and passwords asynchronously; is the role in the Cluster's managed roles and its Secret's password the one in pgpass?): $(printf '%s\n' "$out" | tail -n 1)" >&2
      failed=1
      return 0
    fi
    sleep 3
  done
}
wait_login 'pg-dr:backup.databases[1]' k8s-pg.tail8d86e.ts.net 5432 borgmatic miniflux
exit "$failed"
