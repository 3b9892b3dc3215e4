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
            '[channels.fb]\ntype = "facebook"\npage_id = "1"\ntoken_env = "COMMS_TEST_TOKEN"\n',
        )
    )
    monkeypatch.delenv("COMMS_TEST_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"COMMS_TEST_TOKEN .* is not set"):
        settings.channels["fb"].secret()
    monkeypatch.setenv("COMMS_TEST_TOKEN", "t0ken")
    assert settings.channels["fb"].secret() == "t0ken"


# -- each channel's options, checked against the schema its adapter class declares ------------

FB = '[channels.hjemmeside]\ntype = "site"\n\n[channels.fb]\ntype = "facebook"\npage_id = "1"\n'


def config_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path / "c.toml", text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    return str(info.value).replace(str(path), "c.toml")


def test_an_unknown_option_names_its_line_and_the_valid_ones(tmp_path):
    # "timeout" would be silently ignored before: a typo of timeout_seconds
    message = config_error(tmp_path, FB + 'token_env = "T"\ntimeout = 5\n')
    assert message.startswith("c.toml:8: channel 'fb' (facebook) has no option 'timeout'")
    assert "page_id" in message
    assert "timeout_seconds" in message
    assert "lookup_hours" in message


def test_the_line_is_the_one_in_the_channels_own_table(tmp_path):
    text = '[channels.web]\ntype = "site"\nsite_title = "A"\n\n[channels.x]\ntype = "x"\n'
    message = config_error(tmp_path, text + 'token_env = "T"\nsite_title = "B"\n')
    assert message.startswith("c.toml:8: channel 'x' (x) has no option 'site_title'")


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('feed_entries = "50"', "feed_entries must be a whole number, not '50'"),
        ("max_concurrency = 1.5", "max_concurrency must be a whole number"),
        ('rate_per_minute = "60"', "rate_per_minute must be a number"),
        ("site_title = true", "site_title must be text"),
        ("feed_entries = true", "feed_entries must be a whole number"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(tmp_path, line, words):
    message = config_error(tmp_path, f'[channels.web]\ntype = "site"\n{line}\n')
    assert message.startswith("c.toml:3: channel 'web': ")
    assert words in message


def test_a_list_option_checks_its_items(tmp_path):
    text = '[channels.wp]\ntype = "wordpress"\nbase_url = "u"\nusername = "u"\n'
    message = config_error(tmp_path, text + 'password_env = "P"\ncategories = ["nyheder"]\n')
    assert "categories must be a list of a whole number" in message


def test_a_missing_required_option_is_refused(tmp_path):
    # token_env is no longer required: a connected channel keeps its token in the store
    message = config_error(tmp_path, FB.replace('page_id = "1"\n', 'token_env = "T"\n'))
    assert message.startswith("c.toml:4: channel 'fb' (facebook) needs page_id")
    assert "add page_id = ... to [channels.fb]" in message


def test_a_literal_secret_is_still_refused_before_the_schema(tmp_path):
    message = config_error(tmp_path, FB + 'token = "EAAB-secret"\n')
    assert "has a secret value in 'token'" in message
    assert "EAAB-secret" not in message


def test_options_every_channel_takes_and_ids_as_numbers_are_accepted(tmp_path):
    text = FB.replace('page_id = "1"', "page_id = 1") + (
        'token_env = "T"\nrate_per_minute = 60\nmax_concurrency = 2\ntimeout_seconds = 5\n'
        'organisation = "kommune"\n'
    )
    channel = load_settings(write(tmp_path / "c.toml", text)).channels["fb"]
    assert channel.get("page_id") == 1
    assert channel.get("rate_per_minute") == 60
    assert channel.organisation == "kommune"


def test_every_registered_type_declares_its_facts():
    from comms.channels.base import Channel
    from comms.channels.registry import CHANNEL_TYPES, channel_class

    for kind in CHANNEL_TYPES:
        cls = channel_class(kind)
        assert cls.name == kind
        assert cls.label
        assert cls.title
        assert all(cls.post_words)
        schema = cls.option_schema()
        assert {"type", "rate_per_minute", "max_concurrency", "timeout_seconds"} <= set(schema)
        assert all(o.doc and o.name == name for name, o in schema.items())
        assert all(o.secret == name.endswith("_env") for name, o in schema.items())
        assert cls.preview is not Channel.preview, f"{kind} has no preview card of its own"
    x, facebook = channel_class("x").preview, channel_class("facebook").preview
    assert not set(x.buttons) & set(facebook.buttons)  # X never shows Facebook's buttons
