# cleanup on EXIT, and on HUP/INT/PIPE/TERM (dash skips the EXIT trap on a signal: exiting from the
# signal's trap runs it), with the reason it prints; fail REASON stops there (the includer defines cleanup)
trap cleanup EXIT
trap 'reason="interrupted (HUP)"; exit 129' HUP
trap 'reason="interrupted (INT)"; exit 130' INT
trap 'reason="stopped (PIPE)"; exit 141' PIPE
trap 'reason="killed (TERM)"; exit 143' TERM
fail() {
  reason=$*
  exit 1
}
