set -u
# pg-dr login wait: CNPG applies a new managed role or password asynchronously, after the Kubernetes apply
# returns. Wait, bounded, until each backup role logs in with the delivered pgpass file.
limit=@LIMIT@
deadline=$(( $(date +%s) + limit ))
failed=0
wait_login() {
  while :; do
    if out=$(PGCONNECT_TIMEOUT=10 @ENV@ @PSQL@ -X -w -At -h "$2" -p "$3" -U "$4" -d "$5" -c 'SELECT 1' 2>&1); then
      printf '%s\n' "pg-dr: $4@$2:$3/$5 logs in"
      return 0
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      printf '%s\n' "pg-dr login wait: $1: $4@$2:$3/$5 still cannot log in after ${limit}s (CNPG applies roles and passwords asynchronously; is the role in the Cluster's managed roles and its Secret's password the one in pgpass?): $(printf '%s\n' "$out" | tail -n 1)" >&2
      failed=1
      return 0
    fi
    sleep 3
  done
}
@WAITS@
exit "$failed"
