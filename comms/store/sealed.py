"""Sealing secrets for the database: AES-GCM (the maintained `cryptography` package) with a key
from the environment, so a copy of the database file, a backup or a dump holds no usable token.

The key is 32 random bytes, URL-safe base64, in `COMMS_SECRET_KEY`; it never lives in the
config or the database. Each sealed value records which key sealed it (`key_id`, a short hash of
the key, not the key) so `comms channels rotate-key` can tell what it has re-sealed, and the
channel's name is bound into the seal as associated data: a ciphertext copied onto another
channel's row does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets

from comms.errors import ConfigError

KEY_ENV = "COMMS_SECRET_KEY"
NEW_KEY_ENV = "COMMS_NEW_SECRET_KEY"
PREFIX = "v1:"  # the format of a sealed value; a later format gets a new prefix
NONCE_BYTES = 12
MAKE_KEY = (
    'comms channels new-key   (eller: python -c "import base64, os; '
    'print(base64.urlsafe_b64encode(os.urandom(32)).decode())")'
)


class SealError(ConfigError):
    """A sealed value that does not open with the key given (wrong key, or tampered)."""


def new_key() -> str:
    """A fresh key as it goes into COMMS_SECRET_KEY."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


class Sealer:
    """Seals and opens values with one key."""

    def __init__(self, key_text: str, *, env: str = KEY_ENV) -> None:
        try:
            raw = base64.urlsafe_b64decode(key_text.strip().encode())
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            # the value is not repeated: it may be a real key with a typo
            raise ConfigError(
                f"${env} er ikke en nøgle: den skal være 32 tilfældige bytes i URL-sikker base64",
                hint=f"lav en med: {MAKE_KEY}",
            )
        # imported here: the cipher's bindings are several MB that a process which never opens
        # a stored token (a daemon with only token-less channels) should not carry
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead = AESGCM(raw)
        self.key_id = hashlib.sha256(b"comms-key-id:" + raw).hexdigest()[:12]

    def seal(self, plaintext: str, *, context: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, *, context: str) -> str:
        if not sealed.startswith(PREFIX):
            raise SealError(f"en gemt hemmelighed for {context!r} har et ukendt format")
        from cryptography.exceptions import InvalidTag

        blob = base64.urlsafe_b64decode(sealed[len(PREFIX) :].encode())
        try:
            plain = self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context.encode())
        except InvalidTag:
            raise SealError(
                f"det gemte token for {context!r} kan ikke åbnes med ${KEY_ENV}",
                hint=f"sæt den nøgle, det blev gemt med, eller forbind kanalen igen: "
                f"comms channels connect {context}",
            ) from None
        return plain.decode()


def sealer_if_set(env: str = KEY_ENV) -> Sealer | None:
    """The sealer when the key is set, else None: for listings that show what lies in the
    clear without it, and more with it."""
    return sealer_from_env(env) if os.environ.get(env, "").strip() else None


def sealer_from_env(env: str = KEY_ENV) -> Sealer:
    """The sealer for the key in `env`; a clear refusal when it is not set."""
    value = os.environ.get(env, "")
    if not value.strip():
        raise ConfigError(
            f"${env} er ikke sat: comms gemmer kun tokens krypteret, med en nøgle fra ${env}",
            hint=f"lav en med: {MAKE_KEY}; sæt derefter {env}=... overalt, hvor comms kører",
        )
    return Sealer(value, env=env)
