begin_line=@BEGIN@
end_line=@END@

# stdin is one header line "pg-dr-stdin <bytes> <sha256>" then the block: the digest of a secret block
# is secret-derived, so it travels with the block on stdin (secret, never logged), not in this script
# (the provider prints command strings in its errors). A cut stdin fails the check; so does a block
# that does not run from its BEGIN line to its END line and a final newline.
receive_block() {
  receive_framed "$work/block"
  if [ "$(head -n 1 "$work/block")" != "$begin_line" ] || [ "$(tail -n 1 "$work/block")" != "$end_line" ] \
      || [ -n "$(tail -c 1 "$work/block")" ]; then
    refuse "the block for $target does not run from '$begin_line' to '$end_line': nothing changed"
  fi
}

# the file must be text: a NUL byte hides lines from grep (and libpq stops reading there)
check_text() {
  if [ -f "$target" ] && ! tr -d '\000' <"$target" | cmp -s - "$target"; then
    refuse "$target contains a NUL byte: fix it by hand (pg-dr edits text only)"
  fi
}

# locate the managed block: b and e are its first and last line numbers (0 when absent)
find_block() {
  b=0
  e=0
  [ -f "$target" ] || return 0
  nb=$(grep -c -x -F -e "$begin_line" "$target" || true)
  ne=$(grep -c -x -F -e "$end_line" "$target" || true)
  if [ "$nb" -eq 0 ] && [ "$ne" -eq 0 ]; then
    return 0
  fi
  if [ "$nb" -ne 1 ] || [ "$ne" -ne 1 ]; then
    refuse "$target has a malformed pg-dr block ($nb BEGIN, $ne END lines); fix it by hand"
  fi
  b=$(grep -n -x -F -e "$begin_line" "$target" | cut -d: -f1)
  e=$(grep -n -x -F -e "$end_line" "$target" | cut -d: -f1)
  if [ "$b" -gt "$e" ]; then
    refuse "$target has '$end_line' before '$begin_line'; fix it by hand"
  fi
}

# write "$work/new": the lines before the block, then file "$1" (may be empty), then the lines after it
splice() {
  {
    if [ "$b" -eq 0 ]; then
      cat "$1"
      if [ -f "$target" ]; then
        cat "$target"
      fi
    else
      if [ "$b" -gt 1 ]; then
        head -n "$((b - 1))" "$target"
      fi
      cat "$1"
      tail -n "+$((e + 1))" "$target"
    fi
  } >"$work/new"
}

# the received block, under the lock, with the current file checked and its block located
prepare() {
  begin
  receive_block
  lock
  check_target
  check_text
  find_block
}
