"""Default signal actions for a process a test signals, as sshd or launchd would start it.

A shell cannot trap a signal that was ignored when it started, and the test runner's own parent decides
what is ignored: a CI runner's background job (``cmd &``) ignores SIGINT and SIGQUIT, ``nohup make test``
ignores SIGHUP. Without this, a script's HUP or INT trap is never run and a signal test hangs. Pass it as
``subprocess.Popen(..., preexec_fn=default_signals)``.
"""

from __future__ import annotations

import signal


def default_signals() -> None:
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
