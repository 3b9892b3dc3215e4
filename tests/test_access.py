"""The permission table, from the attacker's side: for each rule, the request that must be
refused next to the one that must pass, and a sweep over every role × action × state ×
own/other post × same/other/no organisation × four eyes on/off for what must never happen.

comms.access is pure: these tests need no database and no web app. The web app asks `decide`
for every request, so a rule that holds here holds behind every button, hidden or not."""

from __future__ import annotations

import itertools

import pytest

from comms.access import RULES, Action, Actor, PostFacts, Role, Verdict, decide
from comms.store.models import ALL_STATES

ANNA = Actor("anna", Role.EDITOR, "kommune")
ERIK = Actor("erik", Role.EDITOR, "politi")
VERA = Actor("vera", Role.VIEWER, "kommune")
BO = Actor("bo", Role.APPROVER, "politi")
CARL = Actor("carl", Role.APPROVER, "kommune")
GUNN = Actor("gunn", Role.APPROVER, None)  # approves for every organisation
ADA = Actor("ada", Role.ADMIN, "region")

POST_ACTIONS = (
    Action.EDIT,
    Action.SUBMIT,
    Action.APPROVE,
    Action.REJECT,
    Action.RESCHEDULE,
    Action.CANCEL,
    Action.SETTLE,
)


def post(org="kommune", author="anna", last_editor=None, state="draft") -> PostFacts:
    return PostFacts(organisation=org, author=author, last_editor=last_editor, state=state)


# --- viewer -----------------------------------------------------------------------------------


def test_viewer_reads_posts_of_every_organisation():
    assert decide(VERA, Action.VIEW, post("politi"))
    assert decide(VERA, Action.VIEW)


@pytest.mark.parametrize("action", [a for a in Action if a != Action.VIEW])
def test_viewer_can_do_nothing_but_read(action):
    verdict = decide(VERA, action, post(author="vera"))
    assert not verdict
    assert verdict.reason.startswith("Din rolle (læser) må ikke")


# --- editor -----------------------------------------------------------------------------------


def test_editor_composes_for_a_channel_of_their_organisation():
    assert decide(ANNA, Action.COMPOSE, post("kommune", author="anna"))


def test_editor_of_kommune_cannot_compose_for_a_politi_channel():
    verdict = decide(ANNA, Action.COMPOSE, post("politi", author="anna"))
    assert not verdict
    assert "politi" in verdict.reason


@pytest.mark.parametrize("state", ["draft", "rejected", "queued", "expired"])
def test_editor_edits_a_draft_rejected_queued_or_expired_post_of_their_organisation(state):
    assert decide(ANNA, Action.EDIT, post(author="someone-else", state=state))


@pytest.mark.parametrize("state", ["publishing", "published", "failed", "unknown", "cancelled"])
def test_nobody_edits_a_post_that_is_publishing_or_history(state):
    for actor in (ANNA, CARL, ADA):
        verdict = decide(actor, Action.EDIT, post(state=state))
        assert not verdict
        assert "kan ikke redigeres" in verdict.reason


def test_editor_of_politi_cannot_edit_a_kommune_post():
    assert not decide(ERIK, Action.EDIT, post("kommune"))


def test_editor_submits_a_draft_of_their_organisation_for_approval_but_nothing_else():
    assert decide(ANNA, Action.SUBMIT, post(author="anna", state="draft"))
    assert not decide(ANNA, Action.SUBMIT, post(author="anna", state="queued"))
    assert not decide(ERIK, Action.SUBMIT, post("kommune", author="erik", state="draft"))
    assert not decide(VERA, Action.SUBMIT, post(author="vera", state="draft"))


@pytest.mark.parametrize("action", [Action.PLAN, Action.IMPORT])
def test_editor_plans_and_imports_but_viewer_does_not(action):
    assert decide(ANNA, action)
    assert not decide(VERA, action)


def test_editor_cannot_approve_even_a_post_someone_else_wrote():
    verdict = decide(ANNA, Action.APPROVE, post(author="dorte"))
    assert not verdict
    assert verdict.reason == "Din rolle (redaktør) må ikke godkende opslag."


def test_editor_cannot_reject_or_settle():
    assert not decide(ANNA, Action.REJECT, post(author="dorte"))
    assert not decide(ANNA, Action.SETTLE, post(state="unknown"))


def test_editor_moves_a_draft_but_not_an_approved_post():
    assert decide(ANNA, Action.RESCHEDULE, post(state="draft"))
    assert decide(ANNA, Action.RESCHEDULE, post(state="expired"))
    assert not decide(ANNA, Action.RESCHEDULE, post(state="queued"))


def test_editor_cancels_only_their_own_unapproved_post():
    assert decide(ANNA, Action.CANCEL, post(author="anna", state="draft"))
    verdict = decide(ANNA, Action.CANCEL, post(author="dorte", state="draft"))
    assert not verdict
    assert "selv har skrevet" in verdict.reason
    assert not decide(ANNA, Action.CANCEL, post(author="anna", state="queued"))


@pytest.mark.parametrize("action", [Action.MANAGE_USERS, Action.MANAGE_CHANNELS, Action.VIEW_AUDIT])
def test_only_an_admin_manages_users_and_channels_and_reads_the_audit_log(action):
    for actor in (VERA, ANNA, CARL, GUNN):
        assert not decide(actor, action)
    assert decide(ADA, action)


# --- approver ---------------------------------------------------------------------------------


def test_approver_of_politi_cannot_approve_a_kommune_post():
    verdict = decide(BO, Action.APPROVE, post("kommune"))
    assert not verdict
    assert "kommune" in verdict.reason
    assert "politi" in verdict.reason


def test_approver_of_kommune_approves_a_kommune_post_someone_else_wrote():
    assert decide(CARL, Action.APPROVE, post("kommune", author="anna"))


def test_approver_of_politi_cannot_reject_reschedule_cancel_or_settle_a_kommune_post():
    assert not decide(BO, Action.REJECT, post("kommune"))
    assert not decide(BO, Action.RESCHEDULE, post("kommune", state="queued"))
    assert not decide(BO, Action.CANCEL, post("kommune", state="queued"))
    assert not decide(BO, Action.SETTLE, post("kommune", state="unknown"))


def test_approver_without_an_organisation_approves_for_every_organisation():
    assert decide(GUNN, Action.APPROVE, post("politi"))
    assert decide(GUNN, Action.APPROVE, post("region"))


def test_a_post_on_a_channel_without_an_organisation_is_open_to_every_organisation():
    assert decide(BO, Action.APPROVE, post(None))


@pytest.mark.parametrize("state", ["queued", "rejected", "expired", "published", "unknown"])
def test_only_a_draft_can_be_approved(state):
    verdict = decide(CARL, Action.APPROVE, post(state=state))
    assert not verdict
    assert "kun når det er kladde" in verdict.reason


def test_only_a_draft_can_be_rejected():
    assert decide(CARL, Action.REJECT, post(state="draft"))
    assert not decide(CARL, Action.REJECT, post(state="queued"))


def test_approver_moves_and_cancels_an_approved_post_but_not_a_published_one():
    assert decide(CARL, Action.RESCHEDULE, post(state="queued"))
    assert decide(CARL, Action.CANCEL, post(state="queued", author="anna"))
    assert not decide(CARL, Action.RESCHEDULE, post(state="published"))
    assert not decide(CARL, Action.CANCEL, post(state="publishing"))


def test_approver_settles_only_an_unknown_post():
    assert decide(CARL, Action.SETTLE, post(state="unknown"))
    assert not decide(CARL, Action.SETTLE, post(state="failed"))


# --- four eyes --------------------------------------------------------------------------------


def test_nobody_approves_a_post_they_wrote():
    verdict = decide(CARL, Action.APPROVE, post(author="carl"))
    assert not verdict
    assert "fire øjne" in verdict.reason


def test_nobody_approves_a_post_they_last_edited():
    assert not decide(CARL, Action.APPROVE, post(author="anna", last_editor="carl"))


def test_an_admin_does_not_approve_their_own_post_either():
    assert not decide(ADA, Action.APPROVE, post(author="ada"))
    assert decide(ADA, Action.APPROVE, post(author="anna"))


def test_with_four_eyes_off_a_one_person_team_approves_its_own_post():
    assert decide(CARL, Action.APPROVE, post(author="carl", last_editor="carl"), four_eyes=False)


def test_four_eyes_off_lifts_neither_the_organisation_nor_the_role_rule():
    assert not decide(BO, Action.APPROVE, post("kommune", author="bo"), four_eyes=False)
    assert not decide(ANNA, Action.APPROVE, post(author="anna"), four_eyes=False)


def test_four_eyes_concerns_approval_only_an_author_may_reject_or_cancel_their_own():
    assert decide(CARL, Action.REJECT, post(author="carl"))
    assert decide(CARL, Action.CANCEL, post(author="carl"))


# --- admin ------------------------------------------------------------------------------------


def test_admin_is_bound_to_no_organisation():
    for action in POST_ACTIONS:
        state = "unknown" if action == Action.SETTLE else "draft"
        assert decide(ADA, action, post("politi", state=state)), action


# --- the sweep: what must never happen, whatever the combination ------------------------------

ROLES = [Role.VIEWER, Role.EDITOR, Role.APPROVER, Role.ADMIN]
ORGS = ["kommune", "politi", None]


def _every_case():
    for role, org, action, state, own, post_org, four_eyes in itertools.product(
        ROLES, ORGS, list(Action), ALL_STATES, (True, False), ORGS, (True, False)
    ):
        actor = Actor("me", role, org)
        facts = post(post_org, author="me" if own else "other", state=state)
        yield actor, action, facts, four_eyes, decide(actor, action, facts, four_eyes=four_eyes)


CASES = list(_every_case())


def test_the_sweep_covers_every_combination():
    assert len(CASES) == 4 * 3 * len(Action) * len(ALL_STATES) * 2 * 3 * 2


def test_every_verdict_has_a_danish_reason():
    for *_, verdict in CASES:
        assert isinstance(verdict, Verdict)
        assert verdict.reason
        assert verdict.reason[0].isupper()
        assert verdict.reason.endswith(".")
        assert bool(verdict) is verdict.allowed


def test_nobody_with_another_organisation_acts_on_a_post_except_to_read_it():
    for actor, action, facts, _, verdict in CASES:
        foreign = (
            actor.organisation and facts.organisation and actor.organisation != facts.organisation
        )
        if foreign and actor.role != Role.ADMIN and action in (*POST_ACTIONS, Action.COMPOSE):
            assert not verdict, (actor, action, facts)


def test_with_four_eyes_on_no_one_ever_approves_their_own_post():
    for _, action, facts, four_eyes, verdict in CASES:
        if action == Action.APPROVE and four_eyes and facts.author == "me":
            assert not verdict


def test_a_viewer_is_never_allowed_anything_but_reading():
    for actor, action, _, _, verdict in CASES:
        if actor.role == Role.VIEWER and action != Action.VIEW:
            assert not verdict


def test_a_higher_role_may_do_whatever_a_lower_one_may_in_the_same_case():
    allowed = {(a.role, a.organisation, action, f, e) for a, action, f, e, v in CASES if v.allowed}
    for role, org, action, facts, four_eyes in allowed:
        for higher in ROLES[ROLES.index(role) + 1 :]:
            assert (higher, org, action, facts, four_eyes) in allowed, (role, higher, action, facts)


def test_nothing_moves_a_post_that_is_publishing_published_or_cancelled():
    history = ("publishing", "published", "cancelled", "failed", "missed")
    for _, action, facts, _, verdict in CASES:
        if facts.state in history and action in POST_ACTIONS:
            assert not verdict


def test_every_rule_names_an_action_and_a_role_the_enums_have():
    for rule in RULES:
        assert rule.action in Action
        assert rule.role in Role
        assert rule.states is None or rule.states <= set(ALL_STATES)
