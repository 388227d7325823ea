#!/bin/sh
# pg-dr render: command:remote:Command drill-run (update)
# Runs when an input other than `triggers` changes.
# On pgdr@localhost port 22, as /bin/sh -c; stdin: none.
# A review copy: pulumi-command sends this script quoted as one command string (see graph.json).

set -u
recorded=/home/pgdr/.local/state/pg-dr/drill-6b86b273ff34fce1.result
if [ -f "$recorded" ]; then
  cat "$recorded"
  echo "pg-dr drill: inputs changed, runId did not: the drill is not run again (the result above is its last run's); set a new pg-dr:drill.runId to run it"
else
  echo "pg-dr drill: inputs changed, runId did not: the drill is not run again, and this host has no recorded result for it; set a new pg-dr:drill.runId to run it"
fi
