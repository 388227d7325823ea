if [ ! -e "$target" ]; then
  printf '%s\n' "pg-dr: $target is already gone"
  exit 0
fi
begin
@RECEIVE@
lock
check_target
if ! still_ours; then
  printf '%s\n' "pg-dr: $target is now delivered through $(cat "$owner") (the same file by another path); left in place"
  exit 0
fi
if ! cmp -s @RECEIVED@ "$target"; then
  printf '%s\n' "pg-dr: $target holds another version (a replacement wrote it); left in place"
  exit 0
fi
@BEFORE_REMOVE@
save_history -removed
rm -f "$target" "$owner" "$hist/activated"
@AFTER_REMOVE@
printf '%s\n' "pg-dr: $target moved to $aside"
