#!/bin/sh
# pg-dr-restore: restore a database from pg-dr's borg archives, on this backup host alone.
# Managed by pg-dr (pg-dr:backup.restoreCommandPath): generated from the stack config, not edited here.
# Usage: pg-dr-restore --help. The last line of stdout is always "pg-dr-restore: OK {json}" or
# "pg-dr-restore: FAILED <reason>"; exit 0 ok, 1 failed, 2 usage error.
set -u
umask 077
PATH=@BARE_PATH@
export PATH
LC_ALL=C
export LC_ALL
# ------------------------------------------------------------------ settings baked in by pg-dr
borg=@BORG@
bindir=@PG_BIN@
PGPASSFILE=${PGPASSFILE:-@PGPASS@}
export PGPASSFILE
@PASSCOMMAND@
glob=@ARCHIVES@
lockwait=@LOCK_WAIT@
# label<TAB>path, one repository a line (the first is the default)
repositories=@REPOSITORIES@
# name<TAB>hostname<TAB>port<TAB>label (- for none)<TAB>format<TAB>dump path<TAB>roles file path, one dump a line
databases=@DATABASES@
# ------------------------------------------------------------------
me=pg-dr-restore
tab=$(printf '\t')
nl='
'
psql="$bindir/psql"
pg_restore="$bindir/pg_restore"

say() {
  printf '%s\n' "$me: $*" 2>/dev/null || true
}
note() {
  printf '%s\n' "$me: $*" >&2 2>/dev/null || true
}
usage_error() {
  printf '%s\n' "$me: FAILED usage: $*"
  exit 2
}
help() {
  cat <<'EOF'
pg-dr-restore --list [--repository LABEL]
pg-dr-restore --database NAME [--source HOST:PORT|LABEL] [--archive NAME|latest] [--repository LABEL]
              --target-host HOST --target-port PORT --target-user USER [--target-database NAME]
              [--replace] [--jobs N] [--no-roles] [--min-count SCHEMA.TABLE=N]...
              [--maintenance-database NAME] [--tmpdir DIR] [--comment TEXT]

Restores the dump of NAME from pg-dr's newest archive (or --archive) into --target-database (default
NAME) on the target server: into a temporary database first, renamed to the target only once every
table's row count equals what the dump held. A target holding any table is refused unless --replace.
Roles the dump names (owners, grantees) that the target lacks are created NOLOGIN without a password;
--no-roles restores with --no-owner --no-acl instead. Passwords come from the pgpass file
($PGPASSFILE, else the one pg-dr delivered), never from the command line.
EOF
}

# ------------------------------------------------------------------ arguments
list=0
database=""
source=""
archive=latest
repository=""
thost=""
tport=""
tuser=""
tdb=""
replace=0
jobs=""
roles=1
mins=""
maint=postgres
tmpbase=${TMPDIR:-/tmp}
comment=""
# one printable line (a control character in a name is refused, never passed on)
check_text() {
  [ -n "$2" ] || usage_error "$1: empty value"
  [ "$(printf '%s' "$2" | tr -d '\000-\037\177')" = "$2" ] || usage_error "$1: contains a control character"
}
need_value() {
  [ "$2" -ge 2 ] || usage_error "$1: missing value"
}
while [ $# -gt 0 ]; do
  opt=$1
  value=""
  has_value=0
  case $opt in
    --*=*)
      value=${opt#*=}
      opt=${opt%%=*}
      has_value=1
      ;;
  esac
  case $opt in
    --list | --replace | --no-roles | --help | -h)
      [ "$has_value" -eq 0 ] || usage_error "$opt: takes no value"
      case $opt in
        --list) list=1 ;;
        --replace) replace=1 ;;
        --no-roles) roles=0 ;;
        *) help; say 'OK {"help": true}'; exit 0 ;;
      esac
      shift
      continue
      ;;
    --database | --source | --archive | --repository | --target-host | --target-port | --target-user \
      | --target-database | --jobs | --min-count | --maintenance-database | --tmpdir | --comment)
      if [ "$has_value" -eq 0 ]; then
        need_value "$opt" $#
        value=$2
        shift
      fi
      shift
      ;;
    *) usage_error "unknown argument $(printf '%s' "$opt" | tr '\000-\037\177' '?') (see --help)" ;;
  esac
  check_text "$opt" "$value"
  case $opt in
    --database) database=$value ;;
    --source) source=$value ;;
    --archive) archive=$value ;;
    --repository) repository=$value ;;
    --target-host) thost=$value ;;
    --target-port)
      case $value in *[!0-9]* | 0*) usage_error "--target-port: '$value' is not a port (1-65535)" ;; esac
      [ "${#value}" -le 5 ] && [ "$value" -le 65535 ] || usage_error "--target-port: '$value' is not a port (1-65535)"
      tport=$value
      ;;
    --target-user) tuser=$value ;;
    --target-database) tdb=$value ;;
    --jobs)
      case $value in *[!0-9]* | 0*) usage_error "--jobs: '$value' is not a positive integer" ;; esac
      [ "${#value}" -le 3 ] || usage_error "--jobs: '$value' is too many (at most 999)"
      jobs=$value
      ;;
    --min-count)
      table=${value%=*}
      count=${value##*=}
      case $value in *=*) ;; *) usage_error "--min-count: '$value' is not SCHEMA.TABLE=N" ;; esac
      case $count in "" | *[!0-9]*) usage_error "--min-count: '$value' is not SCHEMA.TABLE=N (N a number)" ;; esac
      [ -n "$table" ] || usage_error "--min-count: '$value' names no table"
      case $table in *.*) ;; *) table="public.$table" ;; esac
      mins="$mins$table$tab$count$nl"
      ;;
    --maintenance-database) maint=$value ;;
    --tmpdir) tmpbase=$value ;;
    --comment) comment=$value ;;
  esac
done

# the repository: its label and path
if [ -z "$repository" ]; then
  repository=$(printf '%s\n' "$repositories" | head -n 1 | cut -f 1)
fi
repo=$(printf '%s\n' "$repositories" | awk -F "$tab" -v l="$repository" '$1 == l { print $2; exit }')
if [ -z "$repo" ]; then
  usage_error "--repository: no repository labelled '$repository' (known: $(printf '%s\n' "$repositories" \
    | cut -f 1 | paste -s -d ' ' -))"
fi

if [ "$list" -eq 1 ]; then
  for o in "$database" "$source" "$thost" "$tport" "$tuser" "$tdb" "$jobs" "$mins" "$comment"; do
    [ -z "$o" ] || usage_error "--list: takes only --repository"
  done
  [ "$archive" = latest ] && [ "$replace" -eq 0 ] && [ "$roles" -eq 1 ] || usage_error "--list: takes only --repository"
else
  [ -n "$database" ] || usage_error "--database: required (or --list)"
  [ -n "$thost" ] || usage_error "--target-host: required"
  [ -n "$tport" ] || usage_error "--target-port: required"
  [ -n "$tuser" ] || usage_error "--target-user: required"
  [ -n "$tdb" ] || tdb=$database
  case $tdb in
    postgres | template0 | template1) usage_error "--target-database: '$tdb' is a system database: never a target" ;;
  esac
  [ "$tdb" != "$maint" ] || usage_error "--target-database: '$tdb' is the maintenance database: never a target"
  [ "${#tdb}" -le 63 ] || usage_error "--target-database: '$tdb' is longer than 63 bytes"
  # the dump: by name, and --source (host:port or label) when several servers' dumps share the name
  matches=$(printf '%s\n' "$databases" | awk -F "$tab" -v n="$database" -v s="$source" \
    '$1 == n && (s == "" || s == $2 ":" $3 || (s == $4 && $4 != "-")) { print }')
  count=$(printf '%s' "$matches" | grep -c . || true)
  if [ "$count" -eq 0 ]; then
    if [ -n "$source" ] && printf '%s\n' "$databases" | cut -f 1 | grep -q -x -F -e "$database"; then
      usage_error "--source: no dump of $database from '$source' (known: $(printf '%s\n' "$databases" \
        | awk -F "$tab" -v n="$database" '$1 == n { printf "%s%s:%s", sep, $2, $3; sep = " " }'))"
    fi
    usage_error "--database: no dump named '$database' in pg-dr's config (known: $(printf '%s\n' "$databases" \
      | cut -f 1 | sort -u | paste -s -d ' ' -))"
  fi
  if [ "$count" -gt 1 ]; then
    usage_error "--source: required: $database is backed up from $(printf '%s\n' "$matches" \
      | awk -F "$tab" '{ printf "%s%s:%s", sep, $2, $3; sep = " and " }')"
  fi
  dhost=$(printf '%s\n' "$matches" | cut -f 2)
  dport=$(printf '%s\n' "$matches" | cut -f 3)
  format=$(printf '%s\n' "$matches" | cut -f 5)
  dumppath=$(printf '%s\n' "$matches" | cut -f 6)
  rolespath=$(printf '%s\n' "$matches" | cut -f 7)
  case $format in
    custom | directory | tar) ;;
    *) usage_error "--database: the dump of $database is $format: pg-dr-restore restores custom, directory and tar dumps" ;;
  esac
fi
[ -d "$tmpbase" ] || usage_error "--tmpdir: $tmpbase is not a directory"

# ------------------------------------------------------------------ work directory, cleanup
now() {
  perl -MTime::HiRes=time -e 'printf "%.3f\n", time' 2>/dev/null || date +%s
}
since() {
  awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'
}
errors() {
  tail -n 5 "$1" 2>/dev/null | tr '\n' ' ' | sed -e 's/ *$//'
}
started=$(now)
thishost=$(uname -n)
# what a run killed with SIGKILL left: work directories whose run is gone (their pid file names it)
for old in "$tmpbase"/pg-dr-restore.*; do
  [ -d "$old" ] && [ -f "$old/pid" ] || continue
  kill -0 "$(cat "$old/pid")" 2>/dev/null || rm -rf "$old"
done
work=$(mktemp -d "$tmpbase/pg-dr-restore.XXXXXXXX") || { say "FAILED cannot create a work directory in $tmpbase"; exit 1; }
printf '%s\n' "$$" >"$work/pid"
pids=""
watchdog=""
tmpdb=""
created=0
renamed=0
reason=""
finished=0

pg() {
  db=$1
  shift
  PGCONNECT_TIMEOUT=30 "$psql" -X -q -A -t -w -v ON_ERROR_STOP=1 -h "$thost" -p "$tport" -U "$tuser" -d "$db" "$@"
}
# drop the temporary database: its sessions (ours: the same role) ended first, then a plain DROP, retried
# while one is still leaving (autovacuum is cancelled by the DROP itself)
drop_tmp() {
  [ -n "$tmpdb" ] || return 0
  tries=0
  until printf '%s\n' "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE datname = :'tmp' AND usename = current_user AND pid <> pg_backend_pid();" \
      'DROP DATABASE IF EXISTS :"tmp";' | pg "$maint" -v tmp="$tmpdb" -f - >/dev/null 2>"$work/drop.err"; do
    tries=$((tries + 1))
    [ "$tries" -lt 15 ] || return 1
    sleep 1
  done
}
# the roles this run created, when it fails: a failed restore leaves nothing behind (they own nothing but
# objects of the temporary database, dropped first)
drop_created_roles() {
  [ -s "$work/roles.created" ] || return 0
  printf '%s\n' "SELECT format('DROP ROLE IF EXISTS %I;', r) FROM regexp_split_to_table(:'roles', E'\n') AS r
      WHERE r <> '' \\gexec" | pg "$maint" -v roles="$(cat "$work/roles.created")" -f - >/dev/null 2>&1
}
stop_children() {
  for p in $pids; do
    kill -TERM "$p" 2>/dev/null || true
  done
}
cleanup() {
  rc=$?
  trap - EXIT
  trap '' HUP INT TERM PIPE
  [ -z "$watchdog" ] || kill -USR1 "$watchdog" 2>/dev/null || true
  stop_children
  if [ "$created" -eq 1 ] && [ "$renamed" -eq 0 ]; then
    if drop_tmp; then
      drop_created_roles || reason="${reason:-failed}; could not drop the roles it created ($(paste -s -d ' ' - <"$work/roles.created"))"
      [ -z "$reason" ] || reason="$reason; nothing restored: the temporary database $tmpdb was dropped, the target is unchanged"
    else
      reason="${reason:-failed}; could not drop the temporary database $tmpdb on $thost:$tport: $(errors "$work/drop.err")"
    fi
  elif [ "$renamed" -eq 0 ] && [ -n "$reason" ]; then
    reason="$reason; nothing restored, the target is unchanged"
  fi
  rm -rf "$work"
  if [ "$finished" -eq 0 ]; then
    [ "$rc" -ne 0 ] || rc=1
    say "FAILED ${reason:-stopped}"
  fi
  exit "$rc"
}
@FAIL_TRAPS@
# a SIGKILL runs no trap: a watchdog, started once the temporary database has a name, stops the children,
# drops that database and removes the work directory when this shell is gone
start_watchdog() {
  (
    trap '' HUP INT TERM PIPE
    trap 'exit 0' USR1
    # gone, or a zombie its parent has not reaped yet
    while kill -0 "$$" 2>/dev/null && [ "$(ps -o stat= -p "$$" 2>/dev/null | cut -c 1)" != Z ]; do
      sleep 1
    done
    for p in $(cat "$work/pids" 2>/dev/null); do
      kill -TERM "$p" 2>/dev/null || true
    done
    drop_tmp && drop_created_roles
    rm -rf "$work"
  ) </dev/null >/dev/null 2>&1 &
  watchdog=$!
}
# run in the background so that a signal interrupts the wait at once (a shell runs its traps only
# between foreground commands); the pids are what cleanup and the watchdog stop
bg() {
  pids="$pids $1"
  printf '%s\n' $pids >"$work/pids"
}

waitfor() {
  wait "$1"
}
# psql in the background (a simple command: its pid is psql's own), the SQL in file $1, then waited for
pgwait() {
  sql=$1
  db=$2
  shift 2
  PGCONNECT_TIMEOUT=30 "$psql" -X -q -A -t -w -v ON_ERROR_STOP=1 -h "$thost" -p "$tport" -U "$tuser" -d "$db" "$@" \
    -f - <"$sql" &
  bg $!
  waitfor $!
}

# ------------------------------------------------------------------ borg
b() {
  TZ=UTC "$borg" "$@" --lock-wait "$lockwait" </dev/null
}
archive_list() {
  b list --glob-archives "$glob" --format "{archive}$tab{time:%Y-%m-%dT%H:%M:%SZ}{NL}" "$repo" >"$work/archives" 2>"$work/err" \
    || fail "borg list $repo failed: $(errors "$work/err")"
}
contents() {
  b list --format "{type}$tab{size}$tab{path}{NL}" "$repo::$1" >"$2" 2>"$work/err" \
    || fail "borg list $repo::$1 failed: $(errors "$work/err")"
}
# the archive entry whose path is $2 (or ends with /$2: borg < 1.4 keeps borgmatic's runtime directory in front)
entry() {
  awk -F "$tab" -v p="$2" -v t="$3" '$1 == t && ($3 == p || substr($3, length($3) - length(p)) == "/" p) { print; exit }' "$1"
}

if [ "$list" -eq 1 ]; then
  archive_list
  if [ ! -s "$work/archives" ]; then
    printf '%s\n' "no archive of pg-dr's ($glob) in $repository ($repo)"
    finished=1
    say "OK {\"repository\": \"$repository\", \"archives\": 0}"
    exit 0
  fi
  sort -r -t "$tab" -k 2,2 -k 1,1 "$work/archives" >"$work/sorted"
  n=0
  while IFS="$tab" read -r name time; do
    n=$((n + 1))
    printf '%s\n' "archive $name ($time)"
    contents "$name" "$work/contents"
    printf '%s\n' "$databases" | while IFS="$tab" read -r dname dh dp dl df dpath rpath; do
      [ -n "$dname" ] || continue
      kind=-
      [ "$df" != directory ] || kind=d
      if e=$(entry "$work/contents" "$dpath" "$kind") && [ -n "$e" ]; then
        if [ "$kind" = d ]; then
          size=$(awk -F "$tab" -v p="$dpath" 'index($3, p "/") { s += $2 } END { print s + 0 }' "$work/contents")
        else
          size=$(printf '%s\n' "$e" | cut -f 2)
        fi
        r=", no roles file"
        e2=$(entry "$work/contents" "$rpath" -)
        [ -z "$e2" ] || r=", roles"
        printf '%s\n' "  $dname from $dh:$dp ($df, $size bytes$r)"
      fi
    done
  done <"$work/sorted"
  finished=1
  say "OK {\"repository\": \"$repository\", \"archives\": $n}"
  exit 0
fi

# ------------------------------------------------------------------ the archive (while the target is checked)
# one borg at a time until the restore's stream holds the repository's shared lock: borg processes that
# take the lock at the same moment contend, and the waiting one sleeps --lock-wait/60 between tries
if [ "$archive" = latest ]; then
  TZ=UTC "$borg" list --lock-wait "$lockwait" --glob-archives "$glob" --format "{archive}$tab{time:%Y-%m-%dT%H:%M:%SZ}{NL}" \
    "$repo" >"$work/archives" 2>"$work/list.err" </dev/null &
else
  TZ=UTC "$borg" list --lock-wait "$lockwait" --format "{archive}$tab{time:%Y-%m-%dT%H:%M:%SZ}{NL}" \
    "$repo" >"$work/archives" 2>"$work/list.err" </dev/null &
fi
bg $!
listpid=$!

# ------------------------------------------------------------------ the target
[ -n "$(command -v "$psql")" ] || fail "$psql not found (pg-dr:backup.pgBinDir)"
printf '%s\n' "SELECT (SELECT count(*) FROM pg_database WHERE datname = :'tdb'),
    coalesce((SELECT datistemplate FROM pg_database WHERE datname = :'tdb'), false),
    coalesce((SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user), false),
    current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
      - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend');" \
  | pg "$maint" -v tdb="$tdb" -F "$tab" -f - >"$work/target" 2>"$work/err" \
  || fail "cannot connect to $maint on $thost:$tport as $tuser: $(errors "$work/err")"
IFS="$tab" read -r texists ttemplate tcanrole tslots <"$work/target"
[ "$ttemplate" != t ] || fail "$tdb on $thost:$tport is a template database: never a target"
# a target that holds any table (or view, sequence, function) is refused unless --replace
occupied() {
  printf '%s\n' "SELECT count(*) || CASE WHEN count(*) = 1 THEN ' relation (' ELSE ' relations (' END || coalesce(string_agg(x, ', ' ORDER BY x) FILTER (WHERE n <= 3), '')
      || CASE WHEN count(*) > 3 THEN ', ...' ELSE '' END || ')' FROM (
    SELECT format('%s.%s', s.nspname, c.relname) AS x, row_number() OVER (ORDER BY s.nspname, c.relname) AS n
    FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND s.nspname NOT IN ('pg_catalog', 'information_schema') AND s.nspname !~ '^pg_(toast|temp)') t
    HAVING count(*) > 0;" | pg "$tdb" -f - 2>"$work/err"
}
if [ "$texists" != 0 ]; then
  held=$(occupied) || fail "cannot inspect the target database $tdb on $thost:$tport: $(errors "$work/err")"
  if [ -n "$held" ] && [ "$replace" -eq 0 ]; then
    fail "target database $tdb on $thost:$tport holds $held: refusing to restore over it (--replace drops and re-creates it)"
  fi
fi
if [ "$roles" -eq 1 ] && [ "$tcanrole" != t ]; then
  note "$tuser on $thost:$tport has neither SUPERUSER nor CREATEROLE: missing roles cannot be created (--no-roles restores without owners and grants)"
fi

# ------------------------------------------------------------------ the temporary database
tmpdb="pgdr_restore_$$_$(date +%s)"
marker="pg-dr-restore temporary database (host $thishost pid $$): dropped if the restore fails"
# temporary databases of runs on this host that are gone (a SIGKILL of the whole process group)
printf '%s\n' "SELECT d.datname FROM pg_database d WHERE d.datname ~ '^pgdr_restore_[0-9]+_[0-9]+$'
    AND shobj_description(d.oid, 'pg_database') LIKE :'mine' ESCAPE '#';" \
  | pg "$maint" -v mine="pg-dr-restore temporary database (host $(printf '%s' "$thishost" | sed -e 's/[#%_]/#&/g') pid %" -f - \
    >"$work/stale" 2>/dev/null || true
while IFS= read -r stale; do
  spid=$(printf '%s\n' "$stale" | cut -d _ -f 3)
  if [ -n "$spid" ] && ! kill -0 "$spid" 2>/dev/null; then
    printf '%s\n' 'DROP DATABASE IF EXISTS :"s";' | pg "$maint" -v s="$stale" -f - >/dev/null 2>&1 \
      && note "dropped $stale, left by a restore that was killed"
  fi
done <"$work/stale"
start_watchdog
created=1
create_tmp() {
  printf '%s\n' 'CREATE DATABASE :"tmp" TEMPLATE template0;' "COMMENT ON DATABASE :\"tmp\" IS :'marker';" \
    | pg "$maint" -v tmp="$tmpdb" -v marker="$marker" -f - >/dev/null 2>"$work/err" \
    || fail "cannot create a database on $thost:$tport as $tuser (needs CREATEDB): $(errors "$work/err")"
}
create_tmp

# ------------------------------------------------------------------ the archive and the dump
waitfor "$listpid" || fail "borg list $repo failed: $(errors "$work/list.err")"
if [ "$archive" = latest ]; then
  line=$(sort -t "$tab" -k 2,2 -k 1,1 "$work/archives" | tail -n 1)
  [ -n "$line" ] || fail "repository $repository ($repo) holds no archive of pg-dr's ($glob)"
else
  line=$(awk -F "$tab" -v a="$archive" '$1 == a { print; exit }' "$work/archives")
  [ -n "$line" ] || fail "--archive: no archive '$archive' in repository $repository ($repo)"
fi
archive=$(printf '%s\n' "$line" | cut -f 1)
atime=$(printf '%s\n' "$line" | cut -f 2)
# the dump and the roles file as borg patterns: their path, or any path ending in /path (borg < 1.4 keeps
# borgmatic's runtime directory in front), so that no listing of the archive is needed before the stream
regex() {
  printf '%s' "$1" | sed -e 's/[][\\.^$*+?(){}|]/\\&/g'
}
dumpre="re:(^|/)$(regex "$dumppath")\$"
rolesre="re:(^|/)$(regex "$rolespath")\$"
apath=$dumppath

# jobs: --jobs, else this host's cores; at most the connections the target has free (less a margin)
if [ -z "$jobs" ]; then
  jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 1)
  case $jobs in "" | *[!0-9]*) jobs=1 ;; esac
  [ "$jobs" -ge 1 ] || jobs=1
fi
if [ "$jobs" -gt 1 ] && [ "$((tslots - 2))" -lt "$jobs" ]; then
  capped=$((tslots - 2))
  [ "$capped" -ge 1 ] || capped=1
  note "--jobs $jobs capped at $capped: the target has $tslots connections free"
  jobs=$capped
fi
[ "$format" != tar ] || jobs=1 # pg_restore restores tar archives single-job

# the path. custom and tar dumps stream from borg, never written whole to disk: into one pg_restore
# (stream); with --jobs above 1 (stream-parallel) the pre-data from the stream, the rows dealt out to
# --jobs psql sessions, then the post-data (indexes, constraints, grants) with pg_restore --jobs from the
# dump's start (its table of contents) kept in a file. A directory dump is extracted first, then restored
# with --jobs (file)
free=$(df -Pk "$work" 2>/dev/null | awk 'NR == 2 { print $4 }')
case $free in "" | *[!0-9]*) free=0 ;; esac
tockb=65536 # the dump's first 64 MB hold its table of contents (pg_restore -l checks it)
if [ "$format" = directory ]; then
  TZ=UTC "$borg" list --lock-wait "$lockwait" --format "{type}$tab{size}$tab{path}{NL}" "$repo::$archive" \
    >"$work/contents" 2>"$work/list.err" </dev/null &
  bg $!
  waitfor $! || fail "borg list $repo::$archive failed: $(errors "$work/list.err")"
  dentry=$(entry "$work/contents" "$dumppath" d)
  [ -n "$dentry" ] || fail "archive $archive holds no $format dump $dumppath"
  apath=$(printf '%s\n' "$dentry" | cut -f 3)
  size=$(awk -F "$tab" -v p="$apath" 'index($3, p "/") == 1 { s += $2 } END { print s + 0 }' "$work/contents")
  need=$(((size / 1024) + (size / 10240) + 10240)) # the dump, 10% and 10 MB to spare, in KB
  [ "$free" -ge "$need" ] || fail "no room for the directory dump in $tmpbase ($((free / 1024)) MB free, $((need / 1024)) MB needed): use --tmpdir"
  how=file
elif [ "$jobs" -gt 1 ]; then
  need=$((tockb + 10240))
  if [ "$free" -ge "$need" ]; then
    how=stream-parallel
  else
    note "no room for the dump's table of contents in $tmpbase ($((free / 1024)) MB free, $((need / 1024)) MB needed): streaming it, single-job"
    jobs=1
    how=stream
  fi
else
  how=stream
fi
say "restoring $apath from $repository::$archive into $tdb on $thost:$tport (via $tmpdb; $how, $jobs jobs)"
prepare_s=$(since "$started")

# ------------------------------------------------------------------ the readers of the dump
# the dump's data as SQL (pg_restore -f), read by the awk program of deal-rows.awk: its rows counted per
# table and, with SINKS above 0, dealt out to that many sessions (fifos sink.1 ...). counter SOURCE [SINKS]
counter() {
  rm -f "$work/count.sql"
  mkfifo "$work/count.sql" || fail "cannot make a fifo in $work"
  if [ -d "$1" ]; then
    "$pg_restore" --section=data -f "$work/count.sql" "$1" >/dev/null 2>"$work/count.err" &
  else # a fifo: read as a stream (pg_restore would open a named file twice)
    "$pg_restore" --section=data -f "$work/count.sql" <"$1" >/dev/null 2>"$work/count.err" &
  fi
  bg $!
  countpid=$!
  i=1
  while [ "$i" -le "${2:-0}" ]; do
    mkfifo "$work/sink.$i" || fail "cannot make a fifo in $work"
    i=$((i + 1))
  done
  awk -v n="${2:-0}" -v dir="$work" @DEAL_ROWS@ <"$work/count.sql" >"$work/dumpcounts" 2>"$work/awk.err" &
  bg $!
  awkpid=$!
}
# the sessions the data is dealt out to (split): psql on each fifo, opened before it connects (a session
# that fails ends the fifo's reader: the dealing stops and its error is named)
sinks() {
  sinkpids=""
  i=1
  while [ "$i" -le "$jobs" ]; do
    PGCONNECT_TIMEOUT=30 "$psql" -X -q -w -v ON_ERROR_STOP=1 -h "$thost" -p "$tport" -U "$tuser" -d "$tmpdb" \
      -f - <"$work/sink.$i" >/dev/null 2>"$work/sink.$i.err" &
    bg $!
    sinkpids="$sinkpids $!"
    i=$((i + 1))
  done
}
# pg_restore into the temporary database, in the background (exec: its pid is pg_restore's own)
into_tmp() {
  exec "$pg_restore" --exit-on-error -w -h "$thost" -p "$tport" -U "$tuser" --dbname="$tmpdb" $noowner "$@"
}
noowner=""
[ "$roles" -eq 1 ] || noowner="--no-owner --no-acl"
# stream SECTIONS TOC PREFIX: one pass of the dump from borg through tee into pg_restore (SECTIONS: all;
# split for the pre-data, then the data dealt out to --jobs sessions; post for post-data), with the readers
# beside it: the row counter (not for post), the table of contents when TOC is 1 (pg_restore stops reading
# after it), the dump's start kept in a file when PREFIX is 1. tee ignores SIGPIPE: a reader that has what
# it needs stops, the others go on
stream() {
  rm -f "$work/borg.out" "$work/restore.in" "$work/count.in" "$work/toc.in" "$work/prefix.in" "$work"/sink.*
  loadfailed=0
  mkfifo "$work/borg.out" "$work/restore.in" || fail "cannot make fifos in $work"
  sections=$1
  want_toc=$2
  want_prefix=$3
  set --
  if [ "$sections" != post ]; then
    counted=0
    mkfifo "$work/count.in" || fail "cannot make a fifo in $work"
    counter "$work/count.in" "$([ "$sections" = split ] && printf '%s\n' "$jobs" || printf '0\n')"
    set -- "$@" "$work/count.in"
  fi
  if [ "$want_toc" = 1 ]; then
    mkfifo "$work/toc.in" || fail "cannot make a fifo in $work"
    "$pg_restore" --schema-only --create -f "$work/schema.sql" <"$work/toc.in" >/dev/null 2>"$work/schema.err" &
    bg $!
    tocpid=$!
    set -- "$@" "$work/toc.in"
  fi
  if [ "$want_prefix" = 1 ]; then
    mkfifo "$work/prefix.in" || fail "cannot make a fifo in $work"
    head -c "$((tockb * 1024))" <"$work/prefix.in" >"$work/prefix.out" 2>"$work/prefix.err" &
    bg $!
    prefixpid=$!
    set -- "$@" "$work/prefix.in"
  fi
  case $sections in
    all) into_tmp <"$work/restore.in" >/dev/null 2>"$work/restore.err" & ;;
    split) into_tmp --section=pre-data <"$work/restore.in" >/dev/null 2>"$work/restore.err" & ;;
    post) into_tmp --section=post-data <"$work/restore.in" >/dev/null 2>"$work/restore.err" & ;;
  esac
  bg $!
  restorepid=$!
  (
    trap '' PIPE
    exec tee "$@" <"$work/borg.out" >"$work/restore.in" 2>/dev/null
  ) &
  bg $!
  teepid=$!
  "$borg" extract --lock-wait "$lockwait" --stdout "$repo::$archive" "$dumpre" >"$work/borg.out" 2>"$work/borg.err" </dev/null &
  bg $!
  borgpid=$!
}
# the stream's end: pg_restore's status, with borg's own failure named first (a dump missing from the
# archive reaches pg_restore as an empty stream)
stream_end() {
  waitfor "$restorepid"
  rc=$?
  if [ "$rc" -eq 0 ] && [ "$sections" = split ]; then
    # the pre-data is in: the sessions take the data; the first failure is the restore's error (a session
    # that stops ends the dealing, and a dump that ends early ends every session's input)
    sinks
    i=0
    for p in $sinkpids; do
      i=$((i + 1))
      waitfor "$p" && continue
      [ "$rc" -ne 0 ] || sed -e "s/^/session $i of $jobs: /" "$work/sink.$i.err" >"$work/restore.err"
      rc=1
    done
    if [ "$rc" -eq 0 ] && ! waitfor "$countpid"; then
      rc=1
      sed -e 's/^/reading the data of the dump: /' "$work/count.err" >"$work/restore.err"
    fi
    if [ "$rc" -eq 0 ] && ! waitfor "$awkpid"; then
      rc=1
      sed -e 's/^/dealing out the rows of the dump: /' "$work/awk.err" >"$work/restore.err"
    fi
    [ "$rc" -eq 0 ] || loadfailed=1
    counted=1
  fi
  if [ "$rc" -ne 0 ] && [ "$sections" = split ]; then
    kill "$countpid" "$awkpid" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ]; then
    kill "$borgpid" "$teepid" 2>/dev/null || true
  fi
  if ! waitfor "$borgpid"; then
    grep -q 'never matched' "$work/borg.err" 2>/dev/null \
      && fail "archive $archive holds no $format dump $dumppath (borg extract: $(errors "$work/borg.err"))"
    [ "$rc" -ne 0 ] || fail "borg extract --stdout $repository::$archive $dumppath failed: $(errors "$work/borg.err")"
  fi
  # tee's own status says nothing: it is 1 once a reader stopped early (what is lost shows in pg_restore's
  # status and in the count of the dump's rows)
  waitfor "$teepid" || true
  return "$rc"
}

# ------------------------------------------------------------------ phase: roles (from the dump's schema)
# the roles the dump names (owners, grantees) that the target lacks, created NOLOGIN without a password,
# with the memberships the source's roles file holds; the database's owner, grants and settings kept for
# the rename. Sets created_roles
restore_roles() {
  awk '
    function idents(s,   out, q, c, i, cur) {
      cur = ""; q = 0
      for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (c == "\"") q = !q
        if (!q && c == ",") { out = out cur "\n"; cur = ""; if (substr(s, i + 1, 1) == " ") i++; continue }
        cur = cur c
      }
      return out cur "\n"
    }
    function tail(s, word,   i, j) {
      i = 0
      while ((j = index(substr(s, i + 1), word)) > 0) i += j
      return i ? substr(s, i + length(word)) : ""
    }
    { sub(/;$/, "") }
    / OWNER TO / { printf "%s", idents(tail($0, " OWNER TO ")) }
    /^(GRANT|REVOKE|ALTER DEFAULT PRIVILEGES) / {
      s = $0
      if (index(s, " GRANTED BY ")) { printf "%s", idents(tail(s, " GRANTED BY ")); s = substr(s, 1, index(s, " GRANTED BY ") - 1) }
      sub(/ WITH GRANT OPTION$/, "", s)
      if (s ~ /^ALTER DEFAULT PRIVILEGES FOR ROLE /) {
        r = substr(s, 35); i = index(r, " IN SCHEMA "); if (!i) i = index(r, " GRANT "); if (!i) i = index(r, " REVOKE ")
        printf "%s", idents(substr(r, 1, i - 1))
      }
      if (s ~ /(^| )GRANT /) printf "%s", idents(tail(s, " TO "))
      else if (s ~ /(^| )REVOKE /) printf "%s", idents(tail(s, " FROM "))
    }' "$work/schema.sql" | grep -v -x -e '' -e PUBLIC | sort -u >"$work/named"
  owner=$(sed -n -e 's/^ALTER DATABASE .* OWNER TO \(.*\);$/\1/p' "$work/schema.sql" | head -n 1)
  # the database's own grants and settings, as the source had them, for the temporary database
  awk -v name="$database" '
    BEGIN { q = name; gsub(/"/, "\"\"", q); quoted = "\"" q "\""
      plain = (name ~ /^[a-z_][a-z0-9_$]*$/) }
    /^(GRANT|REVOKE) / {
      for (k = 0; k < 2; k++) { w = " ON DATABASE " (k ? quoted : name) " "
        if ((k || plain) && (i = index($0, w))) { print substr($0, 1, i + 12) ":\"tmp\"" substr($0, i + length(w) - 1); next } } }
    /^ALTER DATABASE / {
      for (k = 0; k < 2; k++) { w = "ALTER DATABASE " (k ? quoted : name) " SET "
        if ((k || plain) && index($0, w) == 1) { print "ALTER DATABASE :\"tmp\"" substr($0, length(w) - 4); next } } }
  ' "$work/schema.sql" >"$work/database.sql"
  : >"$work/roles.sql"
  printf '%s\n' "SELECT string_agg(r, E'\n' ORDER BY r) FROM (SELECT DISTINCT (parse_ident(i))[1] AS r
      FROM regexp_split_to_table(:'named', E'\n') AS i WHERE i <> '') n
    WHERE r !~ '^pg_' AND NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r);" \
    | pg "$maint" -v named="$(cat "$work/named")" -f - >"$work/missing" 2>"$work/err" \
    || fail "cannot read the dump's role names against $thost:$tport: $(errors "$work/err")"
  [ -s "$work/missing" ] && [ -n "$(cat "$work/missing")" ] || return 0
  cp "$work/missing" "$work/roles.created"
  # the source's roles file: the memberships of the roles created here. Beside the restore's own borg,
  # which holds the repository's shared lock: a short lock wait, retried at once
  "$borg" extract --lock-wait 30 --stdout "$repo::$archive" "$rolesre" >"$work/roles.sql" 2>"$work/roles.err" </dev/null &
  bg $!
  if ! waitfor $!; then
    grep -q 'never matched' "$work/roles.err" \
      || fail "borg extract $repository::$archive $rolespath failed: $(errors "$work/roles.err")"
    note "archive $archive holds no roles file ($rolespath; archives made before pg-dr stored roles): the roles the dump names are created without their memberships"
  fi
  printf '%s\n' "SELECT format('CREATE ROLE %I NOLOGIN;', r) FROM regexp_split_to_table(:'missing', E'\n') AS r
      WHERE r <> '' \\gexec" \
    "SELECT format('GRANT %I TO %I;', g.m[1], g.m[2]) FROM (SELECT regexp_match(l,
        '^GRANT (\"(?:[^\"]|\"\")+\"|[a-z_][a-z0-9_\$]*) TO (\"(?:[^\"]|\"\")+\"|[a-z_][a-z0-9_\$]*)( WITH .*| GRANTED BY .*)?;\$') AS raw
      FROM regexp_split_to_table(:'rolesfile', E'\n') AS l) x,
      LATERAL (SELECT ARRAY[(parse_ident(x.raw[1]))[1], (parse_ident(x.raw[2]))[1]] AS m) g
      WHERE x.raw IS NOT NULL AND g.m[2] = ANY (string_to_array(:'missing', E'\n'))
        AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = g.m[1]) \\gexec" \
    | pg "$maint" -v missing="$(cat "$work/missing")" -v rolesfile="$(cat "$work/roles.sql")" -f - >/dev/null 2>"$work/err" \
    || fail "cannot create the roles the dump names ($(tr '\n' ' ' <"$work/missing" | sed -e 's/ $//')) on $thost:$tport as $tuser (needs CREATEROLE; or --no-roles): $(errors "$work/err")"
  created_roles=$(cat "$work/missing")
  say "created roles NOLOGIN without password: $(printf '%s\n' "$created_roles" | paste -s -d ' ' -)"
}

# ------------------------------------------------------------------ phase: restore
created_roles=""
owner=""
counted=0
tocpid=""
prefixpid=""
roles_s=0
extract_s=0
restore_start=$(now)
if [ "$how" = file ]; then
  # a directory dump: extracted, its schema read, the roles made, then pg_restore --jobs
  mkdir "$work/x"
  (cd "$work/x" && exec "$borg" extract --lock-wait "$lockwait" "$repo::$archive" "$apath") >/dev/null 2>"$work/borg.err" </dev/null &
  bg $!
  waitfor $! || fail "borg extract $repository::$archive $apath failed: $(errors "$work/borg.err")"
  dumpfile="$work/x/$apath"
  counter "$dumpfile"
  extract_s=$(since "$restore_start")
  if [ "$roles" -eq 1 ]; then
    roles_start=$(now)
    "$pg_restore" --schema-only --create -f "$work/schema.sql" "$dumpfile" >/dev/null 2>"$work/err" &
    bg $!
    waitfor $! || fail "pg_restore cannot read the dump's schema: $(errors "$work/err")"
    restore_roles
    roles_s=$(since "$roles_start")
  fi
  restore_start=$(now)
  into_tmp --jobs="$jobs" "$dumpfile" >/dev/null 2>"$work/restore.err" &
  bg $!
  waitfor $! || fail "pg_restore into $tmpdb failed: $(errors "$work/restore.err")"
else
  # the stream. pg_restore starts at once; the table of contents, read beside it, names the roles the
  # target lacks, created while the restore runs. A role missing at the start fails the first statement
  # that names it: the restore then starts over once, into a new temporary database
  sections=all
  [ "$how" = stream ] || sections=split
  stream "$sections" "$roles" "$([ "$how" = stream-parallel ] && echo 1 || echo 0)"
  if [ "$roles" -eq 1 ]; then
    waitfor "$tocpid" || {
      stream_end || fail "pg_restore cannot read the dump: $(errors "$work/restore.err")"
      fail "pg_restore cannot read the dump's schema: $(errors "$work/schema.err")"
    }
    roles_start=$(now)
    restore_roles
    roles_s=$(since "$roles_start")
  fi
  if ! stream_end; then
    # a role missing fails the pre-data at once; the data's sessions start only after it
    [ -n "$created_roles" ] && [ "$loadfailed" -eq 0 ] || fail "pg_restore into $tmpdb failed: $(errors "$work/restore.err")"
    note "the restore began before the roles it names existed: restarting it into a new temporary database"
    for p in $tocpid $prefixpid $countpid $awkpid; do
      waitfor "$p" 2>/dev/null || true
    done
    drop_tmp || fail "could not drop the temporary database $tmpdb on $thost:$tport: $(errors "$work/drop.err")"
    create_tmp
    stream "$sections" 0 "$([ "$how" = stream-parallel ] && echo 1 || echo 0)"
    stream_end || fail "pg_restore into $tmpdb failed: $(errors "$work/restore.err")"
  fi
  if [ "$how" = stream-parallel ]; then
    # the post-data from the dump's start, with --jobs; a table of contents larger than that start is
    # read from a second stream instead, single-job
    if waitfor "$prefixpid" && "$pg_restore" -l "$work/prefix.out" >/dev/null 2>&1; then
      into_tmp --section=post-data --jobs="$jobs" "$work/prefix.out" >/dev/null 2>"$work/restore.err" &
      bg $!
      waitfor $! || fail "pg_restore into $tmpdb failed: $(errors "$work/restore.err")"
    else
      note "the dump's table of contents is larger than $((tockb / 1024)) MB: its post-data (indexes, constraints, grants) is restored single-job from a second stream"
      stream post 0 0
      stream_end || fail "pg_restore into $tmpdb failed: $(errors "$work/restore.err")"
    fi
  fi
fi
restore_s=$(since "$restore_start")
rm -rf "$work/x" "$work/prefix.out"

# ------------------------------------------------------------------ phases: analyze, and verify beside it
analyze_start=$(now)
printf '%s\n' 'ANALYZE;' >"$work/analyze.sql"
PGCONNECT_TIMEOUT=30 "$psql" -X -q -A -t -w -v ON_ERROR_STOP=1 -h "$thost" -p "$tport" -U "$tuser" -d "$tmpdb" \
  -f - <"$work/analyze.sql" >/dev/null 2>"$work/analyze.err" &
bg $!
analyzepid=$!
verify_start=$(now)
if [ "$counted" -eq 0 ]; then
  waitfor "$countpid" || fail "pg_restore cannot read the dump's data to count it: $(errors "$work/count.err")"
  waitfor "$awkpid" || fail "counting the dump's rows failed: $(errors "$work/awk.err")"
fi
# every table's exact count against what the dump held (and the --min-count minimums); PostgreSQL's own
# parse_ident reads the names as pg_dump quoted them
cat >"$work/verify.sql" <<'EOF'
-- pg-dr-restore: verify
CREATE TEMP TABLE dump_counts AS SELECT (parse_ident(split_part(l, E'\t', 1)))[1] || '.'
    || (parse_ident(split_part(l, E'\t', 1)))[2] AS t, split_part(l, E'\t', 2)::bigint AS n
  FROM regexp_split_to_table(:'dump', E'\n') AS l WHERE l <> '';
CREATE TEMP TABLE mins AS SELECT split_part(l, E'\t', 1) AS t, split_part(l, E'\t', 2)::bigint AS n
  FROM regexp_split_to_table(:'mins', E'\n') AS l WHERE l <> '';
CREATE TEMP TABLE restored AS SELECT format('%s.%s', s.nspname, c.relname) AS t,
    (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', s.nspname, c.relname),
      false, true, '')))[1]::text::bigint AS n
  FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
  WHERE c.relkind = 'r' AND s.nspname NOT IN ('pg_catalog', 'information_schema') AND s.nspname !~ '^pg_';
SELECT 'D' || E'\t' || format('table %s: dump has %s, restored %s', coalesce(d.t, r.t),
    coalesce(d.n::text, 'none'), coalesce(r.n::text, 'none (table missing)'))
  FROM dump_counts d FULL JOIN restored r ON r.t = d.t
  WHERE d.n IS DISTINCT FROM r.n AND NOT (d.t IS NULL AND r.n = 0)
UNION ALL
SELECT 'D' || E'\t' || format('table %s: at least %s expected (--min-count), restored %s', m.t, m.n,
    coalesce(r.n::text, 'none (table missing)'))
  FROM mins m LEFT JOIN restored r ON r.t = m.t WHERE r.n IS NULL OR r.n < m.n
UNION ALL
SELECT 'R' || E'\t' || json_build_object('counts', (SELECT coalesce(json_object_agg(t, n ORDER BY t), '{}') FROM restored),
  'dumpCounts', (SELECT coalesce(json_object_agg(t, n ORDER BY t), '{}') FROM dump_counts))::text;
EOF
pgwait "$work/verify.sql" "$tmpdb" -v dump="$(cat "$work/dumpcounts")" -v mins="$mins" >"$work/verify" 2>"$work/err" \
  || fail "cannot count the rows of $tmpdb: $(errors "$work/err")"
awk -F "$tab" '$1 == "D" { print $2 }' "$work/verify" >"$work/diff"
if [ -s "$work/diff" ]; then
  sed -e 's/^/  /' "$work/diff"
  n=$(wc -l <"$work/diff" | tr -d ' ')
  fail "row counts differ from what the dump held ($n: $(head -n 1 "$work/diff")$([ "$n" -eq 1 ] || printf ', ...'))"
fi
counts=$(awk -F "$tab" '$1 == "R" { print $2 }' "$work/verify")
verify_s=$(since "$verify_start")
waitfor "$analyzepid" || fail "ANALYZE of $tmpdb failed: $(errors "$work/analyze.err")"
analyze_s=$(since "$analyze_start")

# ------------------------------------------------------------------ into place: rename to the target
# until_left SQL WHAT [psql arguments]: the SQL file in the maintenance database, retried for 10 s while
# another session is still leaving the database it drops or renames; else fail with WHAT and the error
until_left() {
  file=$1
  what=$2
  shift 2
  tries=0
  until pgwait "$file" "$maint" "$@" >/dev/null 2>"$work/err"; do
    tries=$((tries + 1))
    [ "$tries" -lt 10 ] && grep -q 'being accessed by other users' "$work/err" || fail "$what: $(errors "$work/err")"
    sleep 1
  done
}
rename_start=$(now)
# the dump's database owner, grants and settings onto the temporary database; whether the target exists
{
  [ -z "$owner" ] || printf '%s\n' "ALTER DATABASE :\"tmp\" OWNER TO $owner;"
  cat "$work/database.sql" 2>/dev/null
  printf '%s\n' "SELECT count(*) FROM pg_database WHERE datname = :'tdb' AND NOT datistemplate;"
} >"$work/owner.sql"
texists=$(pgwait "$work/owner.sql" "$maint" -v tmp="$tmpdb" -v tdb="$tdb" 2>"$work/err") \
  || fail "cannot give $tmpdb the dump's database owner${owner:+ $owner}, grants and settings on $thost:$tport: $(errors "$work/err")"
if [ "$texists" != 0 ]; then
  held=$(occupied) || fail "cannot inspect the target database $tdb on $thost:$tport: $(errors "$work/err")"
  if [ -n "$held" ] && [ "$replace" -eq 0 ]; then
    fail "target database $tdb on $thost:$tport holds $held since the restore began: refusing to restore over it"
  fi
  printf '%s\n' 'DROP DATABASE :"tdb";' >"$work/drop-target.sql"
  until_left "$work/drop-target.sql" "cannot drop the target database $tdb on $thost:$tport to replace it" -v tdb="$tdb"
fi
printf '%s\n' 'ALTER DATABASE :"tmp" RENAME TO :"tdb";' \
  "COMMENT ON DATABASE :\"tdb\" IS $([ -n "$comment" ] && printf '%s' ":'comment'" || printf NULL);" >"$work/rename.sql"
until_left "$work/rename.sql" "cannot rename $tmpdb to $tdb on $thost:$tport" -v tmp="$tmpdb" -v tdb="$tdb" -v comment="$comment"
renamed=1
rename_s=$(since "$rename_start")
total_s=$(since "$started")

# ------------------------------------------------------------------ the result
result=$(printf '%s\n' "SELECT json_build_object('archive', :'archive', 'archiveTime', :'atime', 'repository', :'repository',
    'database', :'database', 'source', :'source', 'dumpPath', :'apath', 'target', :'target',
    'targetDatabase', :'tdb', 'path', :'how', 'jobs', (:'jobs')::int,
    'seconds', json_build_object('prepare', (:'prepare')::numeric, 'extract', (:'extract')::numeric, 'roles', (:'roles')::numeric,
      'restore', (:'restore')::numeric, 'analyze', (:'analyze')::numeric, 'verify', (:'verify')::numeric,
      'rename', (:'rename')::numeric, 'total', (:'total')::numeric),
    'restoreSeconds', round((:'extract')::numeric + (:'restore')::numeric + (:'analyze')::numeric, 3),
    'counts', (:'counts')::json -> 'counts', 'dumpCounts', (:'counts')::json -> 'dumpCounts',
    'rolesCreated', (SELECT coalesce(json_agg(r ORDER BY r), '[]') FROM regexp_split_to_table(:'created', E'\n') AS r WHERE r <> ''),
    'roles', (:'withroles')::boolean);" \
  | pg "$maint" -v archive="$archive" -v atime="$atime" -v repository="$repository" -v database="$database" \
    -v source="$dhost:$dport" -v apath="$apath" -v target="$thost:$tport" -v tdb="$tdb" -v how="$how" \
    -v jobs="$jobs" -v extract="$extract_s" -v roles="$roles_s" -v restore="$restore_s" -v analyze="$analyze_s" \
    -v verify="$verify_s" -v prepare="$prepare_s" -v rename="$rename_s" -v total="$total_s" -v counts="$counts" -v created="$created_roles" \
    -v withroles="$([ "$roles" -eq 1 ] && echo true || echo false)" -f - 2>"$work/err") \
  || result="{\"archive\": \"$archive\", \"targetDatabase\": \"$tdb\"}"
finished=1
say "OK $result"
