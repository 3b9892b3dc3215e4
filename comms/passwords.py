"""Passwords: Argon2id hashes through argon2-cffi, and the rules a new password must meet.

The list of common passwords (comms/data/common-passwords.txt.gz, about 20,000 lower-case
entries) is the one Django ships for its CommonPasswordValidator, read from the package at run
time, never from the network. A password is refused when it, or what is left of it without the
digits and punctuation around it, is on the list, when it is one character or one listed word
repeated, a run of keys or letters ("qwertyuiopasdf"), or when it contains the username.
"""

from __future__ import annotations

import contextlib
import gzip
import re
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from comms.errors import CommsError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # hashing a megabyte of "password" is work an attacker should not get for free

DEFAULT_HASHER = PasswordHasher()  # Argon2id with the library's recommended (RFC 9106) parameters
_hasher = DEFAULT_HASHER
_dummy: dict[PasswordHasher, str] = {}
_AROUND = re.compile(r"^[\W\d_]+|[\W\d_]+$")
# keyboard rows (Danish layout, and the US one's), the alphabet and the digits, both ways
_RUNS = tuple(
    run
    for row in (
        "qwertyuiopåasdfghjklæøzxcvbnm",
        "qwertyuiopasdfghjklzxcvbnm",
        "abcdefghijklmnopqrstuvwxyzæøå",
        "1234567890",
    )
    for run in (row, row[::-1])
)


class PasswordRejected(CommsError):
    """A new password does not meet the rules (the message, in Danish, says which)."""


def use_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Hash with other Argon2id parameters from now on; returns the previous hasher.

    Stored hashes with other parameters still verify, and are hashed again at the next
    sign-in. Tests use cheap parameters: the recommended ones cost 64 MiB and most of a second
    on a busy two-core machine.
    """
    global _hasher
    previous, _hasher = _hasher, hasher
    return previous


def hash_password(password: str) -> str:
    """The Argon2id hash to store (salted; the parameters are part of the string)."""
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored`; None (no password, SSO only) matches nothing."""
    if len(password) > MAX_LENGTH:
        return False
    if stored is None:
        _burn(password)
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def burn_time(password: str) -> None:
    """Spend the time of one verification (for a username that does not exist)."""
    _burn(password)


def _burn(password: str) -> None:
    """Verify against a hash of nobody's password: an unknown username answers as slowly as a
    wrong password, so response times do not tell which usernames exist."""
    if _hasher not in _dummy:
        _dummy[_hasher] = _hasher.hash("comms: no such user, the same work as a real check")
    with contextlib.suppress(VerificationError):
        _hasher.verify(_dummy[_hasher], password[:MAX_LENGTH])


def needs_rehash(stored: str) -> bool:
    """True when `stored` was made with other parameters than the current ones."""
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def check_password(password: str, username: str) -> None:
    """Raise PasswordRejected unless `password` is long, uncommon and not the username."""
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(f"Adgangskoden er for kort: den skal have mindst {MIN_LENGTH} tegn.")
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(f"Adgangskoden er for lang: højst {MAX_LENGTH} tegn.")
    lowered = password.casefold()
    name = username.casefold()
    if name and (name in lowered or lowered in name):
        raise PasswordRejected("Adgangskoden må ikke være eller indeholde brugernavnet.")
    if is_common(lowered):
        raise PasswordRejected(
            "Adgangskoden er for almindelig (den findes på listen over de mest brugte); "
            "vælg fx nogle tilfældige ord."
        )


def is_common(password: str) -> bool:
    """Whether a (case-folded) password is, or is built from, a commonly used one."""
    words = common_passwords()
    core = _AROUND.sub("", password)
    if password in words or core in words or not core:
        return True
    if any(core in run for run in _RUNS):
        return True
    return any(_repeats(candidate, words) for candidate in {password, core})


def _repeats(text: str, words: frozenset[str]) -> bool:
    """One character, or one listed word, over and over ("aaaaaaaaaaaa", "qwertyqwerty")."""
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            unit = text[:size]
            if size == 1 or unit in words or len(unit) < 4:
                return True
    return False


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, case-folded."""
    data = resources.files("comms").joinpath("data/common-passwords.txt.gz").read_bytes()
    text = gzip.decompress(data).decode("utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip())
