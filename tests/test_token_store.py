"""The token store: tokens sealed with COMMS_SECRET_KEY, never stored in the clear, refused
without a key, re-sealed by `comms channels rotate-key`."""

from __future__ import annotations

import os

import pytest

from comms.errors import ConfigError
from comms.store import tokens
from comms.store.db import session_scope
from comms.store.sealed import Sealer, SealError, new_key, sealer_from_env
from tests.cli import run_comms

SECRET = "TOKMARK-access-unit-0123456789"


def _store(url: str, sealer: Sealer, channel: str = "x") -> None:
    with session_scope(url) as session:
        tokens.save(
            session,
            sealer,
            channel,
            kind="oauth2",
            secrets={"access_token": SECRET, "refresh_token": "TOKMARK-refresh-unit-1"},
            expires_at=None,
            actor="test",
        )


def test_a_stored_token_opens_with_its_key_and_is_nowhere_in_the_file(make_settings, tmp_path):
    settings = make_settings()
    sealer = Sealer(new_key())
    _store(settings.database_url, sealer)
    with session_scope(settings.database_url) as session:
        token = tokens.load(session, sealer, "x")
    assert token is not None
    assert token.access_token == SECRET
    from comms.store.db import dispose_all

    dispose_all()  # checkpoint the WAL into the file
    for path in tmp_path.glob("comms.db*"):
        assert b"TOKMARK" not in path.read_bytes()


def test_another_key_or_another_row_does_not_open_it(make_settings):
    make_settings()
    sealer = Sealer(new_key())
    sealed = sealer.seal(SECRET, context="x")
    with pytest.raises(SealError):
        Sealer(new_key()).open(sealed, context="x")
    with pytest.raises(SealError):
        sealer.open(sealed, context="y")  # copied onto another channel's row


def test_no_key_is_refused_with_how_to_make_one(monkeypatch):
    monkeypatch.delenv("COMMS_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError) as error:
        sealer_from_env()
    assert "COMMS_SECRET_KEY" in str(error.value)
    assert "new-key" in str(error.value)
    monkeypatch.setenv("COMMS_SECRET_KEY", "too-short")
    with pytest.raises(ConfigError) as error:
        sealer_from_env()
    assert "too-short" not in str(error.value)


def test_rotate_key_reseals_every_row_in_one_go(make_settings, tmp_path):
    settings = make_settings()
    old, new = new_key(), new_key()
    _store(settings.database_url, Sealer(old), "x")
    _store(settings.database_url, Sealer(old), "x2")
    env = {**os.environ, "COMMS_SECRET_KEY": old, "COMMS_NEW_SECRET_KEY": new}
    result = run_comms("--config", str(settings.path), "channels", "rotate-key", env=env)
    assert result.returncode == 0, result.stderr
    assert "2 tokens krypteret igen med den nye nøgle." in result.stdout
    assert "COMMS_SECRET_KEY" in result.stdout
    with session_scope(settings.database_url) as session:
        assert tokens.load(session, Sealer(new), "x").access_token == SECRET  # type: ignore[union-attr]
        with pytest.raises(SealError):
            tokens.load(session, Sealer(old), "x2")
    again = run_comms("--config", str(settings.path), "channels", "rotate-key", env=env)
    assert "0 tokens krypteret igen med den nye nøgle; 2 var allerede det." in again.stdout
    listing = run_comms("--config", str(settings.path), "channels", "tokens", env=env)
    assert "x2" in listing.stdout
    assert "TOKMARK" not in listing.stdout + listing.stderr


def test_new_key_prints_a_usable_key():
    result = run_comms("channels", "new-key")
    assert result.returncode == 0
    Sealer(result.stdout.strip())


def test_tokens_lists_nothing_connected_in_a_sentence(make_settings):
    settings = make_settings()
    empty = run_comms("--config", str(settings.path), "channels", "tokens")
    assert empty.returncode == 0, empty.stderr
    assert "Ingen kanal er forbundet endnu" in empty.stdout
    assert "comms channels connect" in empty.stdout
