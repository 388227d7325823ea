"""The borgmatic settings the RTO benchmark tries (see bench/rto.py and bench/results.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    name: str
    dump_format: str = "custom"  # borgmatic postgresql_databases[].format
    dump_compression: str | None = None  # ...[].compression (pg_dump --compress); None = pg_dump's default
    dump_options: str | None = None  # ...[].options (extra pg_dump flags)
    restore_options: str | None = None  # ...[].restore_options (extra pg_restore flags)
    borg_compression: str = "lz4"  # borgmatic top-level compression (borg --compression)
    label: str | None = None  # ...[].label (replaces host:port in the dump path)

    def describe(self) -> str:
        dump = f"format {self.dump_format}, pg_dump --compress {self.dump_compression or 'default (gzip:6)'}"
        if self.dump_options:
            dump += f", pg_dump {self.dump_options}"
        if self.restore_options:
            dump += f", pg_restore {self.restore_options}"
        label = f"; label {self.label}" if self.label else ""
        return f"{dump}; borg compression {self.borg_compression}{label}"


VARIANTS = {
    v.name: v
    for v in (
        Variant("custom-gzip6-borg-lz4"),
        Variant("custom-gzip6-borg-none", borg_compression="none"),
        Variant("custom-gzip1-borg-none", dump_compression="1", borg_compression="none"),
        Variant("custom-gzip1-borg-lz4", dump_compression="1", borg_compression="lz4"),
        Variant("custom-raw-borg-lz4", dump_compression="0", borg_compression="lz4"),
        Variant("custom-raw-borg-zstd3", dump_compression="0", borg_compression="zstd,3"),
        Variant(
            "directory-gzip6-j2-borg-none",
            dump_format="directory",
            dump_options="--jobs 2",
            restore_options="--jobs 2",
            borg_compression="none",
            label="brew",
        ),
        Variant(
            "directory-raw-j2-borg-zstd3",
            dump_format="directory",
            dump_compression="0",
            dump_options="--jobs 2",
            restore_options="--jobs 2",
            borg_compression="zstd,3",
            label="brew",
        ),
        Variant(
            "directory-raw-j2-borg-lz4",
            dump_format="directory",
            dump_compression="0",
            dump_options="--jobs 2",
            restore_options="--jobs 2",
            borg_compression="lz4",
            label="brew",
        ),
    )
}

# What pg-dr renders by default (components/config_backup.py: DEFAULT_DUMP_FORMAT, DEFAULT_DUMP_COMPRESSION,
# DEFAULT_RESTORE_JOBS, BackupConfig.compression), chosen from bench/results.md.
DEFAULT_VARIANT = "custom-raw-borg-zstd3"
