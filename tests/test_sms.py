"""Text messages: the outbox backend, the HTTP gateway (mocked at the HTTP boundary), and
the task that sends after commit and retries while the gateway fails, never logging codes."""

import json
import logging

import pytest
import requests
import responses
from django.db import transaction

from accounts.sms.backends import (
    ConsoleAndFileBackend,
    HttpGatewayBackend,
    SmsDeliveryFailed,
    SmsRejected,
    sms_backend,
)
from accounts.sms.services import sms_schedule
from accounts.sms.tasks import sms_send_task
from harbourmaster.celery import app as celery_app

GATEWAY = "https://sms-gateway.example/v1/messages"
TOKEN = "gateway-token-that-must-stay-secret"
TEXT = "482913 is your sign-in code for Acme."


@pytest.fixture
def logged():
    """Everything logged while the test runs, at any level, as one text."""
    records: list[str] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: records.append(f"{record.getMessage()} {record.args!r} {record.exc_text or ''}")
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield records
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def retrying(monkeypatch):
    """Run the task as a worker would: a failure is a retry (inline here), not an exception."""
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", False)


@pytest.fixture
def gateway(settings):
    settings.SMS_BACKEND = "http"
    settings.SMS_GATEWAY_URL = GATEWAY
    settings.SMS_GATEWAY_TOKEN = TOKEN
    with responses.RequestsMock() as mocked:
        yield mocked


def test_outbox_backend_writes_one_file_per_message(tmp_path, capsys):
    backend = ConsoleAndFileBackend(outbox_dir=tmp_path / "sms")
    backend.send("+4915123456789", TEXT)
    backend.send("+4915100000000", "second")
    files = sorted((tmp_path / "sms").glob("*.txt"))
    assert [path.read_text() for path in files] == [f"To: +4915123456789\n\n{TEXT}\n", "To: +4915100000000\n\nsecond\n"]
    assert TEXT in capsys.readouterr().out


def test_the_setting_picks_the_backend(settings, tmp_path):
    settings.SMS_BACKEND, settings.SMS_OUTBOX_DIR = "console", tmp_path
    assert isinstance(sms_backend(), ConsoleAndFileBackend)
    settings.SMS_BACKEND, settings.SMS_GATEWAY_URL = "http", GATEWAY
    assert isinstance(sms_backend(), HttpGatewayBackend)


def test_a_disabled_backend_refuses_and_prints_nothing(settings, capsys):
    settings.SMS_BACKEND = "disabled"
    with pytest.raises(SmsRejected):
        sms_backend().send("+4915123456789", TEXT)
    assert TEXT not in capsys.readouterr().out


def test_gateway_gets_json_and_the_bearer_token(gateway):
    gateway.post(GATEWAY, status=202, json={"id": "m-1"})
    sms_backend().send("+4915123456789", TEXT)
    [call] = gateway.calls
    assert json.loads(call.request.body) == {"to": "+4915123456789", "text": TEXT}
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("status", [500, 503, 429, 408])
def test_gateway_failures_worth_a_retry(gateway, status):
    gateway.post(GATEWAY, status=status)
    with pytest.raises(SmsDeliveryFailed) as failure:
        sms_backend().send("+4915123456789", TEXT)
    assert TOKEN not in str(failure.value) and "482913" not in str(failure.value)


def test_an_unreachable_gateway_is_worth_a_retry_and_says_nothing_secret(gateway):
    gateway.post(GATEWAY, body=requests.ConnectionError(f"refused {TOKEN}"))
    with pytest.raises(SmsDeliveryFailed) as failure:
        sms_backend().send("+4915123456789", TEXT)
    assert TOKEN not in str(failure.value) and failure.value.__cause__ is None


def test_a_refusal_is_final(gateway):
    gateway.post(GATEWAY, status=400, json={"error": "bad number"})
    with pytest.raises(SmsRejected):
        sms_backend().send("+4915123456789", TEXT)


def test_the_task_retries_until_the_gateway_recovers(transactional_db, gateway, retrying, logged):
    gateway.post(GATEWAY, status=503)
    gateway.post(GATEWAY, status=503)
    gateway.post(GATEWAY, status=200)
    sms_schedule(to="+4915123456789", text=TEXT)  # outside a transaction: at once
    assert len(gateway.calls) == 3
    assert "482913" not in " ".join(logged) and TOKEN not in " ".join(logged)


def test_the_task_gives_up_after_its_retries(transactional_db, gateway, retrying):
    for _ in range(sms_send_task.max_retries + 1):
        gateway.post(GATEWAY, status=503)
    sms_schedule(to="+4915123456789", text=TEXT)
    assert len(gateway.calls) == sms_send_task.max_retries + 1


def test_a_task_whose_message_was_sent_or_expired_sends_nothing(settings, tmp_path):
    settings.SMS_BACKEND, settings.SMS_OUTBOX_DIR = "console", tmp_path
    sms_send_task.apply(args=["no-such-message"])
    assert list(tmp_path.glob("*.txt")) == []


def test_a_refused_message_is_dropped_and_logged_without_its_text(transactional_db, gateway, logged):
    gateway.post(GATEWAY, status=400)
    sms_schedule(to="+4915123456789", text=TEXT)
    assert len(gateway.calls) == 1
    text = " ".join(logged)
    assert "dropped" in text and "482913" not in text and "+4915123456789" not in text


@pytest.mark.django_db(transaction=True)
def test_scheduled_messages_go_only_after_commit(settings, tmp_path):
    settings.SMS_BACKEND, settings.SMS_OUTBOX_DIR = "console", tmp_path
    with transaction.atomic():
        sms_schedule(to="+4915123456789", text=TEXT)
        assert list(tmp_path.glob("*.txt")) == []
    assert len(list(tmp_path.glob("*.txt"))) == 1

    with pytest.raises(RuntimeError), transaction.atomic():
        sms_schedule(to="+4915123456789", text="rolled back")
        raise RuntimeError
    assert len(list(tmp_path.glob("*.txt"))) == 1
