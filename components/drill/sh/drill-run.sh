set -u
# RestoreDrill at `pulumi up`: run pg-dr-drill; a passed drill records its verdict for this runId, which an
# update without a new runId prints instead of restoring again. The file it runs: @DIGEST@ (a change to it
# is an update of this command, which prints that verdict)
umask 077
drill=@DRILL@
recorded=@RESULT@
out=$(mktemp "${TMPDIR:-/tmp}/pg-dr-drill-run.XXXXXXXX") || exit 1
trap 'rm -f "$out" "$out.rc"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM
{ "$drill"; printf '%s\n' $? >"$out.rc"; } | tee "$out"
rc=$(cat "$out.rc" 2>/dev/null || echo 1)
if [ "$rc" = 0 ]; then
  mkdir -p "$(dirname "$recorded")"
  tail -n 1 "$out" >"$recorded.$$"
  mv -f "$recorded.$$" "$recorded"
fi
exit "$rc"
