"""Where the links in a post are, where each one ends, and how long a text is for a service.

One URL grammar for everyone (lint, UTM tagging, the site's links, Bluesky's facets, LinkedIn's
escaping, X's and Mastodon's counting), so they all agree on where a link ends. The grammar is
the one X publishes with twitter-text (tests/data/twitter_text holds its conformance cases): a
link ends before sentence punctuation, quotes, brackets that do not balance and directional
marks, and a host must end in a real top-level domain. With a scheme (`https://`) a link may
have any such host; without one (`aalborg.dk/karneval`) only X counts it as a link, so bare
domains are found only when asked for (`bare=True`).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import regex
from markupsafe import Markup, escape

from comms.content.links import safe_link

Counting = Literal["chars", "x", "mastodon", "graphemes"]


@dataclass(frozen=True)
class TextRule:
    """How a service counts a post's text, and what it allows."""

    counting: Counting = "chars"  # chars: code points; x: weighted; graphemes: user characters
    max_length: int | None = None  # None: no practical limit
    url_length: int | None = None  # every URL counts this much, whatever its length
    max_bytes: int | None = None  # UTF-8 byte limit on top of max_length (Bluesky)
    max_hashtags: int | None = None
    image_required: bool = False


NO_RULE = TextRule()

# ---------------------------------------------------------------------------------------------
# The URL grammar

_DIRECTIONAL = "\u202a-\u202e\u061c\u200e\u200f\u2066-\u2069"
_INVALID = "\ufffe\ufeff\uffff"
_SPACES = "\\t-\\r \\x85\\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_PUNCT = r"""!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~"""
_LATIN = (
    "\xc0-\xd6\xd8-\xf6\xf8-\xff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263"
    "\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC = "\u0400-\u04ff"


@functools.cache
def top_level_domains() -> frozenset[str]:
    """Every top-level domain a host may end in (country and generic), lower case."""
    text = resources.files("comms.content").joinpath("tlds.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip()[:1] not in "#["
    )


_DOMAIN_CHAR = f"[^{_PUNCT}{_SPACES}{_INVALID}{_DIRECTIONAL}]"


@functools.cache
def _tld() -> str:
    """A top-level domain, ending where no further letter, digit, @, + or - follows."""
    return rf"(?:{_one_of(top_level_domains())}(?=[^0-9a-z@+\-]|$)|xn--[\-0-9a-z]+)"


def _one_of(words: frozenset[str]) -> str:
    """A pattern matching any of `words`, the longest that fits first (as a regex named list
    `\\L<name>` matches, backtracking to shorter ones), written as a tree of their common
    beginnings: `co(?:m|op)?` tries `com` and `coop` before `co`. regex weighs every entry of a
    named list wherever a host may end; the tree rules out all but a few at the first letter."""
    tree: dict[str, dict] = {}
    for word in words:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def pattern(node: dict[str, dict]) -> str:
        branches = [regex.escape(char) + pattern(child) for char, child in sorted(node.items())]
        branches = [branch for branch in branches if branch]
        if not branches:
            return ""
        either = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{either})?" if "" in node else either

    return pattern(tree)


def _domain() -> str:
    return (
        rf"(?:(?:{_DOMAIN_CHAR}(?:[_\-]|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\.)*"  # subdomains
        rf"(?:(?:{_DOMAIN_CHAR}(?:-|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\.){_tld()}"  # the name
    )


# exact shortcut: a host has a dot after its first run of name characters; a word without one
# fails here at once instead of after every way of splitting it into labels
_HAS_DOT = rf"(?=(?:{_DOMAIN_CHAR}|[_\-])++\.)"
_PATH_CHAR = rf"[a-z{_CYRILLIC}0-9!*';:=+,.$/%#\[\]\-\u2013_~&|@{_LATIN}]"
_PARENS = rf"\((?:{_PATH_CHAR}+|{_PATH_CHAR}*\({_PATH_CHAR}+\){_PATH_CHAR}*)\)"
_PATH_END = rf"(?:[+\-a-z{_CYRILLIC}0-9=_#/{_LATIN}]|{_PARENS})"
_PATH_PART = rf"(?:{_PATH_CHAR}*(?:{_PARENS}{_PATH_CHAR}*)*{_PATH_END}|@{_PATH_CHAR}+/)"
# a query may also end in ")" when it closes a "(" of the query: ?a=(1) (twitter-text stops at 1)
_QUERY = r"\?[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]*(?:[a-z0-9\-_&=#/]|(?<=\?[^\s()]*\([^\s()]*)\))"


@functools.cache
def _url_re() -> regex.Pattern[str]:
    return regex.compile(
        r"(?<![a-z0-9@＠$#＃" + _INVALID + "])"
        rf"(?P<scheme>https?://)?{_HAS_DOT}(?P<domain>{_domain()})(?::[0-9]+)?"
        rf"(?P<path>/{_PATH_PART}*)?(?P<query>{_QUERY})?",
        regex.VERSION0,  # searched in ASCII-lowered text (_lowered): much faster than IGNORECASE
    )


@functools.cache
def _ascii_domain_re() -> regex.Pattern[str]:
    return regex.compile(
        rf"(?:[\-a-z0-9{_LATIN}]+\.)+{_tld()}",
        regex.VERSION0,  # run on lowered text, as _url_re
    )


_TCO_RE = regex.compile(rf"https?://t\.co/([a-z0-9]+)(?:{_QUERY})?", regex.IGNORECASE)
_TCO_SLUG_MAX = 40
_LABEL_MAX = 63  # octets of one host label, after punycode


def _valid_host(domain: str) -> bool:
    """The host can be written in DNS: each label at most 63 octets once punycoded."""
    for label in domain.split("."):
        if label.isascii():
            if len(label) > _LABEL_MAX:
                return False
            if label.lower().startswith("xn--"):
                try:
                    label[4:].encode("ascii").decode("punycode")
                except UnicodeError:
                    return False
        else:
            if label.lower().startswith("xn--"):
                return False  # an encoded label must be ASCII
            if len("xn--" + label.encode("punycode").decode("ascii")) > _LABEL_MAX:
                return False
    return True


def _with_scheme(match: regex.Match[str]) -> tuple[int, int] | None:
    start, end = match.span()
    url = match.group()
    tco = _TCO_RE.match(url)
    if tco:
        if len(tco.group(1)) > _TCO_SLUG_MAX:
            return None
        end = start + tco.end()  # a t.co link takes no more path than its slug
    if not _valid_host(match.group("domain")):
        return None
    return start, end


def _without_scheme(text: str, match: regex.Match[str]) -> list[tuple[int, int]]:
    """The ASCII domains inside a bare match; the last one carries the match's path."""
    start = match.start()
    if start and text[start - 1] in "-_./":
        return []
    domain = match.group("domain")
    spans = [
        (start + m.start(), start + m.end())
        for m in _ascii_domain_re().finditer(domain)
        if _valid_host(m.group())
    ]
    if spans and match.group("path") is not None:
        spans[-1] = (spans[-1][0], match.end())
    return spans


@functools.cache
def _host_dot_re() -> re.Pattern[str]:
    """A dot and then a character a top-level domain can start with (or the x of `xn--`), in
    either case: it is searched in the text as written. (The standard library's re: for a
    plain class of characters it finds the same, and a call costs less than regex's.)"""
    first = {tld[0] for tld in top_level_domains()} | {"x"}
    first |= {char.upper() for char in first if char.isascii()}
    return re.compile(rf"\.[{re.escape(''.join(sorted(first)))}]")


_SPACE_RE = re.compile(f"[{_SPACES}]")  # re, as _host_dot_re


def _candidate_words(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each word (a run without spaces) holding a `_host_dot_re` match.

    Every link lies in such a word: no link spans a space, and a host ends in `.` and its
    top-level domain (or `.xn--`). Found from the dots, so the rest of the text is skipped: a
    sentence's final `aftalt.` or `kl. 9` holds no link, and most words have no dot at all.
    The space before a dot is the first one after it in the reversed text.
    """
    end = -1
    size = len(text)
    reverse = ""
    for dot in _host_dot_re().finditer(text):
        at = dot.start()
        if at < end:
            continue  # another dot of the word just yielded
        reverse = reverse or text[::-1]
        before = _SPACE_RE.search(reverse, size - at)
        after = _SPACE_RE.search(text, at)
        end = after.start() if after else size
        yield (size - before.start() if before else 0), end


def _ascii_lowered(text: str) -> str:
    """`text` with A-Z made a-z and every other character as it is (the same length and
    positions): bytes.lower() changes ASCII letters only, and no byte of a UTF-8 multi-byte
    character is ASCII. (str.lower would change other letters too; str.translate is slower.)"""
    if text.isascii():
        return text.lower()
    return text.encode("utf-8", "surrogatepass").lower().decode("utf-8", "surrogatepass")


def _matches(word: str) -> list[regex.Match[str]]:
    """Every grammar match in one word, ASCII-lowered, each needing a character of its own
    before it (none at the start).

    The character before a link is part of twitter-text's match, so a match cannot lean on the
    last character of the one before it (`http://x.com/これ` then `これ…` starts one later).
    """
    found: list[regex.Match[str]] = []
    pattern, pos, last_end = _url_re(), 0, 0
    while (match := pattern.search(word, pos)) is not None:
        if match.start() and match.start() == last_end:
            pos = match.start() + 1
            continue
        found.append(match)
        pos = last_end = match.end()
    return found


def url_spans(text: str, *, bare: bool = False) -> tuple[tuple[int, int], ...]:
    """(start, end) of every link in text, in order; with `bare`, domains without a scheme too."""
    if "." not in text or (not bare and "://" not in text):
        return ()  # exact: every link has a dot in its host, and a scheme has "://"
    return _url_spans(text, bare)


@functools.lru_cache(maxsize=256)  # lint, UTM tagging and brand checks scan the same text
def _url_spans(text: str, bare: bool) -> tuple[tuple[int, int], ...]:
    """The links of each word that can hold one, placed in the text.

    What the grammar finds in a word depends on that word alone: a word starts after a space
    (or at the text's start), which no link leans on, and the match before it ended before
    that space. So each word's links are worked out once (`_word_spans`): a plan's posts
    repeat the same few links in every text.
    """
    spans: list[tuple[int, int]] = []
    for start, _end, word_spans in _linked_words(text, bare):
        spans += [(start + s, start + e) for s, e in word_spans]
    return tuple(spans)


def _linked_words(text: str, bare: bool) -> list[tuple[int, int, tuple[tuple[int, int], ...]]]:
    """(start, end, the links relative to the word) of each word of text holding a link."""
    found = []
    for start, end in _candidate_words(text):
        word_spans = _word_spans(text[start:end], bare)
        if word_spans:
            found.append((start, end, word_spans))
    return found


@functools.lru_cache(maxsize=4096)
def _word_spans(word: str, bare: bool) -> tuple[tuple[int, int], ...]:
    """(start, end) of the links in one word (`_url_spans`), relative to it."""
    spans: list[tuple[int, int]] = []
    for match in _matches(_ascii_lowered(word)):
        if match.group("scheme"):
            span = _with_scheme(match)
            if span:
                spans.append(span)
        elif bare:
            spans.extend(_without_scheme(word, match))
    return tuple(spans)


def find_urls(text: str, *, bare: bool = False) -> list[str]:
    """Every link in text, in order, without the sentence punctuation after it."""
    return [text[start:end] for start, end in url_spans(text, bare=bare)]


def is_url(text: str) -> bool:
    """True when text is exactly one http(s) link, nothing before or after it."""
    return url_spans(text) == ((0, len(text)),)


def replace_urls(text: str, replace: object = " ", *, bare: bool = False) -> str:
    """Text with every link replaced: by a string, or by `replace(url)` when it is callable."""
    spans = url_spans(text, bare=bare)
    if not spans:
        return text
    pieces, last = [], 0
    for start, end in spans:
        url = text[start:end]
        pieces += [text[last:start], replace(url) if callable(replace) else str(replace)]
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def replace_urls_and_spans(
    text: str, replace: Callable[[str], str]
) -> tuple[str, tuple[tuple[int, int], ...]]:
    """`replace_urls(text, replace)`, and the `url_spans` of the text it returns (`replace`:
    a pure function of the link, as it may be called twice for one).

    Found without scanning the new text again where that gives the same spans: when no
    replacement has a space in it and each changed word still holds a host's dot (a link to
    our own site given its UTM tags), the new text's words are the old ones, only the words
    with links changed, and a word's links depend on that word alone (`_url_spans`).
    """
    if "." not in text or "://" not in text:
        return text, ()  # as url_spans: no link, nothing replaced
    pieces: list[str] = []
    spans: list[tuple[int, int]] = []
    last = shift = 0
    for start, end, word_spans in _linked_words(text, False):
        word = text[start:end]
        parts, at = [], 0
        for s, e in word_spans:
            parts += [word[at:s], replace(word[s:e])]
            at = e
        parts.append(word[at:])
        new = "".join(parts)
        if new != word and (_SPACE_RE.search(new) or not _host_dot_re().search(new)):
            replaced = replace_urls(text, replace)  # the words change: scan the new text
            return replaced, url_spans(replaced)
        pieces += [text[last:start], new]
        new_start = start + shift
        spans += [(new_start + s, new_start + e) for s, e in _word_spans(new, False)]
        shift += len(new) - len(word)
        last = end
    if not pieces:
        return text, ()
    pieces.append(text[last:])
    return "".join(pieces), tuple(spans)


def masked(text: str, spans: tuple[tuple[int, int], ...]) -> str:
    """Text with the links at `spans` (its `url_spans`) replaced by as many spaces."""
    if not spans:
        return text
    pieces, last = [], 0
    for start, end in spans:
        pieces += [text[last:start], " " * (end - start)]
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def mask_urls(text: str) -> str:
    """Text with every link replaced by as many spaces, so word checks skip links."""
    return masked(text, url_spans(text))


def pieces(text: str) -> list[tuple[str, bool]]:
    """Text cut into (piece, is_link) in order, for turning links into markup."""
    out: list[tuple[str, bool]] = []
    last = 0
    for start, end in url_spans(text):
        if start > last:
            out.append((text[last:start], False))
        out.append((text[start:end], True))
        last = end
    if last < len(text):
        out.append((text[last:], False))
    return out


def linkify(text: str, *, rel: str | None = None) -> Markup:
    """The text escaped for HTML, each http(s) link in it an <a>: one rule for where a link ends
    on the site, in e-mail, on WordPress and in the workspace's preview."""
    extra = f' rel="{escape(rel)}"' if rel else ""
    return Markup(
        "".join(
            f'<a href="{escape(piece)}"{extra}>{escape(piece)}</a>'
            if is_link and safe_link(piece)  # the grammar finds http(s) only; links.py agrees
            else escape(piece)
            for piece, is_link in pieces(text)
        )
    )


# ---------------------------------------------------------------------------------------------
# Counting

_GRAPHEME_RE = regex.compile(r"\X")
_EMOJI_RE = regex.compile(
    r"[\p{Emoji_Presentation}\p{Regional_Indicator}\uFE0F\u20E3]"
    r"|\p{Extended_Pictographic}[\p{Emoji_Modifier}\u200D]"
)
_EMOJI_ANY_RE = regex.compile(
    r"[\p{Emoji_Presentation}\p{Regional_Indicator}\uFE0F\u20E3\p{Extended_Pictographic}]"
)
# twitter-text config v3: code points in these ranges weigh 1, all others 2; an emoji weighs 2
X_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
X_URL_LENGTH = 23
_X_HEAVY_RE = regex.compile(
    "[^" + "".join(f"\\u{low:04x}-\\u{high:04x}" for low, high in X_LIGHT_RANGES) + "]"
)


def _x_weight(char: str) -> int:
    code = ord(char)
    return 1 if any(low <= code <= high for low, high in X_LIGHT_RANGES) else 2


def _x_weighted(text: str) -> int:
    """Weighted length of text without links: an emoji weighs 2, a code point 1 or 2."""
    if not text or max(text) <= "\u10ff":
        return len(text)  # exact: these all weigh 1, and no emoji lies this low
    if not _EMOJI_ANY_RE.search(text):
        return len(text) + len(_X_HEAVY_RE.findall(text))  # exact: no emoji, code points only
    total = 0
    for cluster in _GRAPHEME_RE.findall(text):
        if _EMOJI_RE.search(cluster):
            total += 2
        else:
            total += sum(_x_weight(char) for char in cluster)
    return total


def _without(text: str, spans: tuple[tuple[int, int], ...]) -> str:
    rest, last = [], 0
    for start, end in spans:
        rest.append(text[last:start])
        last = end
    rest.append(text[last:])
    return "".join(rest)


def x_length(text: str, url_length: int = X_URL_LENGTH) -> int:
    """Weighted length as X counts it (twitter-text v3): every link, bare or not, 23."""
    text = unicodedata.normalize("NFC", text)
    spans = url_spans(text, bare=True)
    return _x_weighted(_without(text, spans)) + url_length * len(spans)


def graphemes(text: str) -> int:
    """User-perceived characters (extended grapheme clusters) of the NFC text."""
    return len(_GRAPHEME_RE.findall(unicodedata.normalize("NFC", text)))


def length(text: str, rule: TextRule) -> int:
    """Length of text as the rule counts it, in the unit of its `max_length`; NFC first."""
    text = unicodedata.normalize("NFC", text)
    if rule.counting == "x":
        return x_length(text, rule.url_length or X_URL_LENGTH)
    if rule.counting == "mastodon":
        spans = url_spans(text)
        return len(_without(text, spans)) + (rule.url_length or 0) * len(spans)
    if rule.counting == "graphemes":
        return len(_GRAPHEME_RE.findall(text))
    return len(text)


def surely_fits(text: str, rule: TextRule) -> bool:
    """True when text is within the rule's max_length without counting it the service's way.

    Exact, never a guess: for "chars" and "graphemes" the code points of the NFC text are the
    count or an upper bound on it, so a text within the limit in code points needs no grapheme
    scan. X and Mastodon count every link as 23 whatever its length: no such bound.
    """
    if rule.max_length is None or rule.counting not in ("chars", "graphemes"):
        return False
    return len(unicodedata.normalize("NFC", text)) <= rule.max_length


def utf8_size(text: str) -> int:
    """Bytes of the NFC text in UTF-8 (Bluesky's second limit)."""
    return len(unicodedata.normalize("NFC", text).encode("utf-8"))
