if [ "$b" -eq 0 ]; then
  echo "pg-dr: $target has no pg-dr block"
  exit 0
fi
sed -n "${b},${e}p" "$target" > "$tmp.cur"
if ! cmp -s "$tmp.in" "$tmp.cur"; then
  echo "pg-dr: the pg-dr block of $target holds another version (a replacement wrote it); left in place"
  exit 0
fi
: > "$tmp.cur"
splice "$tmp.cur"
install_tmp
echo "pg-dr: removed the pg-dr block from $target ($state; previous file kept beside it)"
