XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}" @SYSTEMCTL@ --user @ARGS@
