"""Is the text something a citizen can read? Warnings for officers, beside the channel's rules.

The checks (docs/templates.md, "Tekst, borgerne kan læse"):

- **LIX**, the Danish readability index: words / sentences + 100 × long words / words, a long
  word having more than six letters. A word is a run of letters; links, hashtags, @names,
  numbers and emoji are not prose and are left out. A sentence ends at `.`, `!`, `?` or `:`
  followed by a capital letter or the end of a line (so "kl. 9" is no sentence end), at a
  line break before a line that starts with a capital or a non-letter (a list, a headline), and
  at the end of the text.
  A text of fewer than `lix_min_words` words is not rated: a handful of words gives a number
  that means nothing.
- **Hashtags in CamelCase**: a screen reader reads #TrygAalborg as two words and #trygaalborg
  as one unreadable one. Without a dictionary comms cannot see where the words of a hashtag
  begin, so the rule is mechanical: a hashtag of `hashtag_min_letters` letters or more written
  all in lower case is a warning (#aalborg is short enough; #TrygAalborg, #Karneval, #SikkerHjem
  and #aalborg2027 are fine).
- **Emoji**: more than `max_emoji` of them. One emoji is one picture however it is encoded: a
  skin tone, a family joined by zero-width joiners, a flag (two regional indicators) and a
  keycap each count once, because they are counted as grapheme clusters (`regex`'s \\X).
- **Alt text that says nothing**: a file name (IMG_1234.jpg), a single word, a word such as
  "billede" or "foto", or the post text repeated (a screen reader then reads it twice).

Each finding is a warning, unless the config's `[lint] errors` names its check; then it stops
the post as the channel's limits do.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import regex

from comms.config import ReadabilitySettings
from comms.content import text as text_mod

# a finding's code -> the check it belongs to, as `[lint] errors` names it
CHECK_OF_CODE = {
    "lix-too-high": "lix",
    "hashtag-not-camelcase": "hashtags",
    "too-many-emoji": "emoji",
    "alt-looks-like-file-name": "alt-text",
    "alt-generic": "alt-text",
    "alt-one-word": "alt-text",
    "alt-repeats-text": "alt-text",
}

LONG_WORD = 6  # a long word has more letters than this

_WORD_RE = regex.compile(r"\p{L}[\p{L}\p{M}]*")
_NOT_PROSE_RE = regex.compile(r"(?<![\w&/])[#@]\w+")  # hashtags and @names
# "kl. 9" and "den 14. januar" go on: only a capital letter (or the line's end) starts anew
_SENTENCE_END_RE = regex.compile(r"[.!?:]+(?=[\"'»”)\]]*(?:\s+\p{Lu}|\s*$))")
_ENDS_SENTENCE_RE = regex.compile(r"[.!?:][\"'»”)\]]*$")
_HASHTAG_RE = regex.compile(r"(?<![\w&/#])#(\w+)")
_GRAPHEME_RE = regex.compile(r"\X")
_EMOJI_RE = regex.compile(
    r"\p{Emoji_Presentation}|\p{Regional_Indicator}|\N{COMBINING ENCLOSING KEYCAP}"
    r"|\p{Extended_Pictographic}(?=.*\N{VARIATION SELECTOR-16})",
    regex.DOTALL,
)
# every character an _EMOJI_RE match can start with (the last branch without its condition)
_EMOJI_CHAR_RE = regex.compile(
    r"[\p{Emoji_Presentation}\p{Regional_Indicator}\N{COMBINING ENCLOSING KEYCAP}"
    r"\p{Extended_Pictographic}]"
)
_FILE_NAME_RE = regex.compile(
    r"(?i)^\S+\.(?:jpe?g|png|gif|webp|heic|heif|tiff?|bmp|svg|avif)$"
    r"|^(?:img|dsc|dscn|dscf|pxl|mvimg|screenshot|skærmbillede)[\s_-]*\d[\w-]*$"
)
GENERIC_ALT = frozenset(
    {
        "billede",
        "billedet",
        "et billede",
        "billede af",
        "foto",
        "fotoet",
        "et foto",
        "foto af",
        "image",
        "picture",
        "photo",
        "illustration",
        "grafik",
        "logo",
    }
)
_LOOSE_RE = regex.compile(r"[\W_]+")


@dataclass(frozen=True)
class Lix:
    """A text's LIX and what it was computed from."""

    words: int
    sentences: int
    long_words: int

    @property
    def value(self) -> float:
        return self.words / self.sentences + 100 * self.long_words / self.words


def prose(text: str) -> str:
    """The text as LIX reads it: links, hashtags and @names taken out."""
    return _NOT_PROSE_RE.sub(" ", text_mod.mask_urls(text))


def count_sentences(text: str) -> int:
    """Sentence ends as the module docstring defines them; at least 1."""
    lines = [line.strip() for line in text.splitlines()]
    count = 0
    for number, line in enumerate(lines):
        if not _WORD_RE.search(line):
            continue
        count += len(_SENTENCE_END_RE.findall(line))
        if _ENDS_SENTENCE_RE.search(line):
            continue  # the line's last sentence is counted already
        following = lines[number + 1] if number + 1 < len(lines) else ""
        if not following or not following[0].islower():
            count += 1
    return max(count, 1)


def lix(text: str) -> Lix | None:
    """The LIX of `text` (its prose only); None when it has no words."""
    return _lix_of_prose(prose(text))


def _lix_of_prose(body: str) -> Lix | None:
    words = _WORD_RE.findall(body)
    if not words:
        return None
    long_words = sum(1 for word in words if len(word) > LONG_WORD)
    return Lix(words=len(words), sentences=count_sentences(body), long_words=long_words)


def lix_level(value: float) -> str:
    """The Danish scale's name for a LIX value."""
    if value < 25:
        return "meget let"
    if value < 35:
        return "let"
    if value < 45:
        return "middel"
    if value < 55:
        return "svær"
    return "meget svær"


def count_emoji(text: str) -> int:
    """Emoji in text, each picture once (a grapheme cluster that is shown as an emoji).

    Counted line by line: a grapheme cluster never reaches over a line break (Unicode breaks
    before and after every control character; CR LF, the one cluster of two, is no emoji), and
    the lines of a plan's posts repeat from post to post, so each line is looked at once.
    """
    if text.isascii():
        return 0  # no ASCII character is in any of _EMOJI_RE's classes
    return sum(_emoji_in_line(line) for line in text.split("\n"))


@functools.lru_cache(maxsize=8192)
def _emoji_in_line(line: str) -> int:
    # exact shortcuts: a line without a character an _EMOJI_RE match can start on has none,
    # and a cluster of ASCII characters only is never one, so only the others are searched
    if line.isascii() or not _EMOJI_CHAR_RE.search(line):
        return 0
    clusters = _GRAPHEME_RE.findall(line)
    return sum(1 for cluster in clusters if not cluster.isascii() and _EMOJI_RE.search(cluster))


def lower_case_hashtags(text: str, min_letters: int) -> list[str]:
    """Hashtags (outside links) of `min_letters` letters or more, all in lower case."""
    return _lower_case_hashtags_in(text_mod.mask_urls(text), min_letters)


def _lower_case_hashtags_in(masked: str, min_letters: int) -> list[str]:
    """`lower_case_hashtags` of a text whose links are masked already."""
    found = []
    for match in _HASHTAG_RE.finditer(masked):
        letters = [c for c in match.group(1) if c.isalpha()]
        if len(letters) >= min_letters and all(c.islower() for c in letters):
            found.append("#" + match.group(1))
    return found


def _loose(text: str) -> str:
    return " ".join(_LOOSE_RE.split(text.casefold())).strip()


def alt_problem(alt: str, text: str) -> tuple[str, str] | None:
    """(code, Danish message) when the alt text says nothing a blind reader can use."""
    said = alt.strip()
    loose = _loose(said)
    if _FILE_NAME_RE.match(said):
        return (
            "alt-looks-like-file-name",
            f"Alt-teksten »{said}« er et filnavn: beskriv, hvad billedet viser.",
        )
    if loose in GENERIC_ALT:
        return (
            "alt-generic",
            f"Alt-teksten »{said}« siger kun, at det er et billede: beskriv, hvad det viser.",
        )
    if len(loose.split()) == 1:
        return (
            "alt-one-word",
            f"Alt-teksten »{said}« er ét ord: beskriv med en sætning, hvad billedet viser.",
        )
    # exact shortcut: a repeated alt text's first word is somewhere in the text's words,
    # which are pieces of the case-folded text
    if loose and loose.split(" ", 1)[0] not in text.casefold():
        return None
    body = _loose(text)
    if loose == body or (len(loose.split()) >= 3 and f" {loose} " in f" {body} "):
        return (
            "alt-repeats-text",
            "Alt-teksten gentager opslagets tekst, så skærmlæseren læser den to gange: "
            "beskriv i stedet, hvad billedet viser.",
        )
    return None


def findings(
    text: str,
    image: str | None,
    alt: str | None,
    rules: ReadabilitySettings,
    *,
    masked: str | None = None,
) -> list[tuple[str, str]]:
    """Every readability finding of a post as (code, Danish message), in a fixed order.

    `masked` is the text with its links masked (text.mask_urls), when the caller has it.
    """
    if masked is None:
        masked = text_mod.mask_urls(text)
    found = list(_prose_findings(masked, rules))
    found += _text_findings(text, bool(image and image.strip()), alt or "", rules)
    return found


@functools.lru_cache(maxsize=2048)  # a plan checks the same few texts for many posts
def _text_findings(
    text: str, has_image: bool, alt: str, rules: ReadabilitySettings
) -> tuple[tuple[str, str], ...]:
    """The findings that read the whole text, links included: emoji, and the alt text."""
    found: list[tuple[str, str]] = []
    emoji = count_emoji(text)
    if emoji > rules.max_emoji:
        found.append(
            (
                "too-many-emoji",
                f"Teksten har {emoji} emoji; højst {rules.max_emoji}: skærmlæsere læser "
                "hver enkelt op med navn.",
            )
        )
    if has_image and alt.strip():
        problem = alt_problem(alt, text)
        if problem is not None:
            found.append(problem)
    return tuple(found)


@functools.lru_cache(maxsize=2048)
def _prose_findings(masked: str, rules: ReadabilitySettings) -> tuple[tuple[str, str], ...]:
    """The LIX and hashtag findings, which read the text with its links masked: the posts of
    one step on several channels differ in their links' UTM tags only, so they share these."""
    found: list[tuple[str, str]] = []
    rated = _lix_of_prose(_NOT_PROSE_RE.sub(" ", masked))
    if rated is not None and rated.words >= rules.lix_min_words and rated.value > rules.lix_warn:
        value = f"{rated.value:.0f}"
        found.append(
            (
                "lix-too-high",
                f"Teksten har LIX {value} ({lix_level(rated.value)}; over {rules.lix_warn:g}): "
                f"brug kortere sætninger og kortere ord ({rated.words} ord, "
                f"{rated.sentences} sætning(er), {rated.long_words} lange ord).",
            )
        )
    tags = _lower_case_hashtags_in(masked, rules.hashtag_min_letters)
    if tags:
        shown = ", ".join(dict.fromkeys(tags))
        found.append(
            (
                "hashtag-not-camelcase",
                f"Skriv hashtags med stort begyndelsesbogstav for hvert ord, så skærmlæsere "
                f"kan læse dem højt (#TrygAalborg, ikke #trygaalborg): {shown}.",
            )
        )
    return tuple(found)
