"""The link of a step that links to a page an earlier step publishes (`link_from = "STEP.CHANNEL"`).

That page's address exists only once the page is out, but the post is planned, linted and
approved long before. So the planned text carries a placeholder address where `{{ link }}` stood:
a real-looking URL on `example.com` (reserved, RFC 2606: never anyone's site), which every
counter and linkifier treats as a link, and which names the page it stands for. People are
shown a sentence instead of it (`describe`); the daemon puts the page's published address in
its place when it claims the post (`fill`), so the approved text is the text that goes out, with
only the address filled in. Pure: no database, no configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, unquote

from comms.content.text import find_urls

PLACEHOLDER_ORIGIN = "https://link-fra.example.com/"

# What lint counts in place of the placeholder: a page address as long as a news page's with its
# UTM tags usually is, so a text that fits with it fits with the real one (X and Mastodon count
# any link as 23 anyway).
STAND_IN_URL = (
    "https://www.example.com/nyheder/2026/"
    + "x" * 40
    + ("?utm_source=kanal&utm_medium=social&utm_campaign=kampagne")
)


def source_text(step: str, channel: str) -> str:
    """How a source is written in a campaign file and shown to people: `nyhed.hjemmeside`."""
    return f"{step}.{channel}"


def placeholder(step: str, channel: str) -> str:
    """The address planned in place of the page `step` publishes on `channel`."""
    return PLACEHOLDER_ORIGIN + quote(source_text(step, channel), safe="")


def placeholder_source(url: str | None) -> str | None:
    """`STEP.CHANNEL` of a placeholder address; None for any other address."""
    if not url or not url.startswith(PLACEHOLDER_ORIGIN):
        return None
    return unquote(url.removeprefix(PLACEHOLDER_ORIGIN)) or None


def _placeholders(text: str) -> list[str]:
    """Every placeholder address in `text`, found as links are (trailing punctuation left out)."""
    if PLACEHOLDER_ORIGIN not in text:
        return []
    return [url for url in find_urls(text) if url.startswith(PLACEHOLDER_ORIGIN)]


def _replace(text: str, replacement: Callable[[str], str]) -> str:
    """`text` with each placeholder replaced by `replacement(placeholder)` (longest first)."""
    if PLACEHOLDER_ORIGIN not in text:  # nearly every text: shown as it is
        return text
    for address in sorted(set(_placeholders(text)), key=len, reverse=True):
        text = text.replace(address, replacement(address))
    return text


def fill(text: str, url: str) -> str:
    """The text with every placeholder replaced by the published page's (tagged) address."""
    return _replace(text, lambda _address: url)


def describe(text: str) -> str:
    """The text as people see it before the page is out: the placeholder said in words."""
    return _replace(text, lambda address: waiting_words(placeholder_source(address) or "?"))


def waiting_words(source: str) -> str:
    """ "(link til nyhed.hjemmeside, når den er udgivet)"."""
    return f"(link til {source}, når den er udgivet)"


def for_lint(text: str) -> str:
    """The text as lint should count it: a page address of a usual length in each placeholder."""
    return _replace(text, lambda _address: STAND_IN_URL)


def has_placeholder(text: str | None) -> bool:
    return bool(text) and PLACEHOLDER_ORIGIN in str(text)


def placeholder_kept(
    old_text: str, new_text: str, old_link: str | None, new_link: str | None
) -> str | None:
    """Why an edit may not be saved as it stands (Danish, for the person editing), or None.

    The placeholder is the only record of where the earlier page's address goes: an edit that
    drops it would send the post without the link the approver saw, and one that changes it
    would name a page no step publishes (so nothing would ever fill it in). So every placeholder
    of the old text must stay, word for word, and none may be added; a link field holding one
    must keep it. `new_link` None means "unchanged".
    """
    before, after = set(_placeholders(old_text)), set(_placeholders(new_text))
    lost = sorted(before - after)
    if lost:
        source = placeholder_source(lost[0]) or "?"
        return (
            f"Teksten skal beholde adressen {lost[0]}: den står for linket til {source} og "
            "bliver skiftet ud med sidens rigtige adresse, når den er udgivet. Sæt den ind "
            "igen, præcis som den stod."
        )
    added = sorted(after - before)
    if added:
        return (
            f"Adressen {added[0]} kan ikke skrives ind i hånden: link-fra.example.com-adresser "
            "sætter comms selv, når et kampagnetrin linker til en tidligere side."
        )
    if has_placeholder(old_link) and new_link is not None and new_link != old_link:
        source = placeholder_source(old_link) or "?"
        return (
            f"Linket skal blive stående som {old_link}: det står for adressen på {source} og "
            "bliver udfyldt, når siden er udgivet."
        )
    if not has_placeholder(old_link) and has_placeholder(new_link):
        return (
            "En link-fra.example.com-adresse kan ikke skrives ind i hånden: comms sætter den "
            "selv, når et kampagnetrin linker til en tidligere side."
        )
    return None
