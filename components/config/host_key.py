"""``pg-dr:backup.hostKey``: an SSH host public key as ``ssh-keyscan`` prints it, checked inside.

The line is ``<type> <base64 blob> [comment]``. The blob is the SSH wire encoding (RFC 4253 6.6,
RFC 5656 3.1, RFC 8709 4): length-prefixed strings starting with the key type again. A pasted key that
is truncated, of another type than its prefix says, or a ``known_hosts`` line with the host name first
is refused here rather than by the SSH handshake of the first ``pulumi up``. A well-formed ``ssh-rsa``
key is refused too, by :func:`rsa_pin_problem` (pulumi-command pins the handshake to the pinned key's
type, and for RSA that is the SHA-1 ``ssh-rsa`` signature, which OpenSSH 8.8 and later refuse).
"""

from __future__ import annotations

import base64
import binascii

# Public key length of each ECDSA curve (uncompressed point: 0x04 || X || Y).
_ECDSA_POINT = {"nistp256": 65, "nistp384": 97, "nistp521": 133}
KEY_TYPES = ("ssh-ed25519", "ssh-rsa", *(f"ecdsa-sha2-{curve}" for curve in _ECDSA_POINT))
_MIN_RSA_BITS = 1024  # OpenSSH refuses shorter RSA keys


def _ssh_strings(blob: bytes) -> list[bytes]:
    """Split the wire encoding into its length-prefixed strings; ValueError when it does not add up."""
    fields: list[bytes] = []
    at = 0
    while at < len(blob):
        if at + 4 > len(blob):
            raise ValueError("truncated")
        size = int.from_bytes(blob[at : at + 4], "big")
        at += 4
        if at + size > len(blob):
            raise ValueError("truncated")
        fields.append(blob[at : at + size])
        at += size
    return fields


def check_host_key(value: str) -> str:
    parts = value.split()
    usage = "must be a public key line like 'ssh-ed25519 AAAA...' (ssh-keyscan -t ed25519 <host>)"
    if len(parts) >= 3 and parts[1] in KEY_TYPES:
        raise ValueError(f"{usage}: drop the host name {parts[0]!r} in front of the key type")
    if len(parts) < 2:
        raise ValueError(usage)
    kind, encoded = parts[0], parts[1]
    if kind not in KEY_TYPES:
        raise ValueError(f"{usage}: key type {kind!r} is not one of {', '.join(KEY_TYPES)}")
    try:
        fields = _ssh_strings(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        raise ValueError(f"the {kind} key is not complete base64 of an SSH key (truncated when pasted?)") from None
    if not fields or fields[0] != kind.encode():
        inner = fields[0].decode("ascii", "replace") if fields else "nothing"
        raise ValueError(f"the key says {kind!r} but its data holds a {inner!r} key")
    problem = _key_problem(kind, fields[1:])
    if problem:
        raise ValueError(f"the {kind} key is malformed: {problem}")
    return value


def _key_problem(kind: str, fields: list[bytes]) -> str | None:
    if kind == "ssh-ed25519":
        if len(fields) != 1 or len(fields[0]) != 32:
            return f"an Ed25519 key is 32 bytes, this one is {len(fields[0]) if len(fields) == 1 else '?'}"
        return None
    if kind == "ssh-rsa":
        if len(fields) != 2:
            return "an RSA key holds an exponent and a modulus"
        bits = int.from_bytes(fields[1], "big").bit_length()
        if bits < _MIN_RSA_BITS:
            return f"a {bits}-bit modulus (at least {_MIN_RSA_BITS})"
        return None
    curve = kind.removeprefix("ecdsa-sha2-")
    if len(fields) != 2 or fields[0] != curve.encode():
        return f"the curve is not {curve}"
    if len(fields[1]) != _ECDSA_POINT[curve] or fields[1][:1] != b"\x04":
        return f"a {curve} public point is {_ECDSA_POINT[curve]} bytes starting 0x04"
    return None


def rsa_pin_problem(host: str) -> str:
    """Why an ``ssh-rsa`` pin cannot work, and the command that prints the key to pin instead."""
    return (
        "an ssh-rsa pin makes pulumi-command offer only the SHA-1 ssh-rsa signature, which OpenSSH 8.8 and later "
        f'refuse ("no common algorithm"): pin the host\'s ed25519 key, `ssh-keyscan -t ed25519 {host}` prints it'
    )
