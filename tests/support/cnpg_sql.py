"""The SQL CloudNativePG's role reconciler executes for a managed role, reproduced for real-server tests.

For a role in ``spec.managed.roles`` that does not exist yet, the CNPG instance manager (1.30,
``internal/management/controller/roles``) runs one ``CREATE ROLE`` that spells out every attribute
(``NO...`` for the false ones), always ``CONNECTION LIMIT <n>``, the memberships as ``IN ROLE``, and the
password from the role's basic-auth Secret. A statement that carries a password runs in its own
transaction with ``SET LOCAL log_min_error_statement = 'PANIC'`` so a failure never logs the password.
A ``COMMENT ON ROLE`` follows only when the role has a comment. This module writes those statements from
the same inputs (our own code, shaped after the operator's behaviour).
"""

from __future__ import annotations

from collections.abc import Sequence

from tests.support.postgres import quote_ident, quote_literal


def managed_role_sql(
    name: str,
    *,
    password: str | None,
    login: bool = False,
    superuser: bool = False,
    createdb: bool = False,
    createrole: bool = False,
    inherit: bool = True,
    replication: bool = False,
    bypassrls: bool = False,
    connection_limit: int = -1,
    in_roles: Sequence[str] = (),
    comment: str = "",
) -> str:
    """The statements CNPG runs to create the managed role, as one SQL script."""
    flags = [
        "BYPASSRLS" if bypassrls else "NOBYPASSRLS",
        "CREATEDB" if createdb else "NOCREATEDB",
        "CREATEROLE" if createrole else "NOCREATEROLE",
        "INHERIT" if inherit else "NOINHERIT",
        "LOGIN" if login else "NOLOGIN",
        "REPLICATION" if replication else "NOREPLICATION",
        "SUPERUSER" if superuser else "NOSUPERUSER",
        f"CONNECTION LIMIT {connection_limit}",
    ]
    create = f"CREATE ROLE {quote_ident(name)} " + " ".join(flags)
    if in_roles:
        create += " IN ROLE " + ",".join(quote_ident(r) for r in in_roles)
    if password is None:
        script = create + " PASSWORD NULL;\n"
    else:
        script = (
            "BEGIN;\nSET LOCAL log_min_error_statement = 'PANIC';\n"
            + f"{create} PASSWORD {quote_literal(password)};\nCOMMIT;\n"
        )
    if comment:
        script += f"COMMENT ON ROLE {quote_ident(name)} IS {quote_literal(comment)};\n"
    return script


def borgmatic_role_sql(password: str, name: str = "borgmatic") -> str:
    """The runbook's role: ``login: true, connectionLimit: -1, ensure: present, inherit: true,
    inRoles: [pg_read_all_data]`` with its password Secret."""
    return managed_role_sql(
        name, password=password, login=True, inherit=True, connection_limit=-1, in_roles=["pg_read_all_data"]
    )
