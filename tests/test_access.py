"""The permission table, from the attacker's side: for every rule, the request that must be
refused next to the one that must pass. Names say the rule."""

from __future__ import annotations

from comms.access import Action, Actor, PostFacts, Role, decide

ANNA = Actor("anna", Role.EDITOR, "kommune")
BO = Actor("bo", Role.APPROVER, "politi")
CARL = Actor("carl", Role.APPROVER, "kommune")


def post(org="kommune", author="anna", last_editor=None, state="draft") -> PostFacts:
    return PostFacts(organisation=org, author=author, last_editor=last_editor, state=state)


def test_approver_of_politi_cannot_approve_a_kommune_post():
    verdict = decide(BO, Action.APPROVE, post("kommune"))
    assert not verdict
    assert "kommune" in verdict.reason
    assert "politi" in verdict.reason


def test_approver_of_kommune_approves_a_kommune_post_someone_else_wrote():
    assert decide(CARL, Action.APPROVE, post("kommune", author="anna"))


def test_nobody_approves_a_post_they_wrote():
    verdict = decide(CARL, Action.APPROVE, post(author="carl"))
    assert not verdict
    assert "fire øjne" in verdict.reason


def test_editor_cannot_approve():
    verdict = decide(ANNA, Action.APPROVE, post(author="dorte"))
    assert not verdict
    assert verdict.reason == "Din rolle (redaktør) må ikke godkende opslag."
