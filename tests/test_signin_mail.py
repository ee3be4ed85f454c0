"""Account mail (a sign-in code, a confirmation or reset link) is rendered in the request and
sent by a worker once the request's transaction commits; the task carries an id, never the
code. The reset flow's own tests: tests/test_signin_password_reset.py."""

import re

import pytest
from celery.signals import task_prerun
from django.core import mail
from django.test import Client as Browser

from accounts.signin.tasks import signin_mail_send_task
from tenants.services import tenant_config_update
from tests.test_signin_codes import last_code, request_code
from tests.test_signin_policy import PASSWORD, authorize_path

from .conftest import SYSTEM

pytestmark = pytest.mark.django_db


@pytest.fixture
def task_arguments():
    """The arguments of every task run while the test runs (eagerly, as a worker would)."""
    seen: list[tuple] = []

    def record(sender=None, args=None, kwargs=None, **_extra) -> None:
        seen.append((sender.name, tuple(args or ()), dict(kwargs or {})))

    task_prerun.connect(record, weak=False)
    yield seen
    task_prerun.disconnect(record)


@pytest.fixture
def acme_codes(world):
    config = {"login_methods": ["password", "email_code"], "otp": {"channels": ["email"]}}
    tenant_config_update(actor=SYSTEM, tenant=world.acme.tenant, config=config, partial=True)
    return authorize_path(world.acme.app)


def test_a_login_code_is_mailed_after_commit_by_a_task_that_never_sees_it(
    acme_codes, make_user, django_capture_on_commit_callbacks, task_arguments
):
    make_user("dora@example.org")

    with django_capture_on_commit_callbacks(execute=False) as on_commit:
        answer = request_code(Browser(), acme_codes, email="dora@example.org")
    assert answer.status_code == 302
    assert mail.outbox == []  # nothing leaves before the transaction commits

    for callback in on_commit:
        callback()

    (message,) = mail.outbox
    assert message.to == ["dora@example.org"]
    code = last_code(message.body)
    mail_tasks = [args for name, args, kwargs in task_arguments if name == signin_mail_send_task.name]
    assert len(mail_tasks) == 1
    assert code not in repr(task_arguments) and "dora@example.org" not in repr(task_arguments)
    (message_id,) = mail_tasks[0]
    assert re.fullmatch(r"[\w-]{16,}", message_id)


def test_a_task_delivered_twice_sends_once(acme_codes, make_user, django_capture_on_commit_callbacks, task_arguments):
    make_user("dora@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        request_code(Browser(), acme_codes, email="dora@example.org")
    assert len(mail.outbox) == 1
    ((message_id,),) = [args for name, args, _ in task_arguments if name == signin_mail_send_task.name]

    signin_mail_send_task.delay(message_id)

    assert len(mail.outbox) == 1


def test_the_confirmation_mail_of_a_sign_up_leaves_after_commit_with_its_link(
    world, django_capture_on_commit_callbacks, task_arguments
):
    target = authorize_path(world.acme.app)
    browser = Browser()
    browser.get(target, follow=True)

    with django_capture_on_commit_callbacks(execute=False) as on_commit:
        browser.post("/accounts/signup/", {"email": "newcomer@example.org", "password1": PASSWORD, "next": target})
    assert mail.outbox == []
    for callback in on_commit:
        callback()

    (message,) = mail.outbox
    assert message.to == ["newcomer@example.org"]
    link = re.search(r"https?://\S+/accounts/confirm-email/(\S+)/", message.body)
    assert link is not None and link.group(1) not in repr(task_arguments)
