"""Finding and reading the config: --config, $COMMS_CONFIG, ./comms.toml, the built-in default."""

from __future__ import annotations

from pathlib import Path

import pytest

from comms.config import load_settings
from comms.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_lookup_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COMMS_CONFIG", raising=False)
    default = load_settings(None)
    assert default.path is None
    assert default.timezone == "Europe/Copenhagen"
    assert default.channels["hjemmeside"].type == "site"
    assert default.database_url == f"sqlite:///{tmp_path / 'comms.db'}"
    write(tmp_path / "comms.toml", 'timezone = "UTC"\n[channels.a]\ntype = "site"\n')
    assert load_settings(None).timezone == "UTC"
    env = write(tmp_path / "env.toml", 'timezone = "Europe/Oslo"\n')
    monkeypatch.setenv("COMMS_CONFIG", str(env))
    assert load_settings(None).timezone == "Europe/Oslo"
    explicit = write(tmp_path / "explicit.toml", 'timezone = "Europe/Berlin"\n')
    assert load_settings(explicit).timezone == "Europe/Berlin"


def test_paths_are_relative_to_the_config_file(tmp_path, monkeypatch):
    folder = tmp_path / "etc"
    folder.mkdir()
    config = write(
        folder / "c.toml",
        '[database]\nurl = "sqlite:///data.db"\n[channels.web]\ntype = "site"\npath = "public"\n',
    )
    monkeypatch.chdir(tmp_path)
    settings = load_settings(config)
    assert settings.database_url == f"sqlite:///{folder / 'data.db'}"
    assert settings.channels["web"].get("path") == str(folder / "public")
    assert settings.campaigns_dir == folder / "campaigns"


def test_the_example_config_is_the_built_in_default():
    example = load_settings(ROOT / "config.example.toml")
    assert set(example.channels) == set(load_settings(None).channels)
    assert (ROOT / "comms" / "starter.toml").read_text() == (
        ROOT / "config.example.toml"
    ).read_text()


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('timezone = "Europe/Copenhagen"\ncolour = "blue"\n', 2, "unknown key 'colour'"),
        ('timezone = "Mars/Olympus"\n', 1, "unknown timezone"),
        ('[database]\nurl = 3\n[channels.x]\ntypo = "site"\n', 3, "has no type"),
        ('[channels.fb]\ntype = "facebook"\naccess_token = "EAAB123456"\n', 3, "secret value"),
        ("[daemon]\ntick_secs = 5\n", 2, "unknown key 'tick_secs' in [daemon]"),
        ('[channels.fb]\ntype = "facebok"\n', 1, "unknown type 'facebok'"),
        ('timezone = "Europe/Copenhagen\n', 1, "not valid TOML"),
    ],
)
def test_bad_config_names_file_and_line(tmp_path, text, line, words):
    path = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: ")
    assert words in message
    assert "EAAB123456" not in message


def test_missing_file_and_unknown_channel(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")
    settings = load_settings(write(tmp_path / "c.toml", '[channels.web]\ntype = "site"\n'))
    with pytest.raises(ConfigError, match="configured channels: web"):
        settings.channel("facebook")


def test_secret_is_read_from_the_named_variable(tmp_path, monkeypatch):
    settings = load_settings(
        write(
            tmp_path / "c.toml",
            '[channels.fb]\ntype = "facebook"\ntoken_env = "COMMS_TEST_TOKEN"\n',
        )
    )
    monkeypatch.delenv("COMMS_TEST_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"COMMS_TEST_TOKEN .* is not set"):
        settings.channels["fb"].secret()
    monkeypatch.setenv("COMMS_TEST_TOKEN", "t0ken")
    assert settings.channels["fb"].secret() == "t0ken"
