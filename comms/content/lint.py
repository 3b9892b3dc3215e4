"""Checks of a rendered post before it is queued, and UTM tagging of links to our own sites.

Text is counted the way each channel counts it (docs/templates.md, docs/channels.md): X weighs
code points 1 or 2 and every URL as 23; Mastodon counts every URL as 23; Bluesky counts grapheme
clusters and UTF-8 bytes; the rest count characters. Links and counting live in
`comms.content.text`, which the channels use too, so all agree on where a link ends.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import regex

from comms.channels import registry
from comms.config import ReadabilitySettings
from comms.content import text as text_mod
from comms.content.readability import CHECK_OF_CODE
from comms.content.readability import findings as readability_findings
from comms.content.text import TextRule

# ---------------------------------------------------------------------------------------------
# Channel rules: each channel type declares its own (comms.channels.registry)


def _rule(channel_type: str) -> TextRule:
    return registry.text_rule(channel_type.strip().lower())


def text_limit(channel_type: str) -> int | None:
    """The channel's text limit in its own unit, or None when it has none (or is unknown)."""
    return _rule(channel_type).max_length


def text_length(text: str, channel_type: str) -> int:
    """Length of text as the channel counts it, in the unit of `text_limit`."""
    return text_mod.length(text, _rule(channel_type))


def find_urls(text: str) -> list[str]:
    """Every http(s) URL in text, in order, without trailing punctuation."""
    return text_mod.find_urls(text)


def _unit(rule: TextRule, channel_type: str) -> str:
    label = registry.label(channel_type.strip().lower())
    if rule.url_length is not None:
        return f"characters as {label} counts them (URLs count {rule.url_length})"
    if rule.counting == "graphemes":
        return f"characters (graphemes) as {label} counts them"
    return f"characters ({label})"


# ---------------------------------------------------------------------------------------------
# Lint


@dataclass(frozen=True)
class LintProblem:
    """One thing wrong with a rendered post; the message says what to do, for officers."""

    code: str
    message: str
    warning: bool = False  # shown to the officer, but the post may still be queued


# A hashtag: '#' not inside a word, a URL or an HTML entity, with at least one letter.
_HASHTAG_RE = regex.compile(r"(?<![\w&/#])#(?=\w*[^\W\d_])\w+")


def find_hashtags(text: str) -> list[str]:
    """Every hashtag in text (outside URLs), in order, duplicates included."""
    return [m.group() for m in _HASHTAG_RE.finditer(_mask_urls(text))]


_mask_urls = text_mod.mask_urls
_DEFAULT_READABILITY = ReadabilitySettings()


_NON_WORD_RE = regex.compile(r"[\W_]+")
_WEB_IMAGE_RE = regex.compile(r"(?i)^https?://")  # a web address, not a file name


def _loose(text: str) -> str:
    """File name or alt text reduced to lower-case words, to compare them."""
    return " ".join(_NON_WORD_RE.split(text.casefold())).strip()


def _image_name(image: str) -> PurePosixPath:
    path = urlsplit(image).path if _WEB_IMAGE_RE.match(image) else image
    return PurePosixPath(unquote(path).replace("\\", "/"))


def _alt_problems(image: str | None, alt: str | None) -> list[LintProblem]:
    if not image or not image.strip():
        return []
    return list(_alt_problems_of(image, alt))


@functools.lru_cache(maxsize=1024)  # a plan checks the same image and alt for many posts
def _alt_problems_of(image: str, alt: str | None) -> tuple[LintProblem, ...]:
    name = _image_name(image.strip())
    if alt is None or not alt.strip():
        return (
            LintProblem(
                "alt-missing",
                f"image {name.name} has no alt text: describe what the picture shows "
                "for people who use a screen reader",
            ),
        )
    said = _loose(alt)
    if said in {_loose(name.name), _loose(name.stem)} or not said:
        return (
            LintProblem(
                "alt-is-file-name",
                f"the alt text of image {name.name} only repeats its file name: describe what "
                "the picture shows",
            ),
        )
    return ()


@functools.lru_cache(maxsize=512)  # the same brand phrases for every post of a plan
def _phrase_re(phrase: str, *, ignore_case: bool) -> regex.Pattern[str]:
    words = [regex.escape(word) for word in phrase.split()]
    flags = regex.IGNORECASE if ignore_case else 0
    return regex.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", flags)


def _wrong_spellings(text: str, wrong: str, right: str) -> list[str]:
    """Occurrences of `wrong` (any case, whole phrase) that are not the right spelling itself."""
    return _wrong_in(_brand_text(text), wrong, right)


def _brand_text(text: str) -> str:
    """Text as brand checks search it: URLs masked, NFC. Done once per text, not per phrase."""
    return unicodedata.normalize("NFC", _mask_urls(text))


@functools.lru_cache(maxsize=512)
def _pair_res(wrong: str, right: str) -> tuple[regex.Pattern[str], regex.Pattern[str]] | None:
    """The patterns of one brand rule (wrong any case, right as written), NFC; None if blank."""
    wrong, right = unicodedata.normalize("NFC", wrong), unicodedata.normalize("NFC", right)
    if not wrong.split():
        return None
    return _phrase_re(wrong, ignore_case=True), _phrase_re(right, ignore_case=False)


def _wrong_in(text: str, wrong: str, right: str) -> list[str]:
    """`_wrong_spellings` of a text already prepared by `_brand_text`."""
    patterns = _pair_res(wrong, right)
    if patterns is None:
        return []
    wrong_re, right_re = patterns
    first = wrong_re.search(text)
    if first is None:
        return []
    right_spans = [m.span() for m in right_re.finditer(text)]
    found = []
    for match in wrong_re.finditer(text, first.start()):
        start, end = match.span()
        if any(s <= start and end <= e for s, e in right_spans):
            continue
        found.append(match.group())
    return found


@functools.lru_cache(maxsize=64)
def _any_wrong_re(wrongs: tuple[str, ...]) -> regex.Pattern[str] | None:
    """One pattern matching wherever any of the wrong spellings matches (a pre-check)."""
    phrases = [unicodedata.normalize("NFC", w) for w in wrongs]
    parts = [_phrase_re(p, ignore_case=True).pattern for p in phrases if p.split()]
    return regex.compile("|".join(f"(?:{p})" for p in parts), regex.IGNORECASE) if parts else None


def _brand_problems(
    text: str, title: str | None, brand: Mapping[str, str], *, masked: str | None = None
) -> list[LintProblem]:
    """The brand problems of a post; `masked`: its text with the links masked, if known."""
    if not brand:
        return []
    prepared = _brand_text(text) if masked is None else unicodedata.normalize("NFC", masked)
    return list(_brand_problems_of(prepared, _brand_text(title or ""), tuple(brand.items())))


@functools.lru_cache(maxsize=1024)  # one step's posts on several channels differ in links only
def _brand_problems_of(
    text: str, title: str, brand: tuple[tuple[str, str], ...]
) -> tuple[LintProblem, ...]:
    """The brand problems of a text and title prepared by `_brand_text` (links masked)."""
    problems: list[LintProblem] = []
    prepared = (("text", text), ("title", title))
    # exact shortcut: where no wrong spelling matches at all, there is nothing to report
    anywhere = _any_wrong_re(tuple(wrong for wrong, _ in brand))
    if anywhere is None or not any(anywhere.search(content) for _, content in prepared):
        return ()
    for wrong, right in brand:
        places = [where for where, content in prepared if _wrong_in(content, wrong, right)]
        if places:
            problems.append(
                LintProblem(
                    "brand-spelling",
                    f'write "{right}", not "{wrong}" (found in the {" and ".join(places)})',
                )
            )
    return tuple(problems)


def lint_post(
    *,
    text: str,
    title: str | None,
    channel_type: str,
    image: str | None,
    alt: str | None,
    brand: Mapping[str, str],
    readability: ReadabilitySettings | None = None,
    links: tuple[tuple[int, int], ...] | None = None,
) -> list[LintProblem]:
    """Everything wrong with a rendered post for one channel type, and the readability warnings
    (comms.content.readability, by `readability`: the config's `[lint]`, else its defaults).
    `links`: where the links of `text` are (text.url_spans), when the caller knows already.

    The post may be queued when no problem is an error (`errors_of`); warnings are for the
    officer to see.
    """
    rule = _rule(channel_type)
    label = registry.label(channel_type.strip().lower())
    problems: list[LintProblem] = []
    if rule.max_length is not None and not text_mod.surely_fits(text, rule):
        length = text_length(text, channel_type)
        if length > rule.max_length:
            problems.append(
                LintProblem(
                    "text-too-long",
                    f"text is {length} of {rule.max_length} {_unit(rule, channel_type)}: "
                    f"shorten it by {length - rule.max_length}",
                )
            )
    if rule.max_bytes is not None:
        size = text_mod.utf8_size(text)
        if size > rule.max_bytes:
            problems.append(
                LintProblem(
                    "text-too-many-bytes",
                    f"text is {size} of {rule.max_bytes} bytes (UTF-8) as {label} counts them: "
                    f"shorten it by {size - rule.max_bytes} bytes",
                )
            )
    masked = (
        _mask_urls(text) if links is None else text_mod.masked(text, links)
    )  # once: hashtags, brand names and readability skip the links
    if rule.max_hashtags is not None:
        count = len(_HASHTAG_RE.findall(masked))
        if count > rule.max_hashtags:
            problems.append(
                LintProblem(
                    "too-many-hashtags",
                    f"text has {count} hashtags, {label} allows {rule.max_hashtags}: "
                    f"remove {count - rule.max_hashtags}",
                )
            )
    if rule.image_required and not (image and image.strip()):
        problems.append(
            LintProblem(
                "image-missing",
                f"{label} posts need an image: add one (with alt text) to the step",
            )
        )
    alt_problems = _alt_problems(image, alt)
    problems.extend(alt_problems)
    problems.extend(_brand_problems(text, title, brand, masked=masked))
    rules = readability or _DEFAULT_READABILITY
    # an alt text already refused (missing, the file name) is not judged again
    judged = None if alt_problems else image
    for code, message in readability_findings(text, judged, alt, rules, masked=masked):
        problems.append(LintProblem(code, message, warning=CHECK_OF_CODE[code] not in rules.errors))
    return problems


def errors_of(problems: Sequence[LintProblem]) -> list[LintProblem]:
    """The problems that stop a post from being queued."""
    return [p for p in problems if not p.warning]


def warnings_of(problems: Sequence[LintProblem]) -> list[LintProblem]:
    """The problems an officer is told about, but that do not stop the post."""
    return [p for p in problems if p.warning]


# ---------------------------------------------------------------------------------------------
# UTM tagging

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign")


@functools.lru_cache(maxsize=1024)
def _host_key(host: str) -> str:
    """A host name in one comparable form: lower-case, no trailing dot, IDNA-encoded."""
    host = host.strip().strip(".").lower()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


@functools.lru_cache(maxsize=1024)
def _domain_key(domain: str) -> str:
    domain = domain.strip()
    if "://" in domain:
        domain = urlsplit(domain).hostname or ""
    return _host_key(domain.split("/", 1)[0])


def _is_own(host: str, domains: Sequence[str]) -> bool:
    host = _host_key(host)
    for domain in domains:
        key = _domain_key(domain)
        if key and (host == key or host.endswith("." + key)):
            return True
    return False


def tag_url(url: str, *, domains: Sequence[str], source: str, medium: str, campaign: str) -> str:
    """url with the missing UTM parameters added when its host is one of `domains` (or below).

    Existing query parameters and the fragment are kept as written; an existing utm_ parameter
    is never overwritten; a URL on another host comes back unchanged.
    """
    return _tag_url(url, tuple(domains), source, medium, campaign)


@functools.lru_cache(maxsize=4096)  # a plan tags the same few links for every post of a step
def _tag_url(url: str, domains: tuple[str, ...], source: str, medium: str, campaign: str) -> str:
    if _names_every_utm_key(url):
        return url  # exact: with nothing to add, every branch below gives the url back
    place = _tag_place(url, domains)
    if place is None:
        return url
    base, query, present, rest = place
    values = {"utm_source": source, "utm_medium": medium, "utm_campaign": campaign}
    added = [f"{key}={_quoted(values[key])}" for key in UTM_KEYS if key not in present]
    if not added:
        return url
    return f"{base}?{query}{'&'.join(added)}{rest}"


_UTM_KEY_SET = frozenset(UTM_KEYS)


@functools.lru_cache(maxsize=1024)  # the same few sources, media and campaigns for every link
def _quoted(value: str) -> str:
    return quote(value, safe="")


def _names_every_utm_key(url: str) -> bool:
    """True when the url's query names every UTM key as written (a link tagged before).

    The names are compared raw: one without `%` or `+` is what parse_qsl decodes it to, so
    a raw match is a match after decoding too (a miss falls through to the full check).
    """
    query = url.partition("#")[0].partition("?")[2]
    if "utm_" not in query:
        return False
    return {piece.partition("=")[0] for piece in query.split("&")} >= _UTM_KEY_SET


@functools.lru_cache(maxsize=1024)  # per link: the same link is tagged for every channel
def _tag_place(url: str, domains: tuple[str, ...]) -> tuple[str, str, frozenset[str], str] | None:
    """Where UTM parameters go in a link to our own sites: (the part before `?`, the query
    ready for more, the keys it has, `#` and the fragment); None for a link left as it is."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or not _is_own(host, domains):
        return None
    without_fragment, hash_sign, fragment = url.partition("#")
    base, _, query = without_fragment.partition("?")
    present = frozenset(key for key, _ in parse_qsl(query, keep_blank_values=True))
    if not parts.path:
        base += "/"
    if query and not query.endswith("&"):
        query += "&"
    return base, query, present, f"{hash_sign}{fragment}"


def add_utm(text: str, *, domains: Sequence[str], source: str, medium: str, campaign: str) -> str:
    """text with every http(s) link to one of `domains` tagged by `tag_url`; idempotent."""
    return text_mod.replace_urls(
        text,
        lambda url: tag_url(url, domains=domains, source=source, medium=medium, campaign=campaign),
    )


def add_utm_and_links(
    text: str, *, domains: Sequence[str], source: str, medium: str, campaign: str
) -> tuple[str, tuple[tuple[int, int], ...]]:
    """`add_utm`, and where the links of the tagged text are (text.url_spans), for lint_post:
    a plan tags and then lints every post, and the tagged links are known without a new scan."""
    domain_tuple = tuple(domains)
    return text_mod.replace_urls_and_spans(
        text, lambda url: _tag_url(url, domain_tuple, source, medium, campaign)
    )
