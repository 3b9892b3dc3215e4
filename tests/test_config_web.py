"""The workspace's config: `organisation` on a channel, `[web]` and `[web.oidc]`, every value
checked with an error that names the file and line, and every key documented in the example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from comms.config import _OIDC_KEYS, _WEB_KEYS, WebSettings, load_settings
from comms.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = (ROOT / "config.example.toml").read_text(encoding="utf-8")
SITE = '[channels.web]\ntype = "site"\n'
OIDC = '[web.oidc]\nissuer = "https://i.dk"\nclient_id = "a"\n'


def load(tmp_path: Path, text: str):
    path = tmp_path / "comms.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def test_without_a_web_section_the_defaults_hold(tmp_path):
    web = load(tmp_path, SITE).web
    assert web.four_eyes is True
    assert (web.session_idle_minutes, web.session_hours, web.secure_cookies) == (60, 12, "auto")
    assert web.allowed_hosts == ()
    assert web.oidc is None
    assert web.uploads_dir == tmp_path / "uploads"


def test_a_channel_names_its_organisation(tmp_path):
    settings = load(tmp_path, SITE + 'organisation = "politi"\n[channels.other]\ntype = "site"\n')
    assert settings.channels["web"].organisation == "politi"
    assert "organisation" not in settings.channels["web"].options
    assert settings.channels["other"].organisation is None


def test_a_full_web_section_is_read(tmp_path, monkeypatch):
    web = load(
        tmp_path,
        SITE + "[web]\n"
        'allowed_hosts = ["comms.aalborg.dk"]\n'
        "four_eyes = false\n"
        "session_idle_minutes = 20\n"
        "session_hours = 8\n"
        "secure_cookies = true\n"
        'trusted_proxies = ["10.0.0.5"]\n'
        'base_url = "https://comms.aalborg.dk/"\n'
        'uploads_dir = "/var/lib/comms/uploads"\n'
        "[web.oidc]\n"
        'issuer = "https://login.example.dk/tenant/v2.0/"\n'
        'client_id = "abc"\n'
        'client_secret_env = "COMMS_OIDC_SECRET"\n'
        'roles_claim = "groups"\n'
        'role_map = { "Comms.Approver" = "approver" }\n',
    ).web
    assert web == WebSettings(
        allowed_hosts=("comms.aalborg.dk",),
        four_eyes=False,
        session_idle_minutes=20,
        session_hours=8,
        secure_cookies=True,
        trusted_proxies=("10.0.0.5",),
        base_url="https://comms.aalborg.dk",
        uploads_dir=Path("/var/lib/comms/uploads"),
        oidc=web.oidc,
    )
    assert web.oidc.issuer == "https://login.example.dk/tenant/v2.0"
    assert (web.oidc.roles_claim, web.oidc.organisation_claim) == ("groups", "organisation")
    assert web.oidc.role_map == {"Comms.Approver": "approver"}
    monkeypatch.delenv("COMMS_OIDC_SECRET", raising=False)
    with pytest.raises(ConfigError, match=r"COMMS_OIDC_SECRET for \[web.oidc\] is not set"):
        web.oidc.client_secret()
    monkeypatch.setenv("COMMS_OIDC_SECRET", "s3cret")
    assert web.oidc.client_secret() == "s3cret"


@pytest.mark.parametrize(
    ("tail", "line", "words"),
    [
        ('organisation = "Politi Nord"\n', 3, "organisation must be a short lower-case name"),
        ("organisation = 7\n", 3, "organisation must be"),
        ('[web]\nfour_eyes = "yes"\n', 4, "four_eyes must be true or false"),
        ("[web]\nsession_hours = 0\n", 4, "session_hours must be a positive number"),
        ("[web]\nsession_idle_minutes = 900\n", 4, "longer than session_hours"),
        (
            '[web]\nsecure_cookies = "sometimes"\n',
            4,
            'secure_cookies must be "auto", true or false',
        ),
        ('[web]\nallowed_hosts = "x.dk"\n', 4, "allowed_hosts must be a list of strings"),
        ('[web]\nbase_url = "comms.dk"\n', 4, "base_url must be an http(s) URL"),
        ("[web]\ncolour = 1\n", 4, "unknown key 'colour' in [web]"),
        ('[web.oidc]\nclient_id = "a"\n', 3, "[web.oidc] needs issuer"),
        ('[web.oidc]\nissuer = "http://idp.dk"\nclient_id = "a"\n', 4, "must be an https:// URL"),
        (
            OIDC + 'client_secret = "hunter2hunter2"\n',
            6,
            "secret value in 'client_secret'",
        ),
        (
            OIDC + 'client_secret_env = "my secret"\n',
            6,
            "must name an environment variable",
        ),
        (
            '[web.oidc]\nissuer = "https://i.dk"\nclient_id = "a"\nrole_map = { "G" = "boss" }\n',
            6,
            "unknown role 'boss'",
        ),
        (
            '[web.oidc]\nissuer = "https://i.dk"\nclient_id = "a"\nscopes = ["profile"]\n',
            6,
            'scopes must include "openid"',
        ),
        (
            '[web.oidc]\nissuer = "https://i.dk"\nclient_id = "a"\nclaims = 1\n',
            6,
            "unknown key 'claims' in [web.oidc]",
        ),
    ],
)
def test_a_bad_value_names_the_file_and_its_line(tmp_path, tail, line, words):
    path = tmp_path / "comms.toml"
    path.write_text(SITE + tail, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert words in message
    assert "hunter2" not in message


def test_an_issuer_on_localhost_may_be_plain_http_for_a_test_provider(tmp_path):
    web = load(
        tmp_path, SITE + '[web.oidc]\nissuer = "http://127.0.0.1:3000"\nclient_id = "a"\n'
    ).web
    assert web.oidc.issuer == "http://127.0.0.1:3000"


@pytest.mark.parametrize("key", sorted(_WEB_KEYS - {"oidc"}))
def test_every_web_key_is_in_the_example_config(key):
    assert re.search(rf"^#? ?{key} =", EXAMPLE, re.M), key


@pytest.mark.parametrize("key", sorted(_OIDC_KEYS))
def test_every_oidc_key_is_in_the_example_config(key):
    assert re.search(rf"^# {key} =", EXAMPLE, re.M), key


def test_the_example_documents_a_channels_organisation_and_the_oidc_section():
    assert re.search(r'^organisation = "kommune"', EXAMPLE, re.M)
    assert "# [web.oidc]" in EXAMPLE


def test_the_example_configs_commented_oidc_section_is_valid_when_uncommented(tmp_path):
    block = EXAMPLE[EXAMPLE.index("# [web.oidc]") :].split("\n\n")[0]
    text = "\n".join(line.removeprefix("# ") for line in block.splitlines())
    text = re.sub(r"\s+# .*", "", text)
    web = load(tmp_path, SITE + "[web]\n" + text.replace("[web.oidc]", "[web.oidc]", 1)).web
    assert web.oidc.client_secret_env == "COMMS_OIDC_SECRET"
    assert web.oidc.role_map["Comms.Approver"] == "approver"
