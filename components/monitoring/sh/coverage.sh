# coverage: every database on each backed-up server (minus templates and postgres), read as the backup
# role, must be in pg-dr:backup.databases; one that is not is reported (a warning, not a failure):
# "@UNCOVERED_PREFIX@host:port/name" on stdout, counted in $uncovered; $unlisted counts the servers that
# could not be read. The includer defines run_psql (psql with a connect timeout and the pgpass file).
uncovered=0
unlisted=0
coverage() {
  if ! names=$(run_psql -X -w -At -h "$1" -p "$2" -U "$3" -d "$4" \
      -c "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres' ORDER BY 1" 2>&1); then
    printf '%s\n' "pg-dr: warning: could not list the databases on $1:$2 as $3: $(printf '%s\n' "$names" | tail -n 1)" >&2
    unlisted=$((unlisted + 1))
    return 0
  fi
  for name in $names; do
    case " $5 " in
      *" $name "*) ;;
      *)
        uncovered=$((uncovered + 1))
        printf '%s\n' "@UNCOVERED_PREFIX@$1:$2/$name"
        printf '%s\n' "pg-dr: warning: database $name on $1:$2 is not backed up (not in pg-dr:backup.databases)" >&2 ;;
    esac
  done
}
