"""Resetting a forgotten password: the hub's pages, the mail sent by a worker after commit,
one answer whether or not the address has an account, and the rate limit.

The flow runs as a person would: ask for a link, read it in the mail the task sent, choose
a new password there, and sign in with it.
"""

import re
from urllib.parse import urlencode

import pytest
from allauth.account.models import EmailAddress
from celery.signals import task_prerun
from django.core import mail
from django.test import Client as Browser

from accounts.signin.tasks import signin_mail_send_task
from tests.test_signin_policy import PASSWORD, authorize_path, configure

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another long and unusual passphrase"
RESET = "/accounts/password/reset/"
LINK = re.compile(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)")


@pytest.fixture
def dora(make_user):
    user = make_user("dora@example.org")
    user.set_password(PASSWORD)
    user.save()
    EmailAddress.objects.update_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
    return user


@pytest.fixture
def task_arguments():
    """The arguments of every task run while the test runs (eagerly, as a worker would)."""
    seen: list[tuple] = []

    def record(sender=None, args=None, kwargs=None, **_extra) -> None:
        seen.append((sender.name, tuple(args or ()), dict(kwargs or {})))

    task_prerun.connect(record, weak=False)
    yield seen
    task_prerun.disconnect(record)


def sign_in(browser: Browser, password: str):
    return browser.post("/accounts/login/", {"login": "dora@example.org", "password": password})


def mail_tasks(task_arguments) -> list[tuple]:
    return [args for name, args, _ in task_arguments if name == signin_mail_send_task.name]


def test_the_reset_link_comes_from_the_worker_and_sets_a_new_password(
    dora, django_capture_on_commit_callbacks, task_arguments
):
    browser = Browser()
    with django_capture_on_commit_callbacks(execute=False) as on_commit:
        asked = browser.post(RESET, {"email": "dora@example.org"})
    assert asked.status_code == 302 and asked["Location"] == "/accounts/password/reset/done/"
    assert mail.outbox == []  # nothing leaves inside the request
    for callback in on_commit:
        callback()

    (message,) = mail.outbox
    assert message.to == ["dora@example.org"]
    assert message.subject.endswith("Reset your password for Harbourmaster")
    path = LINK.search(message.body).group(1)
    assert len(mail_tasks(task_arguments)) == 1
    assert path.split("/")[-2] not in repr(task_arguments)  # the task never holds the link

    form_page = browser.get(path, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    set_path = form_page.redirect_chain[-1][0]
    done = browser.post(set_path, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert done.status_code == 302
    assert "Your password is changed." in browser.get(done["Location"]).content.decode()

    assert sign_in(Browser(), PASSWORD).status_code == 200  # the old one is refused
    signed_in = sign_in(Browser(), NEW_PASSWORD)
    assert signed_in.status_code == 302 and "hm_session" in signed_in.cookies
    assert browser.get(path, follow=True).context["token_fail"]  # the link worked once


def test_an_unknown_address_gets_the_same_answer(dora, django_capture_on_commit_callbacks, task_arguments):
    answers = []
    for email in ("dora@example.org", "nobody@example.org"):
        with django_capture_on_commit_callbacks(execute=True):
            answers.append(Browser().post(RESET, {"email": email}, follow=True))

    known, unknown = answers
    assert known.redirect_chain == unknown.redirect_chain == [("/accounts/password/reset/done/", 302)]
    assert known.content == unknown.content
    # Both addresses get a mail, both from the worker: the mail server's speed tells nothing.
    assert sorted(message.to[0] for message in mail.outbox) == ["dora@example.org", "nobody@example.org"]
    assert len(mail_tasks(task_arguments)) == 2
    (unknown_mail,) = [message for message in mail.outbox if message.to == ["nobody@example.org"]]
    assert "/accounts/password/reset/key/" not in unknown_mail.body


def test_asking_too_often_for_one_address_is_refused(dora, django_capture_on_commit_callbacks):
    browser = Browser()
    with django_capture_on_commit_callbacks(execute=True):
        answers = [browser.post(RESET, {"email": "dora@example.org"}).status_code for _ in range(6)]

    assert answers == [302] * 5 + [429]  # "reset_password": 5/m/key
    refused = browser.post(RESET, {"email": "dora@example.org"})
    assert refused.status_code == 429
    assert "Too many attempts" in refused.content.decode()
    assert len(mail.outbox) == 5


def test_a_bad_link_says_so_and_offers_a_new_one(dora):
    page = Browser().get("/accounts/password/reset/key/1-nonsense/", follow=True)

    text = page.content.decode()
    assert "This link does not work" in text
    assert f'href="{RESET}"' in text
    assert 'role="alert"' in text


def test_a_reset_asked_from_a_tenant_app_wears_its_branding_and_returns_to_it(
    world, dora, django_capture_on_commit_callbacks
):
    configure(world.acme.tenant, branding={"display_name": "Acme Daily", "primary_color": "#aa3300"})
    target = authorize_path(world.acme.app)
    browser = Browser()
    login_page = browser.get(target, follow=True)
    forgot = re.search(r'href="(/accounts/password/reset/\?next=[^"]+)"', login_page.content.decode()).group(1)

    page = browser.get(forgot.replace("&amp;", "&")).content.decode()
    assert "--brand: #aa3300;" in page and "<span>Acme Daily</span>" in page
    assert "account for Acme Daily" in page
    assert '<label for="id_email"' in page and 'type="email"' in page
    with django_capture_on_commit_callbacks(execute=True):
        asked = browser.post(RESET, {"email": "dora@example.org", "next": target}, follow=True)
    assert asked.redirect_chain[0] == (target, 302)  # back to the app's sign-in, which says why
    assert "we have sent it a link to choose a new password" in asked.content.decode()

    (message,) = mail.outbox
    assert message.subject.endswith("Reset your password for Acme Daily")
    choose = browser.get(LINK.search(message.body).group(1), follow=True).content.decode()
    assert "Choose a new password" in choose and "--brand: #aa3300;" in choose
    set_path = re.search(r'action="([^"]+)"', choose).group(1)
    done = browser.post(set_path, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "next": target})
    assert done.status_code == 302 and done["Location"] == target  # on to the app's sign-in

    bolt = Browser()
    bolt_page = bolt.get(RESET + "?" + urlencode({"next": authorize_path(world.bolt.app)})).content.decode()
    assert "Acme Daily" not in bolt_page and "#aa3300" not in bolt_page


def test_the_reset_pages_speak_german(client, dora):
    page = client.get(RESET, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert '<html lang="de">' in page
    assert "Passwort zurücksetzen" in page
    client.post(RESET, {"email": "dora@example.org"}, HTTP_ACCEPT_LANGUAGE="de")
    done = client.get("/accounts/password/reset/done/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Prüfen Sie Ihre E-Mails" in done


def test_an_address_the_account_only_claims_gets_no_reset_link(make_user, django_capture_on_commit_callbacks):
    """A password sign-up never confirmed, or an address someone else typed: the link would
    hand whoever reads the mail a password to that account (decision 35's review)."""
    make_user("claimed@example.org")  # registered, its address never proven
    with django_capture_on_commit_callbacks(execute=True):
        asked = Browser().post(RESET, {"email": "claimed@example.org"})
    assert asked.status_code == 302 and asked["Location"] == "/accounts/password/reset/done/"
    assert not [message for message in mail.outbox if "/accounts/password/reset/key/" in message.body]
