# activation converges: the hook runs after a change and again on every run until one run has completed
# it for this content (the record of the last activated sha256 is written only after it succeeded)
activated="$hist/activated"
if [ "$state" != unchanged ] || [ "$(cat "$activated" 2>/dev/null || true)" != @SHA256@ ]; then
:
@AFTER_CHANGE@
fi
@ALWAYS@
if [ "$(cat "$activated" 2>/dev/null || true)" != @SHA256@ ]; then
  printf '%s\n' @SHA256@ >"$work/activated"
  mv -f "$work/activated" "$activated"
fi
