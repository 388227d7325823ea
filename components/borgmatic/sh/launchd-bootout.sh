@LAUNCHCTL@ bootout "gui/$(id -u)"/@LABEL@ >/dev/null 2>&1 || true
