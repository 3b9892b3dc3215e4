"""Text citizens can read (comms.content.readability): LIX worked out by hand, each warning tripped
and not tripped, and the warnings where an officer sees them: validate, preview, `comms post`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from comms.config import ReadabilitySettings
from comms.content.lint import errors_of, lint_post, warnings_of
from comms.content.readability import count_emoji, lix, lix_level
from comms.errors import CommsError
from tests.cli import comms_cli

cli = comms_cli()


@dataclass(frozen=True)
class Outcome:
    stdout: str
    stderr: str


HARD = (
    "Kommunalbestyrelsen har vedtaget en omfattende handlingsplan for forebyggelse "
    "af kriminalitet i nattelivet."
)  # 12 words, 1 sentence, 7 long: 12 + 100 * 7 / 12 = 70.3
EASY = "Kom godt hjem i nat. Gå sammen med en ven. Drik vand."  # 12 words, 3 sentences: 4


def codes(text: str, *, image: str | None = None, alt: str | None = None, **rules) -> list[str]:
    found = lint_post(
        text=text,
        title=None,
        channel_type="facebook",
        image=image,
        alt=alt,
        brand={},
        readability=ReadabilitySettings(**rules),
    )
    return [p.code for p in found]


# --- LIX ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words", "sentences", "long_words", "value"),
    [
        (HARD, 12, 1, 7, 12 + 100 * 7 / 12),
        (EASY, 12, 3, 0, 4.0),
        # a line ending without a full stop ends a sentence before a capital, not before "hvis"
        ("Glat i dag\nKør stille og roligt hjem\nhvis du kan", 11, 2, 0, 5.5),
        # "kl." is no sentence end; the digit is no word; Gammeltorv is the long word
        ("Mød os kl. 9 på Gammeltorv. Vi ses!", 7, 2, 1, 7 / 2 + 100 / 7),
        # links, hashtags and @names are not prose
        (
            "Læs mere https://www.aalborg.dk/sikkerhedsforanstaltninger #TrygAalborg @politi.",
            2,
            1,
            0,
            2.0,
        ),
    ],
)
def test_lix_counted_by_hand(text, words, sentences, long_words, value):
    found = lix(text)
    assert found is not None
    assert (found.words, found.sentences, found.long_words) == (words, sentences, long_words)
    assert found.value == pytest.approx(value)


def test_the_danish_scale():
    assert [lix_level(v) for v in (10, 30, 40, 50, 60)] == [
        "meget let",
        "let",
        "middel",
        "svær",
        "meget svær",
    ]


def test_lix_warns_above_the_level_and_not_below():
    assert codes(HARD) == ["lix-too-high"]
    assert codes(EASY) == []
    assert codes(HARD, lix_warn=75) == []  # the level is the config's
    assert codes("Sikkerhedsforanstaltningerne iværksættes øjeblikkeligt.") == []  # too few words
    assert codes("Sikkerhedsforanstaltningerne iværksættes øjeblikkeligt.", lix_min_words=3) == [
        "lix-too-high"
    ]


# --- hashtags and emoji ---------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["#trygaalborg", "#karneval", "#blaamandag"])
def test_long_lower_case_hashtags_warn(tag):
    assert codes(f"Kom godt hjem. {tag}") == ["hashtag-not-camelcase"]


@pytest.mark.parametrize(
    "tag", ["#TrygAalborg", "#Karneval", "#aalborg", "#aalborg2027", "#SikkerHjem"]
)
def test_camel_case_short_and_numbered_hashtags_are_fine(tag):
    assert codes(f"Kom godt hjem. {tag}") == []


def test_a_hashtag_in_a_link_is_not_a_hashtag():
    assert codes("Se https://www.aalborg.dk/side#sikkerhedsraad") == []


def test_emoji_are_counted_as_pictures_not_code_points():
    # a skin tone, a family joined by ZWJ, a flag, a keycap: four pictures
    assert count_emoji("Hej 👍🏽 👨‍👩‍👧 🇩🇰 1️⃣") == 4
    assert count_emoji("❤️ ☺ © 2027") == 1  # only the heart asks to be shown as an emoji
    assert codes("Godt karneval 🎉🎭🎺") == []
    assert codes("Godt karneval 🎉🎭🎺👨‍👩‍👧") == ["too-many-emoji"]
    assert codes("Godt karneval 🎉🎭🎺👨‍👩‍👧", max_emoji=4) == []


# --- alt text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alt", "code"),
    [
        ("IMG_1234.jpg", "alt-looks-like-file-name"),
        ("DSC 0042", "alt-looks-like-file-name"),
        ("billede", "alt-generic"),
        ("Foto", "alt-generic"),
        ("picture", "alt-generic"),
        ("Saltvogn", "alt-one-word"),
        ("Kør forsigtigt i morgen", "alt-repeats-text"),
    ],
)
def test_alt_text_that_says_nothing(alt, code):
    assert codes("Kør forsigtigt i morgen. Der er glat.", image="vej.jpg", alt=alt) == [code]


def test_alt_text_that_describes_the_picture_is_fine():
    text = "Kør forsigtigt i morgen. Der er glat."
    assert codes(text, image="vej.jpg", alt="En saltvogn kører på en snedækket vej") == []
    assert codes(text, alt="billede") == []  # no image: no alt text to judge


def test_warnings_do_not_stop_a_post_unless_the_config_says_so():
    found = lint_post(
        text=HARD,
        title=None,
        channel_type="facebook",
        image=None,
        alt=None,
        brand={},
        readability=ReadabilitySettings(),
    )
    assert errors_of(found) == []
    assert [p.code for p in warnings_of(found)] == ["lix-too-high"]
    strict = ReadabilitySettings(errors=frozenset({"lix"}))
    found = lint_post(
        text=HARD,
        title=None,
        channel_type="facebook",
        image=None,
        alt=None,
        brand={},
        readability=strict,
    )
    assert [p.code for p in errors_of(found)] == ["lix-too-high"]


# --- where the officer sees them ------------------------------------------------------------


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def comms(*args: str, code: int = 0) -> Outcome:
    """`comms ARGS` in this process; a comms error becomes the line `main()` prints for it.

    `main()` itself (one line, exit status 1) is tested through a real process in
    test_the_real_command_says_one_line_and_exits_1."""
    result = CliRunner().invoke(cli, list(args))
    stderr, status = result.stderr, result.exit_code
    if isinstance(result.exception, CommsError):
        stderr, status = stderr + f"Error: {result.exception}\n", 1
    elif result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert status == code, result.output + stderr
    return Outcome(result.stdout, stderr)


def lower_the_karneval_hashtag(project: Path) -> None:
    template = project / "templates" / "karneval" / "dagen.j2"
    text = template.read_text(encoding="utf-8")
    template.write_text(text.replace("kom godt hjem.", "kom godt hjem. #aalborgkarneval"))


def test_validate_and_preview_show_the_warnings_and_still_pass(project):
    lower_the_karneval_hashtag(project)
    validated = comms("campaigns", "validate", "--year", "2027")
    assert "lint warning(s)" in validated.stdout
    assert "karneval/2027/2027-05-29/dagen/facebook: Skriv hashtags" in validated.stderr
    assert "#aalborgkarneval" in validated.stderr
    shown = run("campaigns", "preview", "karneval", "--year", "2027").output
    assert "advarsel: Skriv hashtags" in shown
    listed = json.loads(
        run("campaigns", "preview", "karneval", "--year", "2027", "--format", "json").output
    )
    dagen = [p for p in listed if p["key"].endswith("/dagen/facebook")]
    assert dagen
    assert any("#aalborgkarneval" in w for w in dagen[0]["warnings"])
    planned = comms("plan", "--year", "2027", "--campaign", "karneval")  # a warning plans
    assert "lint warning(s) (readability)" in planned.stderr
    assert "post(s) were added" in planned.stdout


def test_a_check_the_config_makes_an_error_stops_plan_and_post(project):
    lower_the_karneval_hashtag(project)
    config = project / "comms.toml"
    config.write_text(config.read_text().replace("errors = []", 'errors = ["hashtags"]'))
    failed = comms("plan", "--year", "2027", "--campaign", "karneval", code=1)
    assert "Skriv hashtags" in failed.stderr
    refused = comms("post", "--channels", "facebook", "--text", "Kom hjem #trygaalborg", code=1)
    assert "fejl: --text: facebook: Skriv hashtags" in refused.stderr


def test_a_misspelt_check_in_the_config_is_named(project):
    config = project / "comms.toml"
    config.write_text(config.read_text().replace("errors = []", 'errors = ["hashtag"]'))
    failed = comms("campaigns", "validate", code=1)
    assert "unknown check 'hashtag'" in failed.stderr
    assert "did you mean 'hashtags'?" in failed.stderr


def test_comms_post_shows_each_new_warning(project):
    (project / "vej.png").write_bytes(_png())
    shown = comms(
        "post",
        "--channels",
        "facebook",
        "--text",
        HARD + " #trygaalborg 🎉🎭🎺👨‍👩‍👧",
        "--image",
        "vej.png",
        "--alt",
        "billede",
        "--dry-run",
    )
    for needle in ("LIX 70", "Skriv hashtags", "4 emoji", "Alt-teksten »billede«"):
        assert needle in shown.stderr, needle


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(out, "PNG")
    return out.getvalue()


# --- counting emoji line by line, with shortcuts, counts what the whole text holds -----------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from comms.content import readability  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "a",
                "æ",
                " ",
                "\n",
                "\r\n",
                "🎉",
                "👍🏽",
                "1",
                "\ufe0f",
                "\u20e3",
                "🇩",
                "🇰",
                "❤",
                "\u200d",
                "©",
                "#",
                "Tryg Aalborg. ",
            ]
        ),
        max_size=20,
    ).map("".join)
)
def test_emoji_are_counted_as_in_the_whole_text(source):
    whole = sum(
        1
        for cluster in readability._GRAPHEME_RE.findall(source)
        if readability._EMOJI_RE.search(cluster)
    )
    assert count_emoji(source) == whole


def test_no_ascii_character_can_start_an_emoji():
    assert not any(readability._EMOJI_CHAR_RE.search(chr(code)) for code in range(128))
