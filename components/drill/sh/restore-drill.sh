set -eu
umask 077
PATH=@BARE_PATH@
export PATH
borg=@BORG@
pg_restore=@PG_RESTORE@
psql=@PSQL@
repo=@REPO@
archives=@ARCHIVES@
PGPASSFILE=@PGPASS@
recorded=@RESULT@
export PGPASSFILE
@PASSCOMMAND@
format=@FORMAT@
jobs=@JOBS@
host=@HOST@
port=@PORT@
user=@USER@
maint=@MAINT@
scratch=@SCRATCH@
marker=@MARKER@
dump=@DUMP_PATH@
work=$(mktemp -d "${TMPDIR:-/tmp}/pg-dr-drill.XXXXXXXX")
created=0
fail() {
  printf '%s\n' "pg-dr drill: $*" >&2
  exit 1
}
# messages from the cleanup: a closed stdout or stderr (SIGPIPE) must not stop it
say() {
  printf '%s\n' "pg-dr drill: $*" 2>/dev/null || true
}
warn() {
  printf '%s\n' "pg-dr drill: $*" >&2 2>/dev/null || true
}
pg() {
  db=$1
  shift
  "$psql" -X -q -A -t -w -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "$user" -d "$db" "$@"
}
# a plain DROP DATABASE (WITH (FORCE) would have to terminate autovacuum workers, which a role with only
# CREATEDB may not do; the plain one cancels autovacuum itself); retried while another session leaves
drop_scratch() {
  tries=0
  until printf '%s\n' 'DROP DATABASE IF EXISTS :"scratch";' \
      | pg "$maint" -v scratch="$scratch" -f - >/dev/null 2>"$work/drop.err"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 10 ] || ! grep -q 'is being accessed by other users' "$work/drop.err"; then
      return 1
    fi
    sleep 1
  done
}
cleanup() {
  rc=$?
  trap - EXIT
  trap '' HUP INT TERM PIPE
  if [ "$created" -eq 1 ]; then
    if drop_scratch; then
      say "dropped the scratch database $scratch on $host:$port"
    else
      warn "could not drop the scratch database $scratch on $host:$port: $(cat "$work/drop.err" 2>/dev/null)"
      rc=1
    fi
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM
now() {
  perl -MTime::HiRes=time -e 'printf "%.3f\n", time' 2>/dev/null || date +%s
}
errors() {
  tail -n 20 "$1" | tr '\n' ' '
}
COUNT_SQL="SELECT format('%s.%s', n.nspname, c.relname) || E'\t' || (xpath('/row/c/text()',
  query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
  ORDER BY 1;"

# 1. the latest archive and the dump in it
archive=$("$borg" list --lock-wait 600 --glob-archives "$archives" --last 1 --format '{archive}{NL}' "$repo" \
  2>"$work/err") \
  || fail "borg list $repo failed: $(errors "$work/err")"
[ -n "$archive" ] || fail "repository $repo has no archive"
"$borg" list --lock-wait 600 --format '{type} {path}{NL}' "$repo::$archive" >"$work/list" 2>"$work/err" \
  || fail "borg list $repo::$archive failed: $(errors "$work/err")"
entry=$(grep -E -e @DUMP_RE@ "$work/list" | head -n 1 || true)
[ -n "$entry" ] || fail "archive $archive holds no @FORMAT_WORD@ dump $dump"
path=${entry#? }
printf '%s\n' "pg-dr drill: restoring $path from $repo::$archive into $scratch on $host:$port"

# 2. the scratch database: never one the drill did not create. A database of that name is the drill's
# when it carries the marker comment, or when it has no comment, is owned by the drill's role and holds
# no relation or function (a drill killed between CREATE DATABASE and COMMENT left it empty); anything
# else is refused.
classify() {
  printf '%s\n' "SELECT CASE WHEN shobj_description(d.oid, 'pg_database') = :'marker' THEN 'marked'
    WHEN shobj_description(d.oid, 'pg_database') IS NULL AND d.datdba = (SELECT oid FROM pg_roles
      WHERE rolname = current_user) THEN 'unmarked' ELSE 'foreign' END
  FROM pg_database d WHERE d.datname = :'scratch';" \
    | pg "$maint" -v scratch="$scratch" -v marker="$marker" -f - 2>"$work/err" \
    || fail "cannot query $maint on $host:$port as $user: $(errors "$work/err")"
}
empty_scratch() {
  objects=$(printf '%s\n' "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)')
    + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'));" | pg "$scratch" -f - 2>"$work/err") \
    || fail "cannot inspect the database $scratch on $host:$port: $(errors "$work/err")"
  [ "$objects" = 0 ]
}
existing=$(classify)
if [ -n "$existing" ]; then
  if [ "$existing" = unmarked ] && ! empty_scratch; then
    existing=foreign
  fi
  [ "$existing" != foreign ] \
    || fail "database $scratch exists on $host:$port and was not created by a pg-dr drill: refusing to touch it"
  drop_scratch || fail "cannot drop the leftover scratch database $scratch: $(errors "$work/drop.err")"
fi
# created and marked in one session (CREATE DATABASE cannot run in a transaction block)
if ! printf '%s\n' 'CREATE DATABASE :"scratch";' "COMMENT ON DATABASE :\"scratch\" IS :'marker';" \
    | pg "$maint" -v scratch="$scratch" -v marker="$marker" -f - 2>"$work/create.err"; then
  case $(classify) in marked | unmarked) created=1 ;; esac
  fail "cannot create the scratch database $scratch on $host:$port as $user (needs CREATEDB): $(errors "$work/create.err")"
fi
created=1

# 3. the restore, timed
start=$(now)
if [ "$format" = directory ]; then
  mkdir "$work/extract"
  (cd "$work/extract" && "$borg" extract --lock-wait 600 "$repo::$archive" "$path") 2>"$work/err" \
    || fail "borg extract $repo::$archive $path failed: $(errors "$work/err")"
  "$pg_restore" -w -h "$host" -p "$port" -U "$user" --dbname="$scratch" --no-owner --no-acl --exit-on-error \
    --jobs="$jobs" "$work/extract/$path" 2>"$work/restore.err" \
    || fail "pg_restore into $scratch failed: $(errors "$work/restore.err")"
else
  if ! { "$borg" extract --lock-wait 600 --stdout "$repo::$archive" "$path" 2>"$work/err"; printf '%s\n' "$?" >"$work/borg.rc"; } \
      | "$pg_restore" -w -h "$host" -p "$port" -U "$user" --dbname="$scratch" --no-owner --no-acl --exit-on-error \
        2>"$work/restore.err"; then
    fail "pg_restore into $scratch failed: $(errors "$work/restore.err") $(errors "$work/err")"
  fi
  [ "$(cat "$work/borg.rc")" = 0 ] || fail "borg extract --stdout $repo::$archive $path failed: $(errors "$work/err")"
fi
end=$(now)
seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')

# 4. row counts
printf '%s\n' "$COUNT_SQL" | pg "$scratch" -f - >"$work/restored" 2>"$work/err" \
  || fail "cannot count the rows of $scratch: $(errors "$work/err")"
: >"$work/expected"
@EXPECTED@
@SOURCE@
compare() {
  awk -F '\t' -v what="$3" '
    FILENAME == ARGV[1] { want[$1] = $2; order[++n] = $1; next }
    { got[$1] = $2; seen[++m] = $1 }
    END {
      for (i = 1; i <= n; i++) {
        t = order[i]
        if (!(t in got)) printf "table %s: expected %s, restored none (table missing)\n", t, want[t]
        else if (got[t] + 0 != want[t] + 0) printf "table %s: expected %s, restored %s\n", t, want[t], got[t]
      }
      if (what == "source") for (i = 1; i <= m; i++) if (!(seen[i] in want))
        printf "table %s: expected none (not in the source), restored %s\n", seen[i], got[seen[i]]
    }' "$1" "$2"
}
compare "$work/expected" "$work/restored" expected >"$work/mismatch"
if [ -f "$work/source" ]; then
  compare "$work/source" "$work/restored" source >>"$work/mismatch"
fi
checked=$(cat "$work/expected" "$work/source" 2>/dev/null | wc -l | tr -d ' ')

# 5. the result, built by PostgreSQL's JSON functions (any table name, archive or path is escaped)
ok=true
if [ -s "$work/mismatch" ]; then
  ok=false
fi
result=$(printf '%s\n' "SELECT json_build_object('archive', :'archive', 'dumpPath', :'path',
    'scratchDatabase', :'scratch', 'target', :'target', 'restoreSeconds', (:'seconds')::numeric,
    'checkedTables', (:'checked')::int, 'ok', (:'ok')::boolean,
    'counts', (SELECT coalesce(json_object_agg(split_part(l, E'\t', 1), split_part(l, E'\t', 2)::bigint
      ORDER BY i), '{}'::json) FROM regexp_split_to_table(:'counts', E'\n') WITH ORDINALITY AS r(l, i)
      WHERE l <> ''));" \
  | pg "$maint" -v archive="$archive" -v path="$path" -v scratch="$scratch" -v target="$host:$port" \
    -v seconds="$seconds" -v checked="$checked" -v ok="$ok" -v counts="$(cat "$work/restored")" -f - 2>"$work/err") \
  || fail "cannot build the result on $host:$port: $(errors "$work/err")"
printf '%s\n' "@RESULT_PREFIX@$result"
if [ -s "$work/mismatch" ]; then
  printf '%s\n' "pg-dr drill: restored row counts differ ($scratch from $repo::$archive):" >&2
  sed -e 's/^/  /' "$work/mismatch" >&2
  exit 1
fi
# 6. a passed drill records its result: an update without a new runId prints it instead of restoring again
mkdir -p "$(dirname "$recorded")"
printf '%s\n' "@RESULT_PREFIX@$result" >"$recorded.$$"
mv -f "$recorded.$$" "$recorded"
printf '%s\n' "pg-dr drill: OK - $checked table counts match; restore took ${seconds}s"
