"""What a password sign-in writes (bench/signin): its session in Redis, once a request
(accounts/signin/sessions.py), under a new key that never overwrites a session, an ended
session staying ended; and no "signed in" message left for a later page."""

import pytest
from django.conf import settings
from django.contrib.sessions.backends.base import UpdateError
from django.core.cache import cache
from django.test import Client as Browser

from accounts.signin.sessions import SessionStore
from tests.test_signin_policy import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def dora(make_user):
    from allauth.account.models import EmailAddress

    user = make_user("dora@example.org")
    user.set_password(PASSWORD)
    user.save()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def stored(key: str) -> dict | None:
    return cache.get(SessionStore.cache_key_prefix + key)


def test_the_hub_keeps_sessions_in_redis_with_this_store():
    assert settings.SESSION_ENGINE == "accounts.signin.sessions"  # the tests run with REDIS_URL


def test_signing_in_replaces_the_anonymous_session_with_a_new_one(dora):
    browser = Browser()
    session = browser.session
    session["before"] = "kept"
    session.save()
    old_key = session.session_key

    answer = browser.post("/accounts/login/", {"login": dora.email, "password": PASSWORD})

    new_key = answer.cookies[settings.SESSION_COOKIE_NAME].value
    assert answer.status_code == 302 and new_key != old_key
    assert stored(old_key) is None  # no fixation: the old key signs nobody in
    assert stored(new_key)["_auth_user_id"] == str(dora.pk) and stored(new_key)["before"] == "kept"
    assert browser.get("/accounts/password/change/").status_code == 200  # signed in from here on


def test_a_new_session_is_written_once_and_never_over_a_taken_key(monkeypatch):
    taken = SessionStore()
    taken["owner"] = "someone else"
    taken.save()
    keys = iter([taken.session_key, "x" * 32])
    monkeypatch.setattr(SessionStore, "_get_new_session_key", lambda self: next(keys))

    fresh = SessionStore()
    fresh["owner"] = "me"
    fresh.create()  # named after the taken key, and not written yet
    assert stored(fresh.session_key) == {"owner": "someone else"}
    fresh.save()

    assert fresh.session_key == "x" * 32
    assert stored(taken.session_key) == {"owner": "someone else"}
    assert stored("x" * 32) == {"owner": "me"}


def test_a_session_ended_elsewhere_is_not_brought_back():
    session = SessionStore()
    session["a"] = 1
    session.save()
    SessionStore(session.session_key).delete()

    session["a"] = 2
    with pytest.raises(UpdateError):
        session.save()
    assert stored(session.session_key) is None


def test_signing_in_leaves_no_message_waiting_for_a_later_page(dora):
    browser = Browser()
    answer = browser.post("/accounts/login/", {"login": dora.email, "password": PASSWORD})

    assert answer.status_code == 302 and "messages" not in answer.cookies
    assert "Successfully signed in" not in browser.get("/accounts/logout/").content.decode()
