# wait, bounded, while the agent runs its backup: a bootout would kill pg-dr's nightly borgmatic run
waited=0
while [ "$(@LAUNCHCTL@ print "gui/$(id -u)"/@LABEL@ 2>/dev/null | sed -n -e 's/^[[:space:]]*state = //p' | head -n 1)" = running ]; do
  if [ "$waited" -ge @RUN_WAIT@ ]; then
    printf '%s\n' "pg-dr: launchd job "@LABEL@" is still running its backup after ${waited}s: not reloaded now, the next pulumi up reloads it" >&2
    exit 1
  fi
  sleep @RETRY_SECONDS@
  waited=$((waited + @RETRY_SECONDS@))
done
@LAUNCHCTL@ bootout "gui/$(id -u)"/@LABEL@ >/dev/null 2>&1 || true
if @LAUNCHCTL@ print "gui/$(id -u)"/@LABEL@ >/dev/null 2>&1; then
  printf '%s\n' "pg-dr: launchd job "@LABEL@" is still loaded after bootout" >&2
  exit 1
fi
