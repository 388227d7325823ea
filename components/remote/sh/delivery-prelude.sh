set -eu
umask 077
target=@TARGET@
mode=@MODE@
dir=$(dirname "$target")
# beside the target: its history (replaced and removed versions, newest @KEEP@ kept), its owner records
# (which configured path a resource delivered through) and its lock
hist="$target.pg-dr-history"
owner="$hist/@OWNER@"
lock="$target.pg-dr.lock"
work=""
reader=""

refuse() {
  printf '%s\n' "pg-dr: $*" >&2
  exit 1
}
# the pid the lock names (see lock)
lock_holder() {
  ls -l "$lock" 2>/dev/null | sed -n -e 's/.* -> //p'
}
# every temporary lives in "$work" (one private mktemp -d directory): removed on exit and on HUP INT
# TERM PIPE (dash skips an EXIT trap on a signal); what SIGKILL leaves, the next run removes (begin)
cleanup() {
  if [ -n "$reader" ]; then
    kill "$reader" 2>/dev/null || true
  fi
  if [ "$(lock_holder)" = "$$" ]; then
    rm -f "$lock"
  fi
  if [ -n "$work" ]; then
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'cleanup; trap - EXIT; exit 129' HUP
trap 'cleanup; trap - EXIT; exit 130' INT
trap 'cleanup; trap - EXIT; exit 141' PIPE
trap 'cleanup; trap - EXIT; exit 143' TERM

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum <"$1"
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 <"$1"
  else
    openssl dgst -sha256 -r <"$1"
  fi | cut -d ' ' -f 1
}

# refuse a directory other users can write (they could plant or read files there); remove what a killed
# run left (pg-dr's temporaries older than ten minutes: a run in progress is younger); make "$work"
begin() {
  if [ -n "$(find "$dir/." -prune \( -perm -020 -o -perm -002 \) -print)" ]; then
    refuse "$dir is writable by other users (group or world): refusing to write $target there"
  fi
  find "$dir/." ! -name . -prune -name '.pg-dr.*' -mmin +10 -exec rm -rf {} + 2>/dev/null || true
  work=$(mktemp -d "$dir/.pg-dr.XXXXXXXX")
}

# stdin to "$work/in", read in the background so that a signal interrupts the wait at once
receive() {
  exec 3<&0
  cat <&3 >"$work/in" &
  reader=$!
  wait "$reader" || refuse "could not read stdin for $target"
  reader=""
  exec 3<&-
}

# "$1" must be exactly what was sent: $2 bytes with sha256 $3 (a dropped connection cuts stdin short)
check_received() {
  got=$(wc -c <"$1" | tr -d ' ')
  if [ "$got" != "$2" ] || [ "$(sha256 "$1")" != "$3" ]; then
    refuse "stdin for $target arrived incomplete or altered ($got of $2 bytes, or another sha256): nothing changed"
  fi
}

# one pg-dr run at a time per target (the backup's and the drill's pgpass blocks share a file): the lock
# is a symlink to the holder's pid, made and filled in one step (a signal between making it and noting
# that we hold it cannot leave it behind: cleanup removes the lock that names our pid); a lock whose
# process is gone (SIGKILL) or that is older than ten minutes (its pid reused) is stale and taken over
lock() {
  tries=0
  until ln -s "$$" "$lock" 2>/dev/null; do
    holder=$(lock_holder)
    if { [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; } \
        || [ -n "$(find "$lock" -prune -mmin +10 2>/dev/null)" ]; then
      printf '%s\n' "pg-dr: taking over the stale lock $lock (pid $holder is gone or the lock is older than ten minutes)" >&2
      rm -f "$lock"
      continue
    fi
    tries=$((tries + 1))
    if [ "$tries" -gt 600 ]; then
      refuse "$lock is held by another pg-dr run (pid ${holder:-unknown}); try again"
    fi
    sleep 0.1 2>/dev/null || sleep 1
  done
}

# stdin is one header line "pg-dr-stdin <bytes> <sha256>" then the content, into "$1": the digest of a
# secret is secret-derived, so it travels with it on stdin (secret, never logged), not in the script
receive_framed() {
  receive
  header=$(head -n 1 "$work/in")
  tail -n +2 "$work/in" >"$1"
  case $header in
    "pg-dr-stdin "*" "*) ;;
    *) refuse "stdin for $target arrived incomplete (no pg-dr-stdin header line): nothing changed" ;;
  esac
  size=$(printf '%s\n' "$header" | cut -d ' ' -f 2)
  digest=$(printf '%s\n' "$header" | cut -d ' ' -f 3)
  check_received "$1" "$size" "$digest"
}

# the current file must be a regular file we can read (else one clear message, nothing changed)
check_target() {
  if [ -e "$target" ]; then
    [ -f "$target" ] || refuse "$target is not a regular file: fix it by hand"
    [ -r "$target" ] || refuse "$target is not readable by $(id -un): fix its owner or mode (it should be $(id -un)'s own, 0600)"
  fi
}

# copy the current file into the history as <UTC time>-<n>$1 (a new name: never overwrite), keep @KEEP@
save_history() {
  mkdir -p "$hist"
  cp -p "$target" "$work/prev"
  chmod "$mode" "$work/prev"
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  # after the newest entry of this second (a pruned name is never reused)
  last=$(ls "$hist" | grep -E "^$stamp-[0-9]{3}" | sort | tail -n 1 | cut -c 18-20 | sed -e 's/^0*//')
  n=$((${last:-0} + 1))
  while [ -e "$hist/$stamp-$(printf '%03d' "$n")" ] || [ -e "$hist/$stamp-$(printf '%03d' "$n")-removed" ] \
      || ! ln "$work/prev" "$hist/$stamp-$(printf '%03d' "$n")$1" 2>/dev/null; do
    n=$((n + 1))
    [ "$n" -le 999 ] || refuse "cannot add an entry to $hist"
  done
  aside="$hist/$stamp-$(printf '%03d' "$n")$1"
  ls "$hist" | grep -E '^[0-9]{8}T[0-9]{6}Z-[0-9]{3}' | sort >"$work/history"
  count=$(wc -l <"$work/history" | tr -d ' ')
  if [ "$count" -gt @KEEP@ ]; then
    head -n "$((count - @KEEP@))" "$work/history" | while IFS= read -r old; do rm -f "$hist/$old"; done
  fi
}

# install "$1" (a file in "$work") as "$target" with mode $mode: a rename in the target's directory;
# the replaced file goes to the history
install_new() {
  if [ -f "$target" ] && cmp -s "$1" "$target"; then
    chmod "$mode" "$target"
    state=unchanged
    return 0
  fi
  if [ -e "$target" ]; then
    save_history ""
    state=updated
  else
    state=created
  fi
  chmod "$mode" "$1"
  mv -f "$1" "$target"
}

# the owner record names the configured path this resource delivered through
claim() {
  mkdir -p "$hist"
  if [ "$(cat "$owner" 2>/dev/null || true)" != "$target" ]; then
    printf '%s\n' "$target" >"$work/owner"
    mv -f "$work/owner" "$owner"
  fi
}

# a removal acts only on what its own resource still owns: not when the owner record names another
# configured path reaching the same file (a new homeDir through a symlink, a case change on macOS);
# no record (an older pg-dr) or a record whose path no longer reaches this file: ours
still_ours() {
  [ -f "$owner" ] || return 0
  recorded=$(cat "$owner")
  if [ "$recorded" != "$target" ] && same_file "$recorded" "$target"; then
    return 1
  fi
  return 0
}
# "$1" and "$2" reach one file (symlinks followed): the same device and inode. `[ A -ef B ]` is not POSIX
# (posh errors, and the error read as "not the same"); stat is GNU/busybox (-c) or BSD/macOS (-f)
file_id() {
  stat -L -c '%d:%i' "$1" 2>/dev/null || stat -L -f '%d:%i' "$1" 2>/dev/null || true
}
same_file() {
  first=$(file_id "$1")
  [ -n "$first" ] && [ "$first" = "$(file_id "$2")" ]
}
