"""Commands on a remote host (pulumi-command ``remote.Command``), made the one way pg-dr makes them.

* The connection names its user always (the provider's default is root) and pins the host key.
* A command whose stdin carries a secret logs nothing (``logging=NONE``) and keeps ``stdin`` secret in
  the state; nothing secret is ever in a command string (the provider prints those in errors).
* A delivered file's command carries ``triggers = [path, sha256(content)]``: unchanged content runs
  nothing; changed content replaces the command (create the new one, then delete the old one).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import pulumi
from pulumi_command import remote

from components.remote import delivery
from components.remote.shell import sh_command


def digest(text: str) -> str:
    """The trigger that stands for a file's content."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def connection_args(
    host: str, port: int, user: str, host_key: str | None, private_key: pulumi.Input[str] | None
) -> remote.ConnectionArgs:
    return remote.ConnectionArgs(
        host=host,
        port=port,
        user=user,  # always explicit: the provider's default is root
        host_key=host_key,  # None only with insecureIgnoreHostKey (config refuses otherwise)
        private_key=private_key,
    )


class RemoteCommands:
    """Makes the ``remote.Command`` children of one component: ``<prefix>-<suffix>``, parented to it."""

    def __init__(self, parent: pulumi.Resource, prefix: str, connection: remote.ConnectionArgs):
        self.parent = parent
        self.prefix = prefix
        self.connection = connection

    def command(
        self,
        suffix: str,
        script: str,
        *,
        depends_on: Sequence[pulumi.Resource],
        delete: str | None = None,
        update: str | None = None,
        stdin: pulumi.Input[str] | None = None,
        triggers: Sequence[Any] | None = None,
        secret: bool = False,
    ) -> remote.Command:
        """A command running ``script`` under /bin/sh; ``secret``: its stdin is a secret (nothing is logged).

        Without ``update``, the provider runs ``script`` again whenever an input other than ``triggers``
        changes (an in-place update); ``update`` runs instead.
        """
        return remote.Command(
            f"{self.prefix}-{suffix}",
            connection=self.connection,
            create=sh_command(script),
            delete=sh_command(delete) if delete else None,
            update=sh_command(update) if update else None,
            stdin=stdin,
            triggers=list(triggers) if triggers is not None else None,
            add_previous_output_in_env=False,
            logging=remote.Logging.NONE if secret else remote.Logging.STDOUT_AND_STDERR,
            opts=pulumi.ResourceOptions(
                parent=self.parent,
                depends_on=list(depends_on),
                additional_secret_outputs=["stdin"] if secret else None,
            ),
        )

    def file(
        self,
        suffix: str,
        path: str,
        text: str,
        *,
        depends_on: Sequence[pulumi.Resource],
        mode: str = "600",
        after_change: str = "",
        always: str = "",
        before_remove: str = "",
        after_remove: str = "",
    ) -> remote.Command:
        """Deliver ``text`` to ``path`` (``mode``, 0600 unless told) atomically; removing the resource moves
        the file aside."""
        return self.command(
            suffix,
            delivery.deliver_file(path, mode, after_change=after_change, always=always, text=text),
            delete=delivery.remove_file(path, before_remove=before_remove, after_remove=after_remove, text=text),
            stdin=text,
            triggers=[path, digest(text)],
            depends_on=depends_on,
        )

    def secret_file(
        self,
        suffix: str,
        path: str,
        text: pulumi.Output[str],
        *,
        depends_on: Sequence[pulumi.Resource],
        mode: str = "600",
    ) -> remote.Command:
        """Deliver the secret ``text`` to ``path`` like :meth:`file`: on stdin behind its length-and-digest
        header (:func:`delivery.frame`), nothing of it in the script, nothing logged."""
        secret = pulumi.Output.secret(text)
        return self.command(
            suffix,
            delivery.deliver_file(path, mode, text=None),
            delete=delivery.remove_file(path, text=None),
            stdin=pulumi.Output.secret(secret.apply(delivery.frame)),
            triggers=[path, pulumi.Output.secret(secret.apply(digest))],
            depends_on=depends_on,
            secret=True,
        )

    def pgpass_block(
        self,
        suffix: str,
        path: str,
        block: pulumi.Output[str],
        begin: str,
        end: str,
        *,
        depends_on: Sequence[pulumi.Resource],
    ) -> remote.Command:
        """Splice the secret ``block`` into the pgpass file at ``path``; removing the resource takes it out.

        The stdin is the block behind its length-and-digest header (:func:`delivery.frame`).
        """
        return self.command(
            suffix,
            delivery.deliver_pgpass(path, begin, end),
            delete=delivery.remove_pgpass(path, begin, end),
            stdin=pulumi.Output.secret(block.apply(delivery.frame)),
            triggers=[path, pulumi.Output.secret(block.apply(digest))],
            depends_on=depends_on,
            secret=True,
        )
