# pg-dr's reporting functions (components/monitoring): the run lock, metrics, pings. POSIX sh; no secret
# ever goes on a command line (curl reads its URL and credentials from stdin: curl -K -).
state=@STATE@
lock=@LOCK@
lock_wait=@LOCK_WAIT@
metrics=@METRICS@

# the pid a lock (a symlink naming its holder) names
holder_of() {
  ls -l "$1" 2>/dev/null | sed -n -e 's/.* -> //p'
}

# acquire LOCK PID WAIT WHO: make LOCK name PID; a holder that is gone is taken over; wait at most WAIT
# seconds for a live one, then fail loudly naming it
acquire() {
  waited=0
  until ln -s "$2" "$1" 2>/dev/null; do
    holder=$(holder_of "$1")
    if [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; then
      # gone: but it may have released the lock and another taken it since we read it; remove only a lock
      # that still names the dead holder
      if [ "$(holder_of "$1")" = "$holder" ]; then
        rm -f "$1"
      fi
      continue
    fi
    if [ "$waited" -ge "$3" ]; then
      printf '%s\n' "pg-dr: $4: another pg-dr run (pid ${holder:-unknown}) still holds $1 after ${3}s" >&2
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
}

# release LOCK PID: only the holder's own lock
release() {
  if [ "$(holder_of "$1")" = "$2" ]; then
    rm -f "$1"
  fi
}

# one pg-dr run at a time on its repositories (a backup, a drill)
lock_take() {
  mkdir -p "$state" || return 1
  acquire "$lock" "$1" "$lock_wait" "$2"
}

lock_release() {
  release "$lock" "$1"
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
  # writers (a backup, a drill, the verification at up) take turns: each rewrites the whole file
  acquire "$mdir/.pg-dr-metrics.lock" "$$" 60 metrics || return 1
  mtmp=$(mktemp "$mdir/.pg-dr-metrics.XXXXXXXX") || { release "$mdir/.pg-dr-metrics.lock" "$$"; return 1; }
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
  release "$mdir/.pg-dr-metrics.lock" "$$"
}
