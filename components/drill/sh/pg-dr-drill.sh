#!/bin/sh
# pg-dr-drill: the restore drill, through pg-dr-restore (the disaster path) into a scratch database.
# Managed by pg-dr (pg-dr:drill): generated from the stack config, not edited here.
# The last line of stdout is "pg-dr-drill: OK {json}" or "pg-dr-drill: FAILED <reason>"; exit 0 or 1.
set -u
umask 077
PATH=@BARE_PATH@
export PATH
LC_ALL=C
export LC_ALL
restore=@RESTORE@
psql=@PSQL@
PGPASSFILE=${PGPASSFILE:-@PGPASS@}
export PGPASSFILE
lockdir=@LOCK@
lockwait=@LOCK_WAIT@
host=@HOST@
port=@PORT@
user=@USER@
maint=@MAINT@
scratch=@SCRATCH@
marker=@MARKER@
me=pg-dr-drill
child=""
locked=0
reason=""
finished=0
work=$(mktemp -d "${TMPDIR:-/tmp}/pg-dr-drill.XXXXXXXX") || { printf '%s\n' "$me: FAILED cannot create a work directory"; exit 1; }

say() {
  printf '%s\n' "$me: $*" 2>/dev/null || true
}
pg() {
  db=$1
  shift
  PGCONNECT_TIMEOUT=30 "$psql" -X -q -A -t -w -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "$user" -d "$db" "$@"
}
errors() {
  tail -n 5 "$1" 2>/dev/null | tr '\n' ' ' | sed -e 's/ *$//'
}
# "marked": the drill's (its marker comment); "other": anything else of that name; "": none
classify() {
  printf '%s\n' "SELECT CASE WHEN shobj_description(d.oid, 'pg_database') = :'marker' THEN 'marked' ELSE 'other' END
    FROM pg_database d WHERE d.datname = :'scratch';" \
    | pg "$maint" -v scratch="$scratch" -v marker="$marker" -f - 2>"$work/err"
}
# a plain DROP DATABASE (WITH (FORCE) would have to terminate autovacuum workers, which a role with only
# CREATEDB may not do; the plain one cancels autovacuum itself); retried while another session leaves;
# only ever the drill's own (marked) scratch database
drop_scratch() {
  tries=0
  until [ "$(classify)" != marked ] || printf '%s\n' 'DROP DATABASE IF EXISTS :"scratch";' \
      | pg "$maint" -v scratch="$scratch" -f - >/dev/null 2>"$work/drop.err"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 15 ] || ! grep -q 'is being accessed by other users' "$work/drop.err"; then
      return 1
    fi
    sleep 1
  done
}
cleanup() {
  rc=$?
  trap - EXIT
  trap '' HUP INT TERM PIPE
  if [ -n "$child" ]; then
    kill -TERM "$(cat "$work/restore.pid" 2>/dev/null)" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  if [ "$finished" -eq 0 ] && [ "$locked" -eq 1 ]; then
    drop_scratch || reason="$reason; could not drop the scratch database $scratch: $(errors "$work/drop.err")"
  fi
  [ "$locked" -eq 0 ] || rm -rf "$lockdir"
  rm -rf "$work"
  if [ "$finished" -eq 0 ]; then
    [ "$rc" -ne 0 ] || rc=1
    say "FAILED ${reason:-stopped}"
  fi
  exit "$rc"
}
@FAIL_TRAPS@

# one drill at a time on this host (the drill at `pulumi up` and the scheduled one): a directory holding
# the holder's pid; a holder that is gone (SIGKILL) leaves a stale lock, taken over
mkdir -p "$(dirname "$lockdir")" || fail "cannot create $(dirname "$lockdir")"
waited=0
until mkdir "$lockdir" 2>/dev/null; do
  holder=$(cat "$lockdir/pid" 2>/dev/null || true)
  if [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; then
    rm -rf "$lockdir"
    continue
  fi
  [ "$waited" -lt "$lockwait" ] || fail "another drill (pid ${holder:-unknown}) still holds $lockdir after ${lockwait}s"
  sleep 1
  waited=$((waited + 1))
done
printf '%s\n' "$$" >"$lockdir/pid"
locked=1

# the scratch database: a leftover of a drill (marked) is replaced; anything else of that name is refused
# by pg-dr-restore unless it is empty (it never gets --replace)
existing=$(classify) || fail "cannot query $maint on $host:$port as $user: $(errors "$work/err")"
set -- --database @DATABASE@ @SOURCE@ --repository @REPOSITORY@ --target-host "$host" --target-port "$port" \
  --target-user "$user" --target-database "$scratch" --maintenance-database "$maint" --comment "$marker" @OPTIONS@
if [ "$existing" = marked ]; then
  set -- "$@" --replace
fi
say "restoring through $restore into the scratch database $scratch on $host:$port"
# pg-dr-restore's lines as they come (its last line is its verdict); in the background, so that a signal
# interrupts the wait at once, and its pid noted, so that cleanup stops it (it cleans up after itself)
( "$restore" "$@" 2>&1 &
  printf '%s\n' $! >"$work/restore.pid"
  wait $!
  printf '%s\n' $? >"$work/restore.rc" ) | tee "$work/out" &
child=$!
wait "$child"
child=""
rc=$(cat "$work/restore.rc" 2>/dev/null || echo 1)
last=$(tail -n 1 "$work/out")
case $last in
  "pg-dr-restore: OK "*)
    json=${last#pg-dr-restore: OK }
    ;;
  "pg-dr-restore: FAILED "*)
    fail "${last#pg-dr-restore: FAILED }"
    ;;
  *)
    fail "pg-dr-restore ended (exit $rc) without a verdict: $(errors "$work/out")"
    ;;
esac
[ "$rc" -eq 0 ] || fail "pg-dr-restore exited $rc"
drop_scratch || fail "could not drop the scratch database $scratch on $host:$port: $(errors "$work/drop.err")"
say "dropped the scratch database $scratch on $host:$port"
finished=1
say "OK $(printf '%s\n' "$json" | sed -e 's/}$/, "scratchDropped": true}/')"
