# pg-dr's reporting functions (components/monitoring): the run lock, metrics, pings. POSIX sh; no secret
# ever goes on a command line (curl reads its URL and credentials from stdin: curl -K -).
state=@STATE@
lock=@LOCK@
lock_wait=@LOCK_WAIT@
metrics=@METRICS@

lock_holder() {
  ls -l "$lock" 2>/dev/null | sed -n -e 's/.* -> //p'
}

# one pg-dr run at a time on its repositories (a backup, a drill): the lock is a symlink naming the
# holder's pid; a holder that is gone is taken over; wait at most $lock_wait seconds, then fail loudly
lock_take() {
  mkdir -p "$state" || return 1
  waited=0
  until ln -s "$1" "$lock" 2>/dev/null; do
    holder=$(lock_holder)
    if [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; then
      rm -f "$lock"
      continue
    fi
    if [ "$waited" -ge "$lock_wait" ]; then
      printf '%s\n' "pg-dr: $2: another pg-dr run (pid ${holder:-unknown}) still holds $lock after ${lock_wait}s" >&2
      return 1
    fi
    sleep 5
    waited=$((waited + 5))
  done
}

lock_release() {
  if [ "$(lock_holder)" = "$1" ]; then
    rm -f "$lock"
  fi
}

# metric NAME LABELS VALUE: set one sample of the textfile (node_exporter's format), atomically: the new
# file is written beside it and renamed over it; every sample of a metric follows its TYPE line
metric() {
  [ -n "$metrics" ] || return 0
  mdir=$(dirname "$metrics")
  mkdir -p "$mdir" || return 1
  key=$1
  if [ -n "$2" ]; then
    key="$1{$2}"
  fi
  mtmp=$(mktemp "$mdir/.pg-dr-metrics.XXXXXXXX") || return 1
  {
    if [ -f "$metrics" ]; then
      grep -v -e '^#' "$metrics" | awk -v k="$key" '$1 != k'
    fi
    printf '%s %s\n' "$key" "$3"
  } | LC_ALL=C sort | awk '
    BEGIN {
@HELP@
    }
    { n = $1; sub(/[{].*/, "", n) }
    n != last { print "# HELP " n " " (n in help ? help[n] : "pg-dr metric"); print "# TYPE " n " gauge" }
    { last = n; print }' >"$mtmp"
  chmod 644 "$mtmp"
  mv -f "$mtmp" "$metrics"
}
