"""The shell scripts pg-dr runs on the backup host through pulumi-command ``remote.Command``.

Every command string is ``/bin/sh -c '<script>'`` (``sh_command``), so it behaves the same under any
login shell (zsh on macOS, bash, sh). Scripts are POSIX sh plus tools macOS and Debian both ship
(``mktemp``, ``cmp``, ``grep -c -x``, ``head``/``tail``, ``sed -n``). They carry paths and labels only:
file contents, and so every secret, arrive on stdin, never in a command string or the environment.

Delivery (``deliver_file`` / ``deliver_pgpass``) is atomic: content is written to a temp file in the
target's directory, compared with what is there (identical: nothing changes), the current file is
copied to ``<file>.pg-dr-previous``, and the temp file is renamed over the target with its mode set.
Removal (``remove_file`` / ``remove_pgpass``) never deletes data: it receives the content this
resource delivered on stdin (the provider replays the stored stdin on delete) and acts only if the
file still holds exactly that, so the old resource's delete after a replacement (Pulumi creates the
new one first) leaves the new version alone. A removed file is moved to
``<file>.pg-dr-removed-<UTC time>``; a removed pgpass block leaves the user's lines and the previous
file beside.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from components.borgmatic.plan import PGPASS_BEGIN, PGPASS_END, ExpectedDump

PREVIOUS_SUFFIX = ".pg-dr-previous"
REMOVED_SUFFIX = ".pg-dr-removed-"
VERSION_PREFIX = "pg-dr-version "
DUMP_PREFIX = "pg-dr-dump "


def q(word: str) -> str:
    return shlex.quote(word)


def sh_command(script: str) -> str:
    """The command string the provider sends: the script run by /bin/sh whatever the login shell."""
    return "/bin/sh -c " + q(script.strip() + "\n")


# --------------------------------------------------------------------------------------- shared parts
_INSTALL = r"""
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
"""

_PRELUDE = """set -eu
umask 077
target={target}
mode={mode}
dir=$(dirname "$target")
mkdir -p "$dir"
tmp=$(mktemp "$dir/.pg-dr.XXXXXXXX")
trap 'rm -f "$tmp" "$tmp.prev" "$tmp.in" "$tmp.cur"' EXIT
"""


def _prelude(target: str, mode: str) -> str:
    return _PRELUDE.format(target=q(target), mode=q(mode)) + _INSTALL


# ------------------------------------------------------------------------------------------ files
def deliver_file(target: str, mode: str = "600", after_change: str = "", always: str = "") -> str:
    """Write stdin to ``target`` atomically; ``after_change`` runs when it changed, ``always`` every time."""
    return (
        _prelude(target, mode)
        + 'cat > "$tmp"\ninstall_tmp\n'
        + (f'if [ "$state" != unchanged ]; then\n{after_change.strip()}\nfi\n' if after_change.strip() else "")
        + (always.strip() + "\n" if always.strip() else "")
        + 'echo "pg-dr: $target $state"\n'
    )


def remove_file(target: str, before_remove: str = "", after_remove: str = "") -> str:
    """Move ``target`` aside if it still holds exactly stdin (what this resource delivered); never delete."""
    return f"""set -eu
umask 077
target={q(target)}
if [ ! -e "$target" ]; then
  echo "pg-dr: $target is already gone"
  exit 0
fi
in=$(mktemp "${{TMPDIR:-/tmp}}/pg-dr.XXXXXXXX")
trap 'rm -f "$in"' EXIT
cat > "$in"
if ! cmp -s "$in" "$target"; then
  echo "pg-dr: $target holds another version (a replacement wrote it); left in place"
  exit 0
fi
{before_remove.strip()}
aside="$target.pg-dr-removed-$(date -u +%Y%m%dT%H%M%SZ)"
mv -f "$target" "$aside"
{after_remove.strip()}
echo "pg-dr: $target moved to $aside"
"""


# ------------------------------------------------------------------------------------------ pgpass
_PGPASS_BLOCK = """
# locate the managed block: b and e are its first and last line numbers (0 when absent)
find_block() {
  b=0; e=0
  [ -f "$target" ] || return 0
  nb=$(grep -c -x -F -e "$begin" "$target" || true)
  ne=$(grep -c -x -F -e "$end" "$target" || true)
  if [ "$nb" -eq 0 ] && [ "$ne" -eq 0 ]; then
    return 0
  fi
  if [ "$nb" -ne 1 ] || [ "$ne" -ne 1 ]; then
    echo "pg-dr: $target has a malformed pg-dr block ($nb BEGIN, $ne END lines); fix it by hand" >&2
    exit 1
  fi
  b=$(grep -n -x -F -e "$begin" "$target" | cut -d: -f1)
  e=$(grep -n -x -F -e "$end" "$target" | cut -d: -f1)
  if [ "$b" -gt "$e" ]; then
    echo "pg-dr: $target has '$end' before '$begin'; fix it by hand" >&2
    exit 1
  fi
}
# write to "$tmp": the lines before the block, then file "$1" (may be empty), then the lines after it
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
  } > "$tmp"
}
"""


def _pgpass_markers(begin: str, end: str) -> str:
    return f"begin={q(begin)}\nend={q(end)}\n"


def _pgpass_script(target: str, begin: str, end: str, body: str) -> str:
    """A pgpass script: the block on stdin is read and the current block located before ``body`` runs."""
    return (
        _prelude(target, "600") + _pgpass_markers(begin, end) + _PGPASS_BLOCK + 'cat > "$tmp.in"\nfind_block\n' + body
    )


def deliver_pgpass(target: str, begin: str = PGPASS_BEGIN, end: str = PGPASS_END) -> str:
    """Splice the block on stdin into the pgpass file (replacing ours, keeping the user's lines), mode 0600.

    ``begin``/``end`` name the block's marker lines (the restore drill keeps its own block).
    """
    return _pgpass_script(
        target,
        begin,
        end,
        """splice "$tmp.in"
install_tmp
echo "pg-dr: $target $state"
""",
    )


def remove_pgpass(target: str, begin: str = PGPASS_BEGIN, end: str = PGPASS_END) -> str:
    """Take our block out if it is still exactly the one on stdin; the user's lines and the previous file stay."""
    return _pgpass_script(
        target,
        begin,
        end,
        """if [ "$b" -eq 0 ]; then
  echo "pg-dr: $target has no pg-dr block"
  exit 0
fi
sed -n "${b},${e}p" "$target" > "$tmp.cur"
if ! cmp -s "$tmp.in" "$tmp.cur"; then
  echo "pg-dr: the pg-dr block of $target holds another version (a replacement wrote it); left in place"
  exit 0
fi
: > "$tmp.cur"
splice "$tmp.cur"
install_tmp
echo "pg-dr: removed the pg-dr block from $target ($state; previous file kept beside it)"
""",
    )


# ------------------------------------------------------------------------------------------ schedule
def launchd_reload(launchctl: str, label: str, plist: str) -> tuple[str, str]:
    """(after a change: bootout the old job; always: bootstrap it if it is not loaded)."""
    service = f'"gui/$(id -u)"/{q(label)}'
    after_change = f"{q(launchctl)} bootout {service} >/dev/null 2>&1 || true"
    always = f"""if ! {q(launchctl)} print {service} >/dev/null 2>&1; then
  {q(launchctl)} bootstrap "gui/$(id -u)" {q(plist)}
  echo "pg-dr: launchd job {label} loaded"
fi"""
    return after_change, always


def launchd_unload(launchctl: str, label: str) -> str:
    return f'{q(launchctl)} bootout "gui/$(id -u)"/{q(label)} >/dev/null 2>&1 || true'


def systemd_user(systemctl: str, *args: str) -> str:
    runtime = 'XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}"'
    return f"{runtime} {q(systemctl)} --user " + " ".join(q(a) for a in args)


# ------------------------------------------------------------------------------------------ preflight
def preflight(binaries: Sequence[tuple[str, str, str]]) -> str:
    """Fail naming every configured path that is not an executable file (or does not run); print versions.

    ``binaries``: ``(name, absolute path, config key)``. Each tool but the schedulers must answer
    ``--version``: a file that exists but cannot run (a broken interpreter line, a foreign binary) fails
    here too.
    """
    checks = "\n".join(f"check {q(key)} {q(path)}" for _, path, key in binaries)
    versions = "\n".join(
        f"version {q(name)} {q(key)} {q(path)}"
        for name, path, key in binaries
        if name not in ("launchctl", "systemctl")
    )
    return f"""set -u
failed=0
check() {{
  if [ -f "$2" ] && [ -x "$2" ]; then
    return 0
  fi
  echo "pg-dr preflight: $1: $2 is not an executable file on $(uname -n) (user $(id -un))" >&2
  failed=1
}}
version() {{
  if out=$("$3" --version 2>&1); then
    echo "{VERSION_PREFIX}$1=$(printf '%s\\n' "$out" | head -n 1)"
  else
    echo "pg-dr preflight: $2: $3 --version failed: $(printf '%s\\n' "$out" | head -n 1)" >&2
    failed=1
  fi
}}
{checks}
if [ "$failed" -ne 0 ]; then
  exit 1
fi
{versions}
exit "$failed"
"""


def parse_versions(stdout: str) -> dict[str, str]:
    versions: dict[str, str] = {}
    for line in (stdout or "").splitlines():
        if line.startswith(VERSION_PREFIX) and "=" in line:
            name, _, value = line[len(VERSION_PREFIX) :].partition("=")
            versions[name] = value.strip()
    return versions


# ------------------------------------------------------------------------------------------ verify
def _ere(text: str) -> str:
    """``text`` as a literal in a POSIX extended regular expression."""
    return "".join(f"[{c}]" if c in ".*+?(){}|^$" else ("\\" + c if c in "[]\\" else c) for c in text)


def dump_pattern(dump: ExpectedDump, directory: bool) -> str:
    """An ERE matching the dump's line in ``borg list --json-lines`` (borg writes the keys in a fixed order).

    A file dump (custom, tar, plain) must be a regular file with a non-zero size; a directory-format dump
    is a directory entry. The path may carry the runtime directory in front (Borg < 1.4).
    """
    path = '"path": "([^"]*/)?' + _ere(dump.path) + '"'
    if directory:
        return '^[{]"type": "d", .*' + path
    return '^[{]"type": "-", .*' + path + ', .*"size": [1-9]'


_VERIFY = r"""set -u
config=@CONFIG@
bm() {
  /usr/bin/env -i HOME=@HOME@ USER="$(id -un)" LOGNAME="$(id -un)" PATH=/usr/bin:/bin:/usr/sbin:/sbin @ENV@ \
    @BORGMATIC@ "$@" -c "$config"
}
work=$(mktemp -d "${TMPDIR:-/tmp}/pg-dr-verify.XXXXXXXX")
trap 'rm -rf "$work"' EXIT
if ! bm config validate; then
  echo "pg-dr verify: borgmatic config validate failed for $config" >&2
  exit 1
fi
if ! bm create; then
  echo "pg-dr verify: borgmatic create failed for $config" >&2
  exit 1
fi
list() {
  if ! bm list --repository "$2" --archive latest --json > "$work/$1.list"; then
    echo "pg-dr verify: borgmatic list --repository $2 --archive latest failed" >&2
    exit 1
  fi
}
missing=""
check_dump() {
  line=$(grep -E -e "$5" "$work/$1.list" | head -n 1)
  if [ -z "$line" ]; then
    missing="$missing
  $3: no $4 in the latest archive of repository $2"
    return 0
  fi
  echo "@DUMP_PREFIX@$2 $(printf '%s\n' "$line" | sed -e 's/.*"path": "\([^"]*\)".*/\1/')"
}
@CHECKS@
if [ -n "$missing" ]; then
  echo "pg-dr verify: dumps missing:$missing" >&2
  exit 1
fi
"""


def verify(
    borgmatic: str,
    config_path: str,
    home: str,
    repositories: Sequence[str],
    dumps: Sequence[tuple[ExpectedDump, bool]],
    env: dict[str, str],
) -> str:
    """Validate the config, run a backup, and check every repository's latest archive holds every dump.

    ``repositories`` are labels; ``dumps`` pairs each expected dump with whether it is a directory dump.
    borgmatic runs with the bare PATH of a LaunchAgent (``/usr/bin:/bin:/usr/sbin:/sbin``), so a binary
    not configured by absolute path fails here, not at 2 a.m.
    """
    lines = []
    for i, repo in enumerate(repositories):
        lines.append(f"list {i} {q(repo)}")
        lines += [
            f"check_dump {i} {q(repo)} {q(dump.database)} {q(dump.path)} {q(dump_pattern(dump, directory))}"
            for dump, directory in dumps
        ]
    replacements = {
        "@CONFIG@": q(config_path),
        "@HOME@": q(home),
        "@ENV@": " ".join(f"{k}={q(v)}" for k, v in sorted(env.items())),
        "@BORGMATIC@": q(borgmatic),
        "@DUMP_PREFIX@": DUMP_PREFIX,
        "@CHECKS@": "\n".join(lines),
    }
    script = _VERIFY
    for key, value in replacements.items():
        script = script.replace(key, value)
    return script


def parse_dumps(stdout: str) -> list[str]:
    """``<repository label> <archive path>`` of every verified dump."""
    return [line[len(DUMP_PREFIX) :] for line in (stdout or "").splitlines() if line.startswith(DUMP_PREFIX)]
