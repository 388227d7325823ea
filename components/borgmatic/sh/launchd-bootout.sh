@LAUNCHCTL@ bootout "gui/$(id -u)"/@LABEL@ >/dev/null 2>&1 || true
if @LAUNCHCTL@ print "gui/$(id -u)"/@LABEL@ >/dev/null 2>&1; then
  printf '%s\n' "pg-dr: launchd job "@LABEL@" is still loaded after bootout" >&2
  exit 1
fi
