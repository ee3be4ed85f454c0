"""Values typed into the admin's filter boxes that no row can hold show an empty list, not an
error page."""

import pytest
from django.db import connection

from accounts.models import User
from audit.models import AccessRecord, AccessRecordSubjectBlock
from audit.services import access_record, access_record_for_query
from events.models import Event
from tests import test_admin
from tests.test_admin import url

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="streams are recorded as blocks on PostgreSQL only"
)


staff = test_admin.staff  # the standing world's superuser, signed in


@pytest.fixture
def export(world):
    return access_record(
        tenant=world.acme.tenant,
        client=world.acme.backend,
        purpose="newsletter",
        action="users.export",
        fields=["email"],
        user_ids=[world.alice.pk],
    )


@pytest.mark.parametrize(
    ("model", "query", "typed"),
    [
        (AccessRecord, "action", "users.export"),
        (AccessRecord, "purpose", "newsletter"),
        (Event, "type", "consent.granted"),
    ],
    ids=["access-record-action", "access-record-purpose", "event-type"],
)
def test_a_filter_typed_with_a_nul_character_shows_an_empty_list(staff, export, model, query, typed):
    # Without the NUL the filter finds rows: the empty list is the NUL's doing.
    assert list(staff.get(url(model, "changelist"), {query: typed}).context["cl"].result_list)

    page = staff.get(url(model, "changelist"), {query: typed + "\x00"})

    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == []


@postgresql_only
@pytest.mark.parametrize("typed", ["9" * 30, "-" + "9" * 30, "9223372036854775808"])
def test_the_stream_blocks_list_filtered_by_a_user_id_beyond_any_id_is_empty(staff, world, typed):
    access_record_for_query(
        tenant=world.acme.tenant,
        client=world.acme.backend,
        purpose="newsletter",
        action="users.export",
        fields=["email"],
        user_ids=User.objects.filter(pk=world.alice.pk).values_list("id", flat=True),
    )
    listing = url(AccessRecordSubjectBlock, "changelist")
    assert list(staff.get(listing, {"user": str(world.alice.pk)}).context["cl"].result_list)

    page = staff.get(listing, {"user": typed})

    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == []
