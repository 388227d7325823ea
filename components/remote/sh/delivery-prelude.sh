set -eu
umask 077
target=@TARGET@
mode=@MODE@
dir=$(dirname "$target")
mkdir -p "$dir"
tmp=$(mktemp "$dir/.pg-dr.XXXXXXXX")
trap 'rm -f "$tmp" "$tmp.prev" "$tmp.in" "$tmp.cur"' EXIT

# install "$tmp" as "$target" (mode $mode), keeping the current file as "$target.pg-dr-previous"
install_tmp() {
  if [ -f "$target" ] && cmp -s "$tmp" "$target"; then
    chmod "$mode" "$target"
    state=unchanged
    return 0
  fi
  if [ -e "$target" ]; then
    cp -p "$target" "$tmp.prev"
    chmod "$mode" "$tmp.prev"
    mv -f "$tmp.prev" "$target.pg-dr-previous"
    state=updated
  else
    state=created
  fi
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$target"
}
