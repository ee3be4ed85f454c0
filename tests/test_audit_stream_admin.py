"""The admin shows which streams named a user, and the users one stream named, read-only."""

import pytest
from django.db import connection
from django.urls import reverse

from accounts.models import User
from audit.models import AccessRecord, AccessRecordSubjectBlock
from audit.services import access_record_for_query

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="streams are recorded as blocks on PostgreSQL only"
)


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def staff(client, world):
    client.force_login(world.staff)
    return client


def stream_record(world, users) -> AccessRecord:
    return access_record_for_query(
        tenant=world.acme.tenant,
        client=world.acme.backend,
        purpose="newsletter",
        action="users.export",
        fields=["uuid", "email"],
        user_ids=User.objects.filter(pk__in=[user.pk for user in users]).values_list("id", flat=True),
    )


def test_a_stream_record_links_to_the_blocks_of_users_it_named(staff, world):
    record = stream_record(world, [world.alice])
    page = staff.get(url(AccessRecord, "change", record.pk)).content.decode()
    assert f"{url(AccessRecordSubjectBlock, 'changelist')}?record={record.pk}" in page and "1 user" in page

    listing = staff.get(url(AccessRecordSubjectBlock, "changelist"), {"record": record.pk})
    assert listing.status_code == 200
    assert [block.user_ids for block in listing.context["cl"].result_list] == [[world.alice.pk]]


def test_the_blocks_list_finds_the_streams_that_named_one_user(staff, world, make_user):
    carol = make_user("carol-streamed@example.org")
    named_alice = stream_record(world, [world.alice, carol])
    stream_record(world, [carol])
    listing = staff.get(url(AccessRecordSubjectBlock, "changelist"), {"user": world.alice.pk})
    assert [block.record_id for block in listing.context["cl"].result_list] == [named_alice.pk]
    assert staff.get(url(AccessRecordSubjectBlock, "changelist"), {"user": "not-a-number"}).status_code == 200
    block = AccessRecordSubjectBlock.all_tenants.filter(record=named_alice).get()
    assert staff.post(url(AccessRecordSubjectBlock, "delete", block.pk)).status_code == 403
