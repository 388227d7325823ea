set -u
# pg-dr host check: reads the backup host before anything is delivered; changes nothing but the copies
# it keeps of files it is told to adopt. Fails naming every problem and what to do about it.
failed=0
adopt=@ADOPT@
mark=@MARK@
config=@CONFIG@
own=@OWN_LABEL@
stamp=$(date -u +%Y%m%dT%H%M%SZ)
refuse() {
  printf '%s\n' "pg-dr host check: $*" >&2
  failed=1
}

# a path pg-dr writes ($2, set by config key $1): absent, pg-dr's own (it carries the mark), or not ours
file() {
  [ -e "$2" ] || [ -L "$2" ] || return 0
  if [ -L "$2" ] || [ ! -f "$2" ]; then
    refuse "$1: $2 exists and is not a regular file; pg-dr never replaces it: move it away or point $1 elsewhere"
    return 0
  fi
  if grep -q -F -e "$mark" "$2"; then
    return 0
  fi
  if [ "$adopt" = 1 ]; then
    if cp -p "$2" "$2.pg-dr-adopted-$stamp"; then
      printf '%s\n' "pg-dr: $2 adopted (pg-dr:backup.adoptExisting); the original is kept as $2.pg-dr-adopted-$stamp"
    else
      refuse "$1: could not keep a copy of $2 before adopting it"
    fi
    return 0
  fi
  refuse "$1: $2 exists and was not written by pg-dr (no '$mark' line): refusing to overwrite it. Point $1 at another path, or set pg-dr:backup.adoptExisting: true to take it over (the original is kept as $2.pg-dr-adopted-<UTC time>)"
}

# the words of a LaunchAgent's ProgramArguments / a systemd service's ExecStart, one per line
words_launchd() {
  if command -v plutil >/dev/null 2>&1; then
    plutil -extract ProgramArguments xml1 -o - "$1" 2>/dev/null
  else
    sed -n '/<key>ProgramArguments<\/key>/,/<\/array>/p' "$1"
  fi | sed -n 's:.*<string>\(.*\)</string>.*:\1:p' | tr ' \t' '\n\n' | tr -d "\"'"
}
words_systemd() {
  sed -n 's/^ExecStart=[-@:+!]*//p' "$1" | tr ' \t' '\n\n' | tr -d "\"'"
}
# exit 0: runs borgmatic without naming a config (so every default config, pg-dr's too);
# 1: runs borgmatic with -c/--config; 2: does not run borgmatic
runs_every_config() {
  "words_$1" "$2" | awk '
    found && ($0 == "-c" || $0 == "--config" || $0 ~ /^--config=/ || $0 ~ /^-c./) { named = 1 }
    !found && $0 ~ /(^|\/)borgmatic$/ { found = 1 }
    END { if (!found) exit 2; if (named) exit 1; exit 0 }'
}
agent_path() {
  if [ "$1" = launchd ]; then
    printf '%s\n' "$HOME/Library/LaunchAgents/$2.plist"
  else
    printf '%s\n' "$HOME/.config/systemd/user/$2.service"
  fi
}

# kind existing: the named agent must exist and run borgmatic without --config (then it runs pg-dr's config)
existing_runs_ours() {
  path=$(agent_path "$1" "$2")
  if [ ! -f "$path" ]; then
    refuse "pg-dr:backup.schedule.existingLabel: no $1 agent $2 on $(uname -n) ($path): nothing would run pg-dr's config. Name the agent that runs borgmatic, or set pg-dr:backup.schedule.kind: launchd (or systemd) for pg-dr's own"
    return 0
  fi
  runs_every_config "$1" "$path"
  case $? in
    0) printf '%s\n' "pg-dr: schedule: $2 ($path) runs borgmatic without --config: it runs $config nightly; pg-dr adds no agent" ;;
    1) refuse "pg-dr:backup.schedule.existingLabel: $2 ($path) runs borgmatic with -c/--config, so it never runs $config. Set pg-dr:backup.schedule.kind: launchd (or systemd) for pg-dr's own agent (it runs only pg-dr's config), or drop --config from that agent" ;;
    *) refuse "pg-dr:backup.schedule.existingLabel: $2 ($path) does not run borgmatic" ;;
  esac
}

# pg-dr's own agent: no other agent may already run borgmatic without --config (it would run ours too)
no_agent_runs_ours() {
  for path in "$HOME"/Library/LaunchAgents/*.plist "$HOME"/.config/systemd/user/*.service; do
    [ -f "$path" ] || continue
    case $path in
      */"$own".plist | */"$own".service) continue ;;
      *.plist) kind=launchd ;;
      *) kind=systemd ;;
    esac
    label=$(basename "$path")
    label=${label%.*}
    runs_every_config "$kind" "$path"
    if [ $? -eq 0 ]; then
      refuse "pg-dr:backup.schedule.kind: $label ($path) already runs borgmatic without --config, which runs every config in borgmatic's directories, $config too: a second agent would back it up twice a night. Set pg-dr:backup.schedule.kind: existing with existingLabel: $label"
    fi
  done
}

# kind launchd/systemd with existingLabel: the host's other agent must run its own config only
existing_runs_its_own() {
  path=$(agent_path "$1" "$2")
  if [ ! -f "$path" ]; then
    refuse "pg-dr:backup.schedule.existingLabel: no $1 agent $2 on $(uname -n) ($path); remove existingLabel if the host has no other borgmatic agent"
    return 0
  fi
  runs_every_config "$1" "$path"
  case $? in
    1) printf '%s\n' "pg-dr: schedule: $2 ($path) runs its own --config; pg-dr's agent $own runs only $config" ;;
    0) ;;  # reported by no_agent_runs_ours
    *) refuse "pg-dr:backup.schedule.existingLabel: $2 ($path) does not run borgmatic" ;;
  esac
}

# pg-dr's archive names apart from every other writer's (components/borgmatic/archives.py). borgmatic's
# default names are <host>-<time> (Borg's {hostname}: the node name up to its first dot), matched by
# sh:<host>-*: refused when that overlaps pg-dr's prefix in either direction.
archive_head=@ARCHIVE_HEAD@
archive_prefix=@ARCHIVE_PREFIX@
archive_ere=@ARCHIVE_ERE@
names_apart() {
  host=$(uname -n)
  host=${host%%.*}
  case $archive_head in
    "$host"-*) refuse "pg-dr:backup.archiveNameFormat: pg-dr's archive names start with '$archive_head', which sh:$host-* (the match of a borgmatic config with the default names on $host) also matches: its prune would delete pg-dr's archives. Choose an archiveNameFormat that does not start with '$host-'" ;;
  esac
  case $host- in
    "$archive_prefix"*) refuse "pg-dr:backup.matchArchives: sh:$archive_prefix* matches $host-<time>, the names a borgmatic config with the default names writes on $host: pg-dr's prune would delete them. Choose a longer prefix (archiveNameFormat and matchArchives) that '$host-' does not start with" ;;
  esac
}
# the archives already in repository $1 that pg-dr's pattern matches: one its format cannot produce is
# another writer's, and pg-dr's prune would delete it. Read-only (borg list); skipped with a note when the
# repository cannot be read now (locked by a run, passphrase not available, not reachable).
names_in() {
  if ! out=$(@BORG_ENV@ @BORG@ list --short --lock-wait 5 --glob-archives "$archive_prefix*" "$1" </dev/null 2>&1); then
    printf '%s\n' "pg-dr host check: note: the archives of $1 were not checked (borg list failed: $(printf '%s\n' "$out" | tail -n 1))"
    return 0
  fi
  foreign=$(printf '%s\n' "$out" | grep -v -E -e "$archive_ere" | grep -v -e '^$' | head -n 3 | tr '\n' ' ')
  if [ -n "$foreign" ]; then
    refuse "pg-dr:backup.matchArchives: repository $1 holds archives that sh:$archive_prefix* matches but pg-dr's archiveNameFormat cannot produce (another writer's; pg-dr's prune would delete them): $foreign. Choose another prefix (archiveNameFormat and matchArchives)"
  fi
}

@FILES@
@SCHEDULE@
names_apart
@ARCHIVES@
if [ "$failed" -ne 0 ]; then
  printf '%s\n' "pg-dr host check: nothing was changed on $(uname -n)" >&2
  exit 1
fi
printf '%s\n' "pg-dr host check: ok"
