"""Post checks and UTM tagging (comms.content.lint)."""

from __future__ import annotations

import unicodedata
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from comms.channels.registry import CHANNEL_TYPES, channel_class
from comms.content.lint import (
    LintProblem,
    add_utm,
    add_utm_and_links,
    errors_of,
    find_hashtags,
    find_urls,
    lint_post,
    tag_url,
    text_length,
    text_limit,
)
from comms.content.text import url_spans

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # one grapheme, 7 code points
LONG_URL = "https://www.aalborg.dk/kultur-og-fritid/aalborg-karneval/program-2024?side=1"
UTM = {"domains": ["aalborg.dk"], "source": "x", "medium": "social", "campaign": "karneval"}


def lint(text: str = "Hej", **kwargs) -> list[LintProblem]:
    args = {"title": None, "channel_type": "facebook", "image": None, "alt": None, "brand": {}}
    args.update(kwargs)
    return lint_post(text=text, **args)


def codes(problems: list[LintProblem]) -> list[str]:
    return [p.code for p in problems]


# -- limits and counting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "limit"),
    [
        ("x", 280),
        ("mastodon", 500),
        ("bluesky", 300),
        ("instagram", 2200),
        ("linkedin", 3000),
        ("facebook", 63206),
        ("site", None),
        ("wordpress", None),
        ("email", None),
        ("webhook", None),
        ("myspace", None),
    ],
)
def test_text_limit(channel, limit):
    assert text_limit(channel) == limit


@pytest.mark.parametrize("kind", CHANNEL_TYPES)
def test_lint_counts_by_the_rule_the_channel_class_declares(kind):
    assert text_limit(kind) == channel_class(kind).text_rule.max_length


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hej Aalborg", 11),
        (LONG_URL, 23),
        (f"Læs mere: {LONG_URL}.", 10 + 23 + 1),
        ("https://a.dk https://b.dk", 23 + 1 + 23),
        ("Se aalborg.dk/karneval", 3 + 23),  # X links bare domains too
        ("你好", 4),  # CJK weighs 2
        ("🎉", 2),
        (FAMILY, 2),  # an emoji sequence weighs 2
        ("\U0001f1e9\U0001f1f0", 2),  # flag
        ("👍🏽", 2),  # skin tone
        ("“citat” – …", 12),  # U+2010–U+201F weigh 1, the ellipsis U+2026 weighs 2
        ("info@aalborg.dk", 15),  # an e-mail address is not a link
        ("kl. 17.30", 9),
    ],
)
def test_x_weighted_length(text, expected):
    assert text_length(text, "x") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (LONG_URL, 23),
        (f"Se {LONG_URL} nu", 3 + 23 + 3),
        ("Se aalborg.dk", 13),  # only http(s) links count 23
        ("http://a.dk", 23),  # a short URL counts 23 too
    ],
)
def test_mastodon_length(text, expected):
    assert text_length(text, "mastodon") == expected


def test_bluesky_counts_graphemes():
    assert text_length(FAMILY, "bluesky") == 1
    assert text_length("🇩🇰 hej", "bluesky") == 5
    assert text_length(LONG_URL, "bluesky") == len(LONG_URL)  # URLs at full length


@pytest.mark.parametrize("channel", [*CHANNEL_TYPES, "ukendt"])
def test_danish_letters_count_one_everywhere(channel):
    assert text_length("æøåÆØÅ", channel) == 6
    decomposed = unicodedata.normalize("NFD", "blå bær")
    assert len(decomposed) == 8
    assert text_length(decomposed, channel) == 7


def test_x_over_limit_message():
    text = "a" * 257 + " " + LONG_URL + " " + "b" * 30  # 257 + 1 + 23 + 1 + 30 = 312
    problems = lint(text, channel_type="x")
    assert codes(problems) == ["text-too-long"]
    message = problems[0].message
    assert "312 of 280" in message
    assert "URLs count 23" in message
    assert "shorten it by 32" in message


def test_x_at_limit_is_fine():
    assert lint("æ" * 280, channel_type="x") == []
    assert codes(lint("你" * 141, channel_type="x")) == ["text-too-long"]


def test_bluesky_grapheme_and_byte_limits():
    assert codes(lint("a" * 301, channel_type="bluesky")) == ["text-too-long"]
    # 120 graphemes, 3000 bytes: within the limits (the emoji count is only a warning)
    assert errors_of(lint(FAMILY * 120, channel_type="bluesky")) == []
    problems = errors_of(lint(FAMILY * 121, channel_type="bluesky"))  # 3025 bytes
    assert codes(problems) == ["text-too-many-bytes"]
    assert "bytes" in problems[0].message


def test_mastodon_and_linkedin_limits():
    assert lint("a" * 476 + " " + LONG_URL, channel_type="mastodon") == []
    assert codes(lint("a" * 477 + " " + LONG_URL, channel_type="mastodon")) == ["text-too-long"]
    assert codes(lint("a" * 3001, channel_type="linkedin")) == ["text-too-long"]


def test_no_limit_channels():
    for channel in ("site", "wordpress", "email", "webhook", "ukendt"):
        assert lint("a" * 100_000, channel_type=channel) == []


# -- images, hashtags, brand ------------------------------------------------------------------


def test_instagram_needs_image():
    assert codes(lint(channel_type="instagram")) == ["image-missing"]
    assert lint(channel_type="instagram", image="a.jpg", alt="Børn i kostumer") == []


def test_image_needs_alt():
    assert codes(lint(image="billeder/karneval.jpg")) == ["alt-missing"]
    assert codes(lint(image="billeder/karneval.jpg", alt="  ")) == ["alt-missing"]
    assert lint(image="billeder/karneval.jpg", alt="Dansere i gaderne") == []


@pytest.mark.parametrize(
    "alt", ["karneval_2024.jpg", "karneval_2024", "Karneval 2024", "KARNEVAL-2024.JPG"]
)
def test_alt_repeating_file_name(alt):
    problems = lint(image="https://cdn.aalborg.dk/img/karneval_2024.jpg?w=800", alt=alt)
    assert codes(problems) == ["alt-is-file-name"]
    assert "karneval_2024.jpg" in problems[0].message


def test_alt_check_applies_to_unknown_channels():
    assert codes(lint(channel_type="ukendt", image="a.png")) == ["alt-missing"]


def test_hashtags():
    text = "#Karneval #æblegrød #2024 https://a.dk/#top &#123; a#b #a_1"
    assert find_hashtags(text) == ["#Karneval", "#æblegrød", "#a_1"]
    ok = " ".join(f"#tag{i}" for i in range(30))
    pictured = {"channel_type": "instagram", "image": "a.jpg", "alt": "Børn i kostumer"}
    assert lint(ok, **pictured) == []
    problems = lint(ok + " #en_til", **pictured)
    assert codes(problems) == ["too-many-hashtags"]
    assert "31" in problems[0].message


BRAND = {"Tryk Aalborg": "Tryg Aalborg", "aalborg kommune": "Aalborg Kommune"}


@pytest.mark.parametrize(
    ("text", "title", "where"),
    [
        ("Hilsen Tryk Aalborg.", None, "text"),
        ("Hilsen tryk   AALBORG", None, "text"),
        ("Hej", "TRYK AALBORG inviterer", "title"),
        ("Tryk Aalborg", "Tryk Aalborg", "text and title"),
    ],
)
def test_brand_spelling(text, title, where):
    problems = lint(text, title=title, brand=BRAND)
    assert codes(problems) == ["brand-spelling"]
    assert '"Tryg Aalborg"' in problems[0].message
    assert '"Tryk Aalborg"' in problems[0].message
    assert f"found in the {where})" in problems[0].message


@pytest.mark.parametrize(
    "text",
    [
        "Hilsen Tryg Aalborg og Aalborg Kommune",
        "Trykaalborg er ikke et ord her",  # whole phrase only
        "Se https://tryk-aalborg.dk/tryk aalborg",  # not inside links
    ],
)
def test_brand_spelling_ok(text):
    assert lint(text, brand=BRAND) == []


def test_brand_case_variant_flagged():
    problems = lint("Hilsen aalborg kommune", brand=BRAND)
    assert codes(problems) == ["brand-spelling"]


def test_problem_is_frozen():
    problem = LintProblem("x", "y")
    with pytest.raises(AttributeError):
        problem.code = "z"  # type: ignore[misc]


# -- URLs and UTM -----------------------------------------------------------------------------


def test_find_urls_trims_punctuation():
    text = (
        "Se (https://da.wikipedia.org/wiki/Aalborg_(by)) og https://x.dk/a. "
        "samt https://a.dk/?q=1#frag, og «https://b.dk»! http:// alene"
    )
    assert find_urls(text) == [
        "https://da.wikipedia.org/wiki/Aalborg_(by)",
        "https://x.dk/a",
        "https://a.dk/?q=1#frag",
        "https://b.dk",
    ]


def utm_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_tag_url_basic():
    tagged = tag_url("https://aalborg.dk/karneval", **UTM)
    assert tagged == (
        "https://aalborg.dk/karneval?utm_source=x&utm_medium=social&utm_campaign=karneval"
    )


def test_tag_url_bare_host_gets_slash():
    assert tag_url("https://aalborg.dk", **UTM).startswith("https://aalborg.dk/?utm_source=x")


def test_tag_url_subdomain_and_case():
    tagged = tag_url("https://WWW.Aalborg.DK/x", **UTM)
    assert utm_of(tagged)["utm_campaign"] == ["karneval"]
    assert tagged.startswith("https://WWW.Aalborg.DK/x?")


def test_tag_url_keeps_query_and_fragment():
    tagged = tag_url("https://www.aalborg.dk/side?a=1&b=to#program", **UTM)
    assert tagged == (
        "https://www.aalborg.dk/side?a=1&b=to&utm_source=x&utm_medium=social"
        "&utm_campaign=karneval#program"
    )


def test_tag_url_never_overwrites():
    tagged = tag_url("https://aalborg.dk/?utm_source=plakat", **UTM)
    assert utm_of(tagged) == {
        "utm_source": ["plakat"],
        "utm_medium": ["social"],
        "utm_campaign": ["karneval"],
    }


@pytest.mark.parametrize(
    "url",
    [
        "https://google.com/aalborg.dk",
        "https://aalborg.dk.evil.com/",
        "https://notaalborg.dk/",
        "ftp://aalborg.dk/fil",
        "https://[::1/",
    ],
)
def test_tag_url_leaves_other_hosts(url):
    assert tag_url(url, **UTM) == url


TAGS = "utm_source=x&utm_medium=social&utm_campaign=karneval"


@pytest.mark.parametrize(
    ("url", "tagged"),
    [
        # every key named as written: nothing to add, on our host or another
        ("https://aalborg.dk/?utm_source=a&utm_medium=b&utm_campaign=c", None),
        ("https://other.dk/?utm_campaign=c&utm_source=a&utm_medium=b#x", None),
        ("https://aalborg.dk/?utm_source&utm_medium=&utm_campaign=c", None),
        # a name written encoded is the same name
        ("https://aalborg.dk/?utm%5Fsource=a&utm_medium=b&utm_campaign=c", None),
        # names in the fragment are not in the query
        (
            "https://aalborg.dk/x#?utm_source=a&utm_medium=b&utm_campaign=c",
            f"https://aalborg.dk/x?{TAGS}#?utm_source=a&utm_medium=b&utm_campaign=c",
        ),
        # `;` does not separate parameters; a longer name is another name
        (
            "https://aalborg.dk/?utm_source=a;utm_medium=b&utm_campaign=c",
            "https://aalborg.dk/?utm_source=a;utm_medium=b&utm_campaign=c&utm_medium=social",
        ),
        (
            "https://aalborg.dk/?utm_sourcex=a&utm_medium=b&utm_campaign=c",
            "https://aalborg.dk/?utm_sourcex=a&utm_medium=b&utm_campaign=c&utm_source=x",
        ),
    ],
)
def test_tag_url_adds_only_missing_keys(url, tagged):
    assert tag_url(url, **UTM) == (tagged or url)
    assert tag_url(tagged or url, **UTM) == (tagged or url)  # idempotent


def test_tag_url_encodes_values():
    tagged = tag_url(
        "https://aalborg.dk/", domains=["aalborg.dk"], source="unge & ældre", medium="m",
        campaign="c",
    )  # fmt: skip
    assert utm_of(tagged)["utm_source"] == ["unge & ældre"]


def test_domain_written_as_url():
    assert "utm_source" in tag_url(
        "https://x.aalborg.dk/", **{**UTM, "domains": ["https://aalborg.dk/"]}
    )


def test_add_utm_in_text():
    text = (
        "Læs mere på https://www.aalborg.dk/karneval. Billetter (https://billet.aalborg.dk/k) "
        "eller https://ticketmaster.dk/aalborg!"
    )
    tagged = add_utm(text, **UTM)
    assert tagged == (
        "Læs mere på https://www.aalborg.dk/karneval"
        "?utm_source=x&utm_medium=social&utm_campaign=karneval. "
        "Billetter (https://billet.aalborg.dk/k"
        "?utm_source=x&utm_medium=social&utm_campaign=karneval) "
        "eller https://ticketmaster.dk/aalborg!"
    )


def test_add_utm_without_links():
    assert add_utm("Ingen links her. aalborg.dk", **UTM) == "Ingen links her. aalborg.dk"


# -- properties -------------------------------------------------------------------------------

_words = st.sampled_from(
    ["Hej", "æøå", "kl. 17.30", "(", ")", ".", ",", "!", "#karneval", "🎉", " ", "\n", "?", "&"]
)
_hosts = st.sampled_from(["aalborg.dk", "www.aalborg.dk", "Aalborg.dk", "google.com", "a.dk"])
_paths = st.sampled_from(["", "/", "/side", "/side?a=1", "/?utm_source=y", "/x#frag", "/a_(b)"])
_urls = st.builds(
    lambda s, h, p: f"{s}://{h}{p}", st.sampled_from(["http", "https"]), _hosts, _paths
)
_texts = st.lists(st.one_of(_words, _urls, st.text(max_size=5)), max_size=12).map(" ".join)
_values = st.text(min_size=1, max_size=8)


@given(_texts, _values, _values)
def test_add_utm_is_idempotent(text, source, campaign):
    args = {"domains": ["aalborg.dk"], "source": source, "medium": "social", "campaign": campaign}
    once = add_utm(text, **args)
    assert add_utm(once, **args) == once


@given(st.one_of(_texts, _texts.map(lambda t: t.replace(" ", ""))), _values, _values)
def test_add_utm_and_links_gives_the_links_of_the_tagged_text(text, source, campaign):
    args = {"domains": ["aalborg.dk"], "source": source, "medium": "social", "campaign": campaign}
    tagged = add_utm(text, **args)
    assert add_utm_and_links(text, **args) == (tagged, url_spans(tagged))


def test_lint_with_the_links_given_is_lint_without():
    text = add_utm("Læs https://aalborg.dk/a #karneval og #trygaalborg. Tak", **UTM)
    args = {"title": None, "channel_type": "x", "image": None, "alt": None, "brand": {}}
    found = lint_post(text=text, **args)
    assert found
    assert lint_post(text=text, links=url_spans(text), **args) == found


@given(_texts)
def test_add_utm_only_adds(text):
    tagged = add_utm(text, **UTM)
    assert len(tagged) >= len(text)
    if "aalborg.dk" not in text.lower():
        assert tagged == text


@given(st.text(), st.sampled_from([*CHANNEL_TYPES, "ukendt"]))
def test_text_length_is_not_negative(text, channel):
    assert text_length(text, channel) >= 0


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
def test_x_length_of_ascii_without_urls_is_len(text):
    if find_urls(text) or "." in text:  # "." may make a bare domain, which X links
        text = text.replace(".", " ").replace("://", " ")
    assert text_length(text, "x") == len(text)
