"""Who may do what in the workspace: one pure table of role × action × state × ownership ×
organisation, decided without I/O so every page, form and API call asks the same question.

Read the table `RULES` from the top: a row grants an action to a role and every role above it,
for posts in the listed states (all states when `states` is None). Then three checks narrow it:

- organisation: an organisation-bound action on a post of another organisation is refused. An
  actor with no organisation works for all of them; an admin is never bound (an admin can make
  any account anyway). A post whose channel has no organisation is open to every actor.
- ownership: `own_only` rows grant the action only on posts the actor wrote.
- four eyes: nobody approves a post they wrote or last edited (`four_eyes=False` for a team of one).

`decide` without a post answers "may this role ever do this" (to show or hide a button); the
server asks again with the post's facts before it acts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """The four roles, from least to most trusted."""

    VIEWER = "viewer"
    EDITOR = "editor"
    APPROVER = "approver"
    ADMIN = "admin"


class Action(StrEnum):
    """Everything a person can ask the workspace to do."""

    VIEW = "view"
    COMPOSE = "compose"
    EDIT = "edit"
    PLAN = "plan"
    IMPORT = "import"
    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    RESCHEDULE = "reschedule"
    CANCEL = "cancel"
    SETTLE = "settle"
    PAUSE = "pause"  # the crisis pause: stop every scheduled post, and lift the stop
    RELEASE = "release"  # publish a post held by a crisis pause late
    MANAGE_USERS = "manage_users"
    MANAGE_CHANNELS = "manage_channels"
    VIEW_AUDIT = "view_audit"


@dataclass(frozen=True)
class Actor:
    """The signed-in person; `organisation` None means all organisations."""

    username: str
    role: Role
    organisation: str | None


@dataclass(frozen=True)
class PostFacts:
    """What the rules need to know of a post (for COMPOSE: the channel's organisation)."""

    organisation: str | None
    author: str | None
    last_editor: str | None
    state: str


@dataclass(frozen=True)
class Verdict:
    """Allowed or not, and why (in Danish, fit to show the person)."""

    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.APPROVER: 2, Role.ADMIN: 3}

ROLE_NAMES = {
    Role.VIEWER: "læser",
    Role.EDITOR: "redaktør",
    Role.APPROVER: "godkender",
    Role.ADMIN: "administrator",
}

ACTION_NAMES = {
    Action.VIEW: "se opslag",
    Action.COMPOSE: "skrive opslag",
    Action.EDIT: "redigere opslag",
    Action.PLAN: "planlægge kampagner",
    Action.IMPORT: "importere opslag",
    Action.SUBMIT: "sende opslag til godkendelse",
    Action.APPROVE: "godkende opslag",
    Action.REJECT: "afvise opslag",
    Action.RESCHEDULE: "flytte opslag",
    Action.CANCEL: "annullere opslag",
    Action.SETTLE: "afgøre uvisse opslag",
    Action.PAUSE: "stoppe alle udgivelser",
    Action.RELEASE: "udgive tilbageholdte opslag",
    Action.MANAGE_USERS: "administrere brugere",
    Action.MANAGE_CHANNELS: "administrere kanaler",
    Action.VIEW_AUDIT: "se revisionsloggen",
}

STATE_NAMES = {
    "draft": "kladde",
    "queued": "godkendt",
    "publishing": "under udgivelse",
    "published": "udgivet",
    "failed": "fejlet",
    "unknown": "uvis",
    "missed": "ikke nået",
    "cancelled": "annulleret",
    "rejected": "afvist",
    "expired": "udløbet",
    "held": "tilbageholdt",
}

_BEFORE_APPROVAL = frozenset({"draft", "rejected", "expired"})
_APPROVED = frozenset({"queued", "held"})  # approved, not yet publishing (held: by a pause)


@dataclass(frozen=True)
class Rule:
    """One row of the table: `role` and the roles above it may do `action` on posts in `states`."""

    action: Action
    role: Role
    states: frozenset[str] | None = None  # None: any state, or no post at all
    org_bound: bool = False
    own_only: bool = False  # only on posts the actor wrote
    four_eyes: bool = False  # never on a post the actor wrote or last edited


RULES: tuple[Rule, ...] = (
    Rule(Action.VIEW, Role.VIEWER),
    Rule(Action.COMPOSE, Role.EDITOR, org_bound=True),
    Rule(Action.EDIT, Role.EDITOR, _BEFORE_APPROVAL | {"queued"}, org_bound=True),
    Rule(Action.SUBMIT, Role.EDITOR, frozenset({"draft"}), org_bound=True),
    Rule(Action.PLAN, Role.EDITOR),
    Rule(Action.IMPORT, Role.EDITOR),
    Rule(Action.RESCHEDULE, Role.EDITOR, _BEFORE_APPROVAL, org_bound=True),
    Rule(Action.RESCHEDULE, Role.APPROVER, _BEFORE_APPROVAL | _APPROVED, org_bound=True),
    Rule(Action.CANCEL, Role.EDITOR, _BEFORE_APPROVAL, org_bound=True, own_only=True),
    Rule(Action.CANCEL, Role.APPROVER, _BEFORE_APPROVAL | _APPROVED, org_bound=True),
    Rule(Action.APPROVE, Role.APPROVER, frozenset({"draft"}), org_bound=True, four_eyes=True),
    Rule(Action.REJECT, Role.APPROVER, frozenset({"draft"}), org_bound=True),
    Rule(Action.SETTLE, Role.APPROVER, frozenset({"unknown"}), org_bound=True),
    # an organisation-bound approver pauses only their organisation (the page checks the scope)
    Rule(Action.PAUSE, Role.APPROVER),
    Rule(Action.RELEASE, Role.APPROVER, frozenset({"held"}), org_bound=True),
    Rule(Action.MANAGE_USERS, Role.ADMIN),
    Rule(Action.MANAGE_CHANNELS, Role.ADMIN),
    Rule(Action.VIEW_AUDIT, Role.ADMIN),
)


def decide(
    actor: Actor, action: Action, post: PostFacts | None = None, *, four_eyes: bool = True
) -> Verdict:
    """May `actor` do `action` (on `post`)? The highest row the actor's role reaches decides."""
    role = Role(actor.role)
    rows = [r for r in RULES if r.action == action and RANK[r.role] <= RANK[role]]
    if not rows:
        return _no(f"Din rolle ({ROLE_NAMES[role]}) må ikke {ACTION_NAMES[action]}.")
    rule = max(rows, key=lambda r: RANK[r.role])
    if post is None:
        return _yes(rule)
    if rule.states is not None and post.state not in rule.states:
        return _no(
            f"Et opslag, der er {_state(post.state)}, kan ikke {_passive(action)} "
            f"(kun når det er {_states(rule.states)})."
        )
    if rule.org_bound and not _same_organisation(actor, post):
        return _no(
            f"Opslaget hører til organisationen {post.organisation}; du kan kun "
            f"{ACTION_NAMES[action]} for {actor.organisation}."
        )
    if rule.own_only and post.author != actor.username:
        return _no(
            f"Som {ROLE_NAMES[role]} kan du kun {ACTION_NAMES[action]}, du selv har skrevet."
        )
    if rule.four_eyes and four_eyes and actor.username in (post.author, post.last_editor):
        return _no(
            "Du har selv skrevet eller sidst redigeret opslaget; en anden skal godkende det "
            "(fire øjne)."
        )
    return _yes(rule)


def _same_organisation(actor: Actor, post: PostFacts) -> bool:
    if Role(actor.role) == Role.ADMIN or actor.organisation is None:
        return True
    return post.organisation is None or post.organisation == actor.organisation


def _yes(rule: Rule) -> Verdict:
    return Verdict(True, f"Tilladt for {ROLE_NAMES[rule.role]}.")


def _no(reason: str) -> Verdict:
    return Verdict(False, reason)


def _state(state: str) -> str:
    return STATE_NAMES.get(state, state)


def _states(states: frozenset[str]) -> str:
    names = [STATE_NAMES.get(s, s) for s in sorted(states)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " eller " + names[-1]


_PASSIVE = {
    Action.VIEW: "ses",
    Action.COMPOSE: "skrives",
    Action.EDIT: "redigeres",
    Action.PLAN: "planlægges",
    Action.IMPORT: "importeres",
    Action.SUBMIT: "sendes til godkendelse",
    Action.APPROVE: "godkendes",
    Action.REJECT: "afvises",
    Action.RESCHEDULE: "flyttes",
    Action.CANCEL: "annulleres",
    Action.SETTLE: "afgøres",
    Action.PAUSE: "stoppes",
    Action.RELEASE: "udgives for sent",
    Action.MANAGE_USERS: "administreres",
    Action.MANAGE_CHANNELS: "administreres",
    Action.VIEW_AUDIT: "ses",
}


def _passive(action: Action) -> str:
    return _PASSIVE[action]
