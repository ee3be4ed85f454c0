from audit.models import AccessRecord, AccessRecordSubject
from audit.selectors import access_records_for_user
from audit.services import access_record
from events.models import Event
from events.selectors import events_after
from events.services import event_record
from harbourmaster.actors import Actor
from tenants.context import tenant_context


def test_access_record_keeps_who_what_why_and_whom(world):
    record = access_record(
        tenant=world.acme.tenant,
        client=world.acme.backend,
        purpose="newsletter",
        action="users.export",
        fields=["email", "given_name"],
        user_ids=[world.alice.pk, world.alice.pk, world.carol.pk],
        request_id="req-1",
    )
    assert (record.subject_count, record.fields, record.request_id) == (2, ["email", "given_name"], "req-1")
    assert set(AccessRecordSubject.all_tenants.filter(record=record).values_list("user_id", flat=True)) == {
        world.alice.pk,
        world.carol.pk,
    }


def test_user_sees_which_tenant_read_their_data(world):
    access_record(
        tenant=world.acme.tenant,
        client=world.acme.backend,
        purpose="newsletter",
        action="users.lookup",
        fields=["email"],
        user_ids=[world.alice.pk],
    )
    access_record(
        tenant=world.bolt.tenant,
        client=world.bolt.backend,
        purpose="postal-marketing",
        action="users.export",
        fields=["address"],
        user_ids=[world.bob.pk],
    )
    seen = access_records_for_user(user=world.alice)
    assert [(record.tenant.slug, record.purpose, record.action) for record in seen] == [
        ("acme", "newsletter", "users.lookup")
    ]
    assert access_records_for_user(user=world.carol) == []


def test_access_records_are_tenant_scoped(world):
    access_record(tenant=world.acme.tenant, client=None, purpose="p", action="a", fields=[], user_ids=[world.alice.pk])
    with tenant_context(world.bolt.tenant):
        assert not AccessRecord.objects.exists()
    with tenant_context(world.acme.tenant):
        assert AccessRecord.objects.count() == 1


def test_change_feed_is_per_tenant_and_ordered_by_cursor(world):
    with tenant_context(world.acme.tenant):
        before = events_after()
    first = event_record(actor=Actor.system("t"), tenant=world.acme.tenant, type="x.one", subject="s")
    event_record(actor=Actor.system("t"), tenant=world.bolt.tenant, type="x.other", subject="s")
    second = event_record(actor=Actor.system("t"), tenant=world.acme.tenant, type="x.two", subject="s")
    with tenant_context(world.acme.tenant):
        feed = events_after(after_id=before[-1].id if before else 0)
        assert [event.type for event in feed] == ["x.one", "x.two"]
        assert [event.type for event in events_after(after_id=first.id)] == ["x.two"]
    assert second.id > first.id
    assert Event.all_tenants.get(pk=first.pk).actor == "system:t"
