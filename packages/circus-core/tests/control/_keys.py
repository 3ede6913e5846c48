"""CURVE key files for tests, in the format ``circusctl keygen`` writes."""

from __future__ import annotations

from pathlib import Path

import zmq


def write_key(directory: Path, name: str, role: str | None = None) -> tuple[bytes, bytes]:
    """A key pair: NAME.key (with ``role`` in its metadata) and NAME.key_secret."""
    public, secret = zmq.curve_keypair()
    directory.mkdir(parents=True, exist_ok=True)
    meta = f'    role = "{role}"\n' if role else ""
    (directory / f"{name}.key").write_text(
        f'metadata\n{meta}curve\n    public-key = "{public.decode()}"\n')
    secret_file = directory / f"{name}.key_secret"
    secret_file.write_text(f'metadata\ncurve\n    public-key = "{public.decode()}"\n'
                           f'    secret-key = "{secret.decode()}"\n')
    secret_file.chmod(0o600)
    return public, secret
