set -u
recorded=@RESULT@
if [ -f "$recorded" ]; then
  cat "$recorded"
  printf '%s\n' "pg-dr drill: inputs changed, runId did not: the drill is not run again (the result above is its last run's); set a new pg-dr:drill.runId to run it"
else
  printf '%s\n' "pg-dr drill: inputs changed, runId did not: the drill is not run again, and this host has no recorded result for it; set a new pg-dr:drill.runId to run it"
fi
