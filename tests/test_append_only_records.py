import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AccessRecord, AccessRecordSubject
from audit.services import access_record
from consents.models import ConsentRecord, PurposeVersion
from events.models import Event
from harbourmaster.records import RecordIsAppendOnly
from tenants.models import TenantConfigRevision

RECORD_MODELS = [ConsentRecord, PurposeVersion, Event, TenantConfigRevision, AccessRecord, AccessRecordSubject]


@pytest.fixture
def records(world):
    access_record(
        tenant=world.acme.tenant,
        client=world.acme.backend,
        purpose="newsletter",
        action="users.lookup",
        fields=["email"],
        user_ids=[world.alice.pk],
    )
    return world


@pytest.mark.parametrize("model", RECORD_MODELS, ids=lambda model: model.__name__)
def test_record_instance_refuses_save_and_delete(records, model):
    row = model.all_tenants.first() if hasattr(model, "all_tenants") else model.objects.first()
    assert row is not None
    with pytest.raises(RecordIsAppendOnly):
        row.save()
    with pytest.raises(RecordIsAppendOnly):
        row.delete()


@pytest.mark.parametrize("model", RECORD_MODELS, ids=lambda model: model.__name__)
def test_record_queryset_refuses_update_and_delete(records, model):
    manager = model.all_tenants if hasattr(model, "all_tenants") else model.objects
    before = manager.count()
    with pytest.raises(RecordIsAppendOnly):
        manager.all().update(pk=0)
    with pytest.raises(RecordIsAppendOnly):
        manager.all().delete()
    assert manager.count() == before


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")
@pytest.mark.parametrize("model", RECORD_MODELS, ids=lambda model: model.__name__)
def test_database_refuses_raw_update_and_delete(records, model):
    table = model._meta.db_table
    for statement in (f'UPDATE "{table}" SET id = id', f'DELETE FROM "{table}"'):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
