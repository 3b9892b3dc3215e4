"""The Danish words the pages use for states, roles, actions and attempt outcomes."""

from __future__ import annotations

STATE_NAMES = {
    "draft": "kladde",
    "rejected": "afvist",
    "queued": "godkendt",
    "publishing": "udgives nu",
    "published": "udgivet",
    "failed": "fejlet",
    "unknown": "uvis (afstemmes)",
    "missed": "ikke udgivet (for sent)",
    "expired": "udløbet",
    "held": "tilbageholdt (krisestop)",
    "cancelled": "annulleret",
}
ROLE_NAMES = {
    "viewer": "læser",
    "editor": "redaktør",
    "approver": "godkender",
    "admin": "administrator",
}
ACTION_NAMES = {
    "plan": "planlagt",
    "import": "importeret",
    "compose": "skrevet",
    "edit": "redigeret",
    "submit": "sendt til godkendelse",
    "approve": "godkendt",
    "reject": "afvist",
    "reschedule": "flyttet",
    "cancel": "annulleret",
    "missed": "ikke udgivet (for sent)",
    "expired": "udløbet",
    "publish": "udgivet",
    "published": "udgivet",
    "failed": "fejlet",
    "unknown": "uvis",
    "resolve:published": "afstemt: udgivet",
    "resolve:queued": "afstemt: sendes igen",
    "resolve:failed": "afstemt: fejlet",
    "pause-channel": "kanal sat på pause",
    "crisis-pause": "krisestop: alle udgivelser stoppet",
    "crisis-resume": "krisestop ophævet",
    "hold": "tilbageholdt (krisestop)",
    "release-held": "udgivet for sent efter krisestop",
    "resume-channel": "kanal genoptaget",
    "user:add": "bruger oprettet",
    "user:disable": "bruger spærret",
    "user:enable": "bruger genåbnet",
    "user:reset-password": "adgangskode nulstillet",
    "user:set-role": "rolle ændret",
    "calendar-feed:create": "kalenderadresse lavet",
    "calendar-feed:renew": "kalenderadresse fornyet",
    "calendar-feed:revoke": "kalenderadresse trukket tilbage",
    "login": "logget ind",
    "logout": "logget ud",
}
OUTCOME_NAMES = {
    None: "i gang",
    "": "i gang",
    "published": "udgivet",
    "transient": "midlertidig fejl (prøves igen)",
    "rate_limited": "for mange kald (venter)",
    "rate-limited": "for mange kald (venter)",
    "rejected": "afvist af kanalen",
    "permanent": "afvist af kanalen",
    "auth": "adgangen svigtede (kanalen er sat på pause)",
    "unknown": "uvist om det kom ud",
    "lost": "afbrudt (lejemålet udløb)",
    "released": "lagt tilbage i køen",
    "exhausted": "opgivet efter for mange forsøg",
}
SETTLE_NAMES = {
    "published": "Det er udgivet (det ligger på kanalen)",
    "queued": "Det kom ikke ud: send det igen",
    "failed": "Det kom ikke ud: giv op",
}


def action_name(action: str) -> str:
    """The Danish name of an audit action, or the action itself when it has none."""
    return ACTION_NAMES.get(action, action)


def outcome_name(outcome: str | None) -> str:
    return OUTCOME_NAMES.get(outcome, outcome or "i gang")


def lint_message(
    code: str, message: str, *, length: int | None = None, limit: int | None = None
) -> str:
    """A lint finding in Danish for officers (content/lint.py words them in English for the CLI)."""
    import re

    if code == "text-too-long" and length is not None and limit is not None:
        return f"Teksten er {length} af {limit} tegn: forkort den med {length - limit}."
    if code == "brand-spelling":
        found = re.match(r'write "(.+)", not "(.+)" \(found in the (.+)\)', message)
        if found:
            right, wrong, where = found.groups()
            places = (
                where.replace("text", "teksten").replace("title", "titlen").replace(" and ", " og ")
            )
            return f"Skriv »{right}«, ikke »{wrong}« (i {places})."
    return LINT_NAMES.get(code, message)


LINT_NAMES = {
    "text-too-long": "Teksten er for lang til kanalen: forkort den.",
    "text-too-many-bytes": "Teksten fylder for mange bytes, som kanalen tæller: forkort den.",
    "too-many-hashtags": "Teksten har flere hashtags, end kanalen tillader: fjern nogle.",
    "image-missing": "Kanalen kræver et billede med alt-tekst.",
    "alt-missing": "Billedet mangler alt-tekst: beskriv, hvad billedet viser, for dem der "
    "bruger skærmlæser.",
    "alt-is-file-name": "Alt-teksten gentager kun filnavnet: beskriv, hvad billedet viser.",
}
