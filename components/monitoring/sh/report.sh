#!/bin/sh
# Managed by pg-dr (pg-dr:backup.metrics, pg-dr:drill.schedule): edit the stack config, not this file.
# pg-dr-report: what borgmatic's command hooks run for pg-dr's config (components/monitoring).
#   pg-dr-report lock PID      take the run lock for borgmatic's process PID (wait, bounded)
#   pg-dr-report unlock PID    release it
#   pg-dr-report backup-ok LABELS...   the last successful backup of each database (its metric labels) is now
#   pg-dr-report metric NAME LABELS VALUE   set one metric (the verification at up)
set -u
PATH=@BARE_PATH@
export PATH
@LIB@
case ${1:-} in
  lock) lock_take "$2" "backup" ;;
  unlock) lock_release "$2" ;;
  backup-ok)
    now=$(date +%s)
    shift
    for labels in "$@"; do
      metric pgdr_backup_last_success_timestamp_seconds "$labels" "$now"
    done ;;
  metric) metric "$2" "$3" "$4" ;;
  *)
    echo "usage: pg-dr-report lock PID | unlock PID | backup-ok LABELS... | metric NAME LABELS VALUE" >&2
    exit 2 ;;
esac
