"""Accounts a code request made and nobody ever confirmed go after a day; any sign that
someone used the account keeps it."""

from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.utils import timezone

from accounts.models import Membership, User
from accounts.services import membership_link
from accounts.signin.services import signin_code_account_ensure, signin_unconfirmed_accounts_purge
from accounts.signin.tasks import signin_unconfirmed_purge_task
from consents.models import Channel
from consents.services import consent_grant
from events.models import Event

from .conftest import SYSTEM

pytestmark = pytest.mark.django_db

DAY = timedelta(hours=24)


@pytest.fixture
def code_sign_up(world):
    """An account a code request for a new address made while serving Acme, ``age`` ago."""

    def make(email: str = "typo@example.org", *, age: timedelta = timedelta(hours=25)) -> User:
        user = signin_code_account_ensure(email=email, tenant=world.acme.tenant)
        User.objects.filter(pk=user.pk).update(date_joined=timezone.now() - age)
        user.refresh_from_db()
        return user

    return make


def test_an_old_unconfirmed_code_sign_up_is_purged(code_sign_up):
    user = code_sign_up()
    EmailAddress.objects.create(user=user, email=user.email, verified=False, primary=True)

    assert signin_unconfirmed_accounts_purge(older_than=DAY) == 1

    assert not User.objects.filter(pk=user.pk).exists()
    assert not Membership.all_tenants.filter(user_id=user.pk).exists()
    assert not EmailAddress.objects.filter(email=user.email).exists()
    # What Acme was told stays told: the outbox is append-only.
    assert Event.all_tenants.filter(type="user.created", subject=str(user.uuid)).count() == 1


def test_the_hourly_task_purges_them_too(code_sign_up):
    user = code_sign_up()

    assert signin_unconfirmed_purge_task.delay().get() == 1
    assert not User.objects.filter(pk=user.pk).exists()


def test_a_recent_unconfirmed_code_sign_up_is_kept(code_sign_up):
    user = code_sign_up(age=timedelta(hours=23))

    assert signin_unconfirmed_accounts_purge(older_than=DAY) == 0
    assert User.objects.filter(pk=user.pk).exists()


def _signed_in(user, world):
    User.objects.filter(pk=user.pk).update(last_login=timezone.now() - timedelta(hours=20))


def _address_proven(user, world):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)


def _email_claim_verified(user, world):
    User.objects.filter(pk=user.pk).update(email_verified=True)


def _password_set(user, world):
    user.set_password("a long and unusual passphrase")
    user.save(update_fields=["password"])


def _consent_given(user, world):
    consent_grant(actor=SYSTEM, user=user, purpose=world.acme.newsletter, channel=Channel.WEB)


def _provider_connected(user, world):
    SocialAccount.objects.create(user=user, provider="google", uid="1101")


def _pushed_by_a_tenant(user, world):
    membership_link(actor=SYSTEM, user=user, tenant=world.bolt.tenant, source=Membership.Source.API)


def _named_by_its_tenant(user, world):
    Membership.all_tenants.filter(user=user).update(external_id="crm-7")


def _deactivated_by_staff(user, world):
    User.objects.filter(pk=user.pk).update(is_active=False)


@pytest.mark.parametrize(
    "sign_of_life",
    [
        _signed_in,
        _address_proven,
        _email_claim_verified,
        _password_set,
        _consent_given,
        _provider_connected,
        _pushed_by_a_tenant,
        _named_by_its_tenant,
        _deactivated_by_staff,
    ],
)
def test_an_old_account_with_any_sign_of_life_is_kept(code_sign_up, world, sign_of_life):
    user = code_sign_up()
    sign_of_life(user, world)

    assert signin_unconfirmed_accounts_purge(older_than=DAY) == 0
    assert User.objects.filter(pk=user.pk).exists()


def test_only_the_unconfirmed_go_when_both_kinds_are_old(code_sign_up, world):
    gone, kept = code_sign_up("gone@example.org"), code_sign_up("kept@example.org")
    _signed_in(kept, world)

    assert signin_unconfirmed_accounts_purge(older_than=DAY) == 1
    assert list(User.objects.filter(pk__in=[gone.pk, kept.pk]).values_list("email", flat=True)) == ["kept@example.org"]


def test_an_old_account_nobody_signed_up_for_by_code_is_kept(make_user):
    """Made by staff or a seed, without a password or a tenant: not a code request's."""
    user = make_user("made-by-staff@example.org")
    User.objects.filter(pk=user.pk).update(date_joined=timezone.now() - 10 * DAY)

    assert signin_unconfirmed_accounts_purge(older_than=DAY) == 0
    assert User.objects.filter(pk=user.pk).exists()
