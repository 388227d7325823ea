if [ ! -e "$target" ]; then
  printf '%s\n' "pg-dr: $target is already gone"
  exit 0
fi
prepare
if [ "$b" -eq 0 ]; then
  printf '%s\n' "pg-dr: $target has no pg-dr block"
  exit 0
fi
if ! still_ours; then
  printf '%s\n' "pg-dr: the pg-dr block of $target is now delivered through $(cat "$owner") (the same file by another path); left in place"
  exit 0
fi
sed -n "${b},${e}p" "$target" >"$work/current"
if ! cmp -s "$work/block" "$work/current"; then
  printf '%s\n' "pg-dr: the pg-dr block of $target holds another version (a replacement wrote it); left in place"
  exit 0
fi
: >"$work/empty"
splice "$work/empty"
install_new "$work/new"
rm -f "$owner"
printf '%s\n' "pg-dr: removed the pg-dr block from $target ($state; the previous file is in $hist)"
