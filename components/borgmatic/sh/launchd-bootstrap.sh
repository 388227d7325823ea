if ! @LAUNCHCTL@ print "gui/$(id -u)"/@LABEL_TEXT@ >/dev/null 2>&1; then
  @LAUNCHCTL@ bootstrap "gui/$(id -u)" @PLIST@
  printf '%s\n' "pg-dr: launchd job @LABEL_TEXT@ loaded"
fi
