"""Signed links in emails: one kind never reads as another, and the secret rotates safely."""

from __future__ import annotations

import pytest

from hireflow.signed_links import (
    CardLinks,
    ContactLinks,
    PaymentLinks,
    SignedLinkExpired,
    SignedLinkInvalid,
    SlotLinks,
    UnlockLinks,
    WithdrawalLinks,
)

OLD = "the-old-link-secret-0001"
NEW = "the-new-link-secret-0002"
SLOT = {"start": "2026-12-07T09:00:00Z", "end": "2026-12-07T10:00:00Z"}


def test_a_link_reads_back_as_what_it_was_made_for():
    slot_links = SlotLinks(NEW, "http://hireflow.test/interviews/slot/")
    link = slot_links.link_for("int_1", SLOT)
    assert link.startswith("http://hireflow.test/interviews/slot/")
    choice = slot_links.read(link.rsplit("/", 1)[1])
    assert (choice.interview_id, choice.slot) == ("int_1", SLOT)


def test_one_kind_of_link_is_never_read_as_another():
    slot_token = SlotLinks(NEW, "http://x").token_for("unl_1", SLOT)
    with pytest.raises(SignedLinkInvalid, match="card link is not valid"):
        CardLinks(NEW, "http://x").read(slot_token)


def test_a_withdrawal_link_is_neither_a_card_link_nor_one_for_another_application():
    card_token = CardLinks(NEW, "http://x").token_for("app_1")
    with pytest.raises(SignedLinkInvalid, match="withdrawal link is not valid"):
        WithdrawalLinks(NEW, "http://x").read(card_token)
    withdrawal = WithdrawalLinks(NEW, "http://x")
    assert withdrawal.read(withdrawal.token_for("app_1")) == "app_1"
    # It outlives an interview's slot links: an application stays open for weeks.
    assert withdrawal.max_age_seconds == 30 * 24 * 3600 > SlotLinks(NEW, "http://x").max_age_seconds


def test_a_contact_link_is_not_a_card_or_payment_link_of_the_same_unlock():
    contact = ContactLinks(NEW, "http://x")
    for other in (CardLinks(NEW, "http://x"), PaymentLinks(NEW, "http://x")):
        with pytest.raises(SignedLinkInvalid, match="contact link is not valid"):
            contact.read(other.token_for("unl_1"))
    assert contact.read(contact.token_for("unl_1")) == "unl_1"
    # The receipt's link stays usable long after the day a payment link lives.
    assert contact.max_age_seconds == 30 * 24 * 3600


def test_an_unlock_link_is_not_a_withdrawal_link_of_the_same_application():
    unlock = UnlockLinks(NEW, "http://x")
    with pytest.raises(SignedLinkInvalid, match="unlock link is not valid"):
        unlock.read(WithdrawalLinks(NEW, "http://x").token_for("app_1"))
    with pytest.raises(SignedLinkInvalid, match="withdrawal link is not valid"):
        WithdrawalLinks(NEW, "http://x").read(unlock.token_for("app_1"))
    assert unlock.read(unlock.token_for("app_1")) == "app_1"
    assert unlock.max_age_seconds == 30 * 24 * 3600


def test_links_mailed_before_a_rotation_still_open_after_it():
    mailed = CardLinks(OLD, "http://x").token_for("unl_1")
    rotated = CardLinks(f"{NEW}, {OLD}", "http://x")
    assert rotated.read(mailed) == "unl_1"
    fresh = rotated.token_for("unl_2")
    # New links are signed with the new secret, so dropping the old one keeps them valid.
    assert CardLinks(NEW, "http://x").read(fresh) == "unl_2"
    with pytest.raises(SignedLinkInvalid):
        CardLinks(OLD, "http://x").read(fresh)
    with pytest.raises(SignedLinkInvalid):
        CardLinks(NEW, "http://x").read(mailed)


def test_an_expired_link_says_so():
    token = SlotLinks(NEW, "http://x", max_age_seconds=-1).token_for("int_1", SLOT)
    with pytest.raises(SignedLinkExpired, match="slot link has expired"):
        SlotLinks(NEW, "http://x", max_age_seconds=-1).read(token)


@pytest.mark.parametrize("secret", ["short", f"{NEW},short", f"{NEW},", ""])
def test_every_secret_must_be_long_enough(secret):
    with pytest.raises(ValueError, match="at least 16 characters"):
        SlotLinks(secret, "http://x")
