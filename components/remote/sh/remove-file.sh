set -eu
umask 077
target=@TARGET@
if [ ! -e "$target" ]; then
  echo "pg-dr: $target is already gone"
  exit 0
fi
in=$(mktemp "${TMPDIR:-/tmp}/pg-dr.XXXXXXXX")
trap 'rm -f "$in"' EXIT
cat > "$in"
if ! cmp -s "$in" "$target"; then
  echo "pg-dr: $target holds another version (a replacement wrote it); left in place"
  exit 0
fi
@BEFORE_REMOVE@
aside="$target.pg-dr-removed-$(date -u +%Y%m%dT%H%M%SZ)"
mv -f "$target" "$aside"
@AFTER_REMOVE@
echo "pg-dr: $target moved to $aside"
