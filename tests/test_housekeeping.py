from datetime import timedelta

from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from harbourmaster.celery import app
from tenants.models_idempotency import IdempotencyKey
from tenants.tasks import idempotency_keys_purge_task, oauth_tokens_clear_task


def test_beat_schedules_only_registered_tasks():
    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert scheduled and scheduled <= set(app.tasks)


def test_expired_tokens_are_cleared(world):
    tokens = get_access_token_model().objects
    tokens.create(application=world.acme.backend, token="old", expires=timezone.now() - timedelta(days=2))
    tokens.create(application=world.acme.backend, token="new", expires=timezone.now() + timedelta(hours=1))
    oauth_tokens_clear_task.delay()
    assert tokens.filter(application=world.acme.backend).count() == 1


def test_expired_idempotency_keys_are_purged(world):
    def key(name, expires_in):
        IdempotencyKey.objects.create(
            tenant=world.acme.tenant,
            client=world.acme.backend,
            key=name,
            fingerprint="f" * 64,
            status_code=201,
            expires_at=timezone.now() + expires_in,
        )

    key("expired", timedelta(seconds=-1))
    key("live", timedelta(hours=1))
    assert idempotency_keys_purge_task.delay().get() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["live"]
