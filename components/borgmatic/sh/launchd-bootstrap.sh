if ! @LAUNCHCTL@ print "gui/$(id -u)"/@LABEL@ >/dev/null 2>&1; then
  # launchd refuses a bootstrap for a few seconds after a bootout ("Bootstrap failed: 5: Input/output
  # error"): retried, bounded
  tries=1
  until out=$(@LAUNCHCTL@ bootstrap "gui/$(id -u)" @PLIST@ 2>&1); do
    if [ "$tries" -ge @TRIES@ ]; then
      printf '%s\n' "pg-dr: launchctl bootstrap of "@LABEL@" failed $tries times: $out" >&2
      exit 1
    fi
    tries=$((tries + 1))
    sleep @RETRY_SECONDS@
  done
  printf '%s\n' "pg-dr: launchd job "@LABEL@" loaded"
fi
