#!/bin/sh
# Managed by pg-dr (pg-dr:drill.schedule): edit the stack config, not this file.
# pg-dr-drill-scheduled: the scheduled restore drill (components/monitoring). Runs pg-dr-drill under pg-dr's
# run lock, checks the RPO and RTO, appends one JSON line to the history (the newest @KEEP@ kept), writes
# the metrics and pings pg-dr:drill.monitoring. A drill that could not run is a failure, never silence.
set -u
umask 077
PATH=@BARE_PATH@
export PATH
@LIB@
drill=@DRILL@
history="$state/drills.jsonl"
rpo_hours=@RPO_HOURS@
rto_seconds=@RTO_SECONDS@
timeout=@TIMEOUT@
host=$(uname -n)
@PINGS@
work=""
cleanup() {
  lock_release "$$"
  if [ -n "$work" ]; then
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'cleanup; trap - EXIT; exit 129' HUP
trap 'cleanup; trap - EXIT; exit 130' INT
trap 'cleanup; trap - EXIT; exit 143' TERM
mkdir -p "$state"
work=$(mktemp -d "$state/.drill.XXXXXXXX")
ping_start

# run pg-dr-drill, at most $timeout seconds; its last stdout line is the result (restore contract)
run_drill() {
  if [ ! -f "$drill" ] || [ ! -x "$drill" ]; then
    printf '%s\n' "pg-dr-drill: FAILED $drill is not an executable file on $host (delivered by pulumi up with pg-dr:drill.enabled)"
    return 0
  fi
  if ! lock_take "$$" drill 2>"$work/lock"; then
    printf '%s\n' "pg-dr-drill: FAILED could not run: $(tail -n 1 "$work/lock")"
    return 0
  fi
  "$drill" >"$work/out" 2>"$work/err" </dev/null &
  child=$!
  waited=0
  while kill -0 "$child" 2>/dev/null; do
    if [ "$waited" -ge "$timeout" ]; then
      kill "$child" 2>/dev/null
      sleep 1
      kill -9 "$child" 2>/dev/null
      printf '%s\n' "pg-dr-drill: FAILED pg-dr-drill still ran after ${timeout}s (pg-dr:drill.timeoutSeconds): stopped"
      return 0
    fi
    sleep 1
    waited=$((waited + 1))
  done
  wait "$child"
  rc=$?
  last=$(tail -n 1 "$work/out")
  case $last in
    "pg-dr-drill: OK {"* | "pg-dr-drill: FAILED "*)
      if [ "$rc" -ne 0 ] && [ "${last#pg-dr-drill: OK}" != "$last" ]; then
        printf '%s\n' "pg-dr-drill: FAILED pg-dr-drill exited $rc after reporting OK"
      else
        printf '%s\n' "$last"
      fi ;;
    *) printf '%s\n' "pg-dr-drill: FAILED pg-dr-drill exited $rc without a result line: $(tail -n 1 "$work/err")" ;;
  esac
}

result=$(run_drill)
now=$(date +%s)

# coverage, as at pulumi up: a database on a backed-up server that is not backed up is reported
run_psql() {
  PGCONNECT_TIMEOUT=10 @PSQL@ "$@"
}
@COVERAGE_LIB@
{
@COVERAGE@
} >"$work/uncovered" 2>"$work/coverage"
# a server that could not be read (down, say) leaves the metric as the last complete count had it
if [ "$unlisted" -eq 0 ]; then
  metric pgdr_backup_uncovered_databases "" "$uncovered"
fi
if [ "$uncovered" -gt 0 ]; then
  notice="warning: $uncovered database(s) not backed up (not in pg-dr:backup.databases): $(sed -e 's/^@UNCOVERED_PREFIX@//' "$work/uncovered" | tr '\n' ' ' | sed -e 's/ $//')"
else
  notice=""
fi
# the verdict (RPO, RTO) and the history line, from the result's JSON (perl's core JSON::PP)
printf '%s\n' "$result" | (cd "$work" && /usr/bin/perl -MJSON::PP -MTime::Local -e '
  my ($now, $rpo_hours, $rto) = @ARGV;
  my $line = <STDIN>; chomp $line;
  my ($ok, $failure, $r) = (0, undef, {});
  if ($line =~ /^pg-dr-drill: OK (.*)$/) {
    $r = eval { JSON::PP->new->decode($1) } // {};
    $ok = ref($r) eq "HASH" && %$r ? 1 : 0;
    $failure = "pg-dr-drill printed an OK line that is not JSON" unless $ok;
  } elsif ($line =~ /^pg-dr-drill: FAILED (.*)$/) {
    $failure = $1;
  } else {
    $failure = "no result line";
  }
  my $archive_epoch = "";
  if ($ok) {
    my $t = $r->{archiveTime} // "";
    if ($t =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)/) {
      $archive_epoch = timegm($6, $5, $4, $3, $2 - 1, $1);
      my $age = $now - $archive_epoch;
      if ($age > $rpo_hours * 3600) {
        $ok = 0;
        $failure = sprintf("the newest archive %s is %.1f h old: older than the RPO of %d h (pg-dr:backup.rpoHours)",
          $r->{archive} // "?", $age / 3600, $rpo_hours);
      }
    } else {
      $ok = 0;
      $failure = "the result has no archiveTime";
    }
    my $rs = $r->{restoreSeconds};
    if ($ok && $rto ne "" && defined $rs && $rs > $rto) {
      $ok = 0;
      $failure = sprintf("the restore took %s s: slower than the RTO of %d s (pg-dr:drill.rtoSeconds)", $rs, $rto);
    }
  }
  my @t = gmtime($now);
  my $entry = {
    time => sprintf("%04d-%02d-%02dT%02d:%02d:%02dZ", $t[5] + 1900, $t[4] + 1, $t[3], $t[2], $t[1], $t[0]),
    archive => $r->{archive}, archiveTime => $r->{archiveTime}, database => $r->{database},
    ok => $ok ? JSON::PP::true : JSON::PP::false, restoreSeconds => $r->{restoreSeconds},
    counts => $r->{counts}, dumpCounts => $r->{dumpCounts}, failure => $failure,
  };
  open(my $v, ">", "verdict") or die; print $v ($ok ? "OK" : "FAILED"), "\n", ($failure // ""), "\n",
    ($r->{restoreSeconds} // ""), "\n", $archive_epoch, "\n", ($r->{database} // ""), "\n", ($r->{archive} // ""), "\n";
  close $v;
  open(my $h, ">", "entry") or die; print $h JSON::PP->new->canonical->encode($entry), "\n"; close $h;
' "$now" "$rpo_hours" "$rto_seconds") 2>"$work/perl"
if [ -f "$work/verdict" ]; then
  verdict=$(sed -n 1p "$work/verdict")
  failure=$(sed -n 2p "$work/verdict")
  seconds=$(sed -n 3p "$work/verdict")
  archive_epoch=$(sed -n 4p "$work/verdict")
  database=$(sed -n 5p "$work/verdict")
  archive=$(sed -n 6p "$work/verdict")
else
  verdict=FAILED
  failure="could not read pg-dr-drill's result with /usr/bin/perl: $(tail -n 1 "$work/perl")"
  seconds=""
  database=""
  archive=""
  printf '{"time": "%s", "ok": false, "failure": "could not read the result"}\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$work/entry"
fi

# the history: one JSON line per run, the newest @KEEP@ kept (renamed into place: never half written)
{
  tail -n @KEEP_BEFORE@ "$history" 2>/dev/null
  cat "$work/entry"
} >"$work/history"
mv -f "$work/history" "$history"

if [ "$verdict" = OK ]; then
  metric pgdr_drill_last_ok "" 1
  metric pgdr_drill_last_success_timestamp_seconds "" "$now"
  if [ -n "$seconds" ]; then
    metric pgdr_drill_restore_seconds "" "$seconds"
  fi
  metric pgdr_drill_verified_archive_timestamp_seconds "database=\"$database\"" "$archive_epoch"
  message="pg-dr drill OK on $host: $database from $archive restored in ${seconds}s"
  printf '%s\n' "$message" >"$work/body"
  if [ -n "$notice" ]; then
    printf '%s\n' "$notice" >>"$work/body"
    printf '%s\n' "pg-dr: $notice" >&2
  fi
  tail -n 20 "$work/out" >>"$work/body" 2>/dev/null
  ping_ok
  printf '%s\n' "$message"
  exit 0
fi
metric pgdr_drill_last_ok "" 0
message="pg-dr drill FAILED on $host: $failure"
{
  printf '%s\n' "$message"
  if [ -n "$notice" ]; then
    printf '%s\n' "$notice"
  fi
  if [ -f "$work/err" ]; then
    printf '%s\n' "--- pg-dr-drill's stderr (last lines) ---"
    tail -n 40 "$work/err"
  fi
} >"$work/body"
ping_fail
printf '%s\n' "$message" >&2
exit 1
