"""Links and counting (comms.content.text), held to X's published twitter-text conformance cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from comms.content import text

DATA = Path(__file__).parent / "data" / "twitter_text"


def cases(name: str, *sections: str) -> list[pytest.param]:
    data = json.loads((DATA / name).read_text(encoding="utf-8"))["sections"]
    return [
        pytest.param(case, id=f"{section}: {case['description']}")
        for section in sections
        for case in data[section]
    ]


@pytest.mark.parametrize(
    "case",
    cases(
        "weighted_length.json",
        "WeightedTweetsWithDiscountedEmojiCounterTest",
        "UnicodeDirectionalMarkerCounterTest",
    ),
)
def test_weighted_length_matches_twitter_text(case):
    assert text.x_length(case["text"]) == case["weightedLength"]


@pytest.mark.parametrize("case", cases("extract_urls.json", "urls", "tco_urls_with_params"))
def test_url_extraction_matches_twitter_text(case):
    assert text.find_urls(case["text"], bare=True) == case["expected"]


@pytest.mark.parametrize(
    "case", cases("extract_urls.json", "urls_with_indices", "urls_with_directional_markers")
)
def test_url_positions_match_twitter_text(case):
    expected = [(item["url"], tuple(item["indices"])) for item in case["expected"]]
    found = [(case["text"][s:e], (s, e)) for s, e in text.url_spans(case["text"], bare=True)]
    assert found == expected


# -- our posts: where a link ends, the same for every consumer ---------------------------------

ENDINGS = [
    ("Læs mere: https://www.aalborg.dk/karneval.", "https://www.aalborg.dk/karneval"),
    (
        "(se https://da.wikipedia.org/wiki/Aalborg_(by)).",
        "https://da.wikipedia.org/wiki/Aalborg_(by)",
    ),
    ("«https://aalborg.dk/tryg»", "https://aalborg.dk/tryg"),
    ("“https://aalborg.dk/tryg”", "https://aalborg.dk/tryg"),
    ("Se https://aalborg.dk/åbningstider!", "https://aalborg.dk/åbningstider"),
    (
        "Tilmeld: https://aalborg.dk/tilmeld?hold=(A)&dag=2, tak",
        "https://aalborg.dk/tilmeld?hold=(A)&dag=2",
    ),
    ("https://aalborg.dk/a?q=x), sagde hun", "https://aalborg.dk/a?q=x"),
    ("\u2066https://aalborg.dk/x\u2069", "https://aalborg.dk/x"),
]


@pytest.mark.parametrize(("sentence", "url"), ENDINGS)
def test_a_link_ends_before_the_sentence_goes_on(sentence, url):
    assert text.find_urls(sentence) == [url]


@pytest.mark.parametrize(("sentence", "url"), ENDINGS)
def test_site_bluesky_and_linkedin_agree_on_where_a_link_ends(sentence, url):
    from comms.channels.bluesky import make_facets
    from comms.channels.linkedin import escape_little
    from comms.channels.site import linkify

    assert f'<a href="{url}">' in str(linkify(sentence)).replace("&amp;", "&")
    links = [f["features"][0]["uri"] for f in make_facets(sentence) if "uri" in f["features"][0]]
    assert links == [url]
    assert url in escape_little(sentence)  # kept as written, not escaped


def test_bare_domains_are_links_only_when_asked_for():
    assert text.find_urls("Se aalborg.dk/karneval") == []
    assert text.find_urls("Se aalborg.dk/karneval", bare=True) == ["aalborg.dk/karneval"]


def test_a_host_without_a_real_top_level_domain_is_no_link():
    assert text.find_urls("http://localhost:8000/x og http://intranet/x") == []


def test_is_url_wants_the_whole_string():
    assert text.is_url("https://aalborg.dk/tryg")
    assert not text.is_url("https://aalborg.dk/tryg.")
    assert not text.is_url("se https://aalborg.dk/tryg")


def test_utm_tagging_and_counting_use_the_same_links():
    from comms.content.lint import add_utm

    tagged = add_utm(
        "Læs https://aalborg.dk/a. Tak", domains=["aalborg.dk"], source="x", medium="m",
        campaign="c",
    )  # fmt: skip
    assert tagged == "Læs https://aalborg.dk/a?utm_source=x&utm_medium=m&utm_campaign=c. Tak"


# -- counting ------------------------------------------------------------------------------------


def test_x_counts_bare_domains_and_directional_marks():
    assert text.x_length("Se aalborg.dk") == 3 + 23
    assert text.x_length("\u2066aalborg.dk\u2069") == 2 + 23 + 2  # marks weigh 2 each


def test_mastodon_counts_only_links_with_a_scheme_as_23():
    rule = text.TextRule(counting="mastodon", max_length=500, url_length=23)
    assert text.length("Se aalborg.dk", rule) == len("Se aalborg.dk")
    assert text.length("Se https://aalborg.dk/" + "x" * 40, rule) == 3 + 23


def test_bluesky_counts_graphemes_of_the_nfc_text():
    rule = text.TextRule(counting="graphemes", max_length=300)
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert text.length(family + " a\u030a", rule) == 3  # family, space, å decomposed
    assert text.graphemes("🇩🇰") == 1


# --- the shortcuts of the link search change nothing it finds --------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PIECES = st.sampled_from(
    [
        "https://tryg.aalborg.dk/karneval",
        "http://x.com/これ",
        "aalborg.dk",
        "www.AALBORG.DK/side?a=(1)",
        "xn--bcher-kva.de",
        "t.co/abc",
        "Aftalt.",
        "kl. 9",
        "114.",
        "a.b",
        "рф",
        "пример.рф",
        ".",
        "/",
        "-",
        "@",
        "#",
        " ",
        "\n",
        "\u200f",
        "é",
        "Æ",
        "x",
        "?utm_source=x",
    ]
)


def _reference_spans(source: str, bare: bool) -> tuple[tuple[int, int], ...]:
    """The search as it was written before its shortcuts: every word with a dot, in full."""
    import regex

    lowered = source.translate(
        str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
    )
    tlds = sorted(text.top_level_domains())
    pattern = regex.compile(
        text._url_re().pattern.replace(text._one_of(text.top_level_domains()), r"\L<tlds>"),
        regex.VERSION0,
        tlds=tlds,
    )
    assert r"\L<tlds>" in pattern.pattern  # the named list, as before the tree
    words = regex.compile(f"[^{text._SPACES}]+")
    found, last_end = [], 0
    for word in words.finditer(lowered):
        if "." not in word.group():
            continue
        pos, end = word.span()
        while (match := pattern.search(lowered, pos, end)) is not None:
            if match.start() and match.start() == last_end:
                pos = match.start() + 1
                continue
            found.append(match)
            pos = last_end = match.end()
    spans: list[tuple[int, int]] = []
    for match in found:
        if match.group("scheme"):
            span = text._with_scheme(match)
            if span:
                spans.append(span)
        elif bare:
            spans.extend(text._without_scheme(source, match))
    return tuple(spans)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join), st.booleans())
def test_the_links_found_are_those_of_the_plain_search(source, bare):
    if "." not in source or (not bare and "://" not in source):
        return
    assert text._url_spans.__wrapped__(source, bare) == _reference_spans(source, bare)


def _tag(url: str) -> str:
    return url + ("&" if "?" in url else "?") + "utm_source=x"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_PIECES, max_size=12).map("".join),
    st.sampled_from([_tag, str.upper, lambda url: url + " se", lambda url: "intet", str]),
)
def test_links_after_a_replacement_are_those_a_new_scan_finds(source, replace):
    replaced = text.replace_urls(source, replace)
    assert text.replace_urls_and_spans(source, replace) == (replaced, text.url_spans(replaced))


def test_masked_is_mask_urls():
    source = "Se https://aalborg.dk/a. og (https://x.com/b) tak"
    assert text.masked(source, text.url_spans(source)) == text.mask_urls(source)
