set -u
# pg-dr login wait: CNPG applies a new managed role or password asynchronously, after the Kubernetes apply
# returns. Wait, bounded, until each backup role logs in with the delivered pgpass file. A refused connection
# or an unknown host is not CNPG being slow: nothing listens there (a port-forward or tunnel not running), so
# that fails after a short grace instead of waiting out the whole bound.
limit=@LIMIT@
grace=@GRACE@
deadline=$(( $(date +%s) + limit ))
failed=0
wait_login() {
  unreachable_since=
  while :; do
    if out=$(LC_ALL=C PGCONNECT_TIMEOUT=10 @ENV@ @PSQL@ -X -w -At -h "$2" -p "$3" -U "$4" -d "$5" -c 'SELECT 1' 2>&1); then
      printf '%s\n' "pg-dr: $4@$2:$3/$5 logs in"
      return 0
    fi
    now=$(date +%s)
    case $out in
      *"Connection refused"* | *"could not translate host name"*)
        [ -n "$unreachable_since" ] || unreachable_since=$now
        if [ $(( now - unreachable_since )) -ge "$grace" ]; then
          case $out in
            *"Connection refused"*) why="nothing listens on $2:$3 (connection refused for ${grace}s): is the port-forward (or tunnel) to the database running, and the server up?" ;;
            *) why="the host name $2 does not resolve: is it right, and the tailnet or VPN that serves it up?" ;;
          esac
          printf '%s\n' "pg-dr login wait: $1: $why" >&2
          failed=1
          return 0
        fi
        ;;
      *) unreachable_since= ;;
    esac
    if [ "$now" -ge "$deadline" ]; then
      printf '%s\n' "pg-dr login wait: $1: $4@$2:$3/$5 still cannot log in after ${limit}s (CNPG applies roles and passwords asynchronously; is the role in the Cluster's managed roles and its Secret's password the one in pgpass?): $(printf '%s\n' "$out" | tail -n 1)" >&2
      failed=1
      return 0
    fi
    sleep 3
  done
}
@WAITS@
exit "$failed"
