"""The streamed export encodes each value as the JSON pages do (PostgreSQL encodes it
there with COPY; SQLite here, in Python), and is recorded once, in one pass."""

import csv
import io
import json
from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.models import User
from audit.models import BLOCK_SPAN, AccessRecord, AccessRecordSubjectBlock
from audit.selectors import access_record_user_ids, access_records_for_user
from audit.services import access_record_for_query
from consents.models import Channel
from consents.services import consent_grant
from harbourmaster.records import RecordIsAppendOnly
from tests.conftest import SYSTEM

PROFILE_AND_ADDRESS = "/api/v1/purposes/postal-marketing/users"


@pytest.fixture
def awkward(world, make_user):
    """Users whose values need escaping or typing: quotes, commas, newlines, backslashes,
    non-ASCII, a control character, a date, an empty and a missing value."""
    users = [
        make_user(
            "awkward@example.org",
            given_name='Zoë "Zed", the \\first',
            family_name="",
            address_street="Hafenstr. 1\nHinterhaus",
            address_locality="Tab\there \x01",
            birthdate=date(1990, 2, 28),
            locale="de-DE",
        ),
        make_user("plain@example.org", given_name="Plain"),
    ]
    for user in users:
        consent_grant(actor=SYSTEM, user=user, purpose=world.acme.postal, channel=Channel.WEB)
    return users


@pytest.fixture
def reader(world, api_as):
    return api_as(world.acme.backend, ["users:read"])


def paged(reader) -> dict[str, dict]:
    response = reader.get(PROFILE_AND_ADDRESS)
    assert response.status_code == 200, response.content
    return {row["uuid"]: row for row in response.json()["results"]}


def test_json_lines_carry_the_same_values_as_the_pages(world, awkward, reader):
    expected = paged(reader)
    response = reader.get(f"{PROFILE_AND_ADDRESS}?format=jsonl")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    lines = body.split("\n")
    assert lines[-1] == "" and len(lines) == len(expected) + 1  # one line per user, newline-ended
    streamed = {row["uuid"]: row for row in map(json.loads, lines[:-1])}
    assert streamed == expected
    assert streamed[str(awkward[0].uuid)]["birthdate"] == "1990-02-28"


def test_csv_cells_read_back_as_the_pages_values(world, awkward, reader):
    expected = paged(reader)
    response = reader.get(f"{PROFILE_AND_ADDRESS}?format=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))
    as_cells = {
        uuid: {name: "" if value is None else value for name, value in row.items()} for uuid, row in expected.items()
    }
    assert {row["uuid"]: row for row in rows} == as_cells
    assert list(rows[0]) == list(next(iter(expected.values())))  # the header, in the pages' order


def test_the_stream_is_sent_in_id_order(world, make_user, reader):
    users = [make_user(f"reader{n}@example.org") for n in range(5)]
    for user in reversed(users):
        consent_grant(actor=SYSTEM, user=user, purpose=world.acme.newsletter, channel=Channel.WEB)
    response = reader.get("/api/v1/purposes/newsletter/users?format=jsonl")
    sent = [json.loads(line)["uuid"] for line in b"".join(response.streaming_content).decode().splitlines()]
    in_id_order = User.objects.filter(uuid__in=sent).order_by("id").values_list("uuid", flat=True)
    assert sent == [str(uuid) for uuid in in_id_order]


def test_a_query_is_recorded_in_one_pass_with_its_count(world, make_user):
    users = [make_user(f"reader{n}@example.org") for n in range(3)]
    record = access_record_for_query(
        tenant=world.acme.tenant,
        client=world.acme.backend,
        purpose="newsletter",
        action="users.export",
        fields=["uuid", "email"],
        user_ids=User.objects.filter(pk__in=[user.pk for user in users]).values_list("id", flat=True),
        request_id="r-1",
    )
    stored = AccessRecord.all_tenants.get(pk=record.pk)
    assert (stored.subject_count, stored.fields, stored.client) == (3, ["email", "uuid"], world.acme.backend)
    subjects = User.objects.filter(pk__in=access_record_user_ids(record=stored)).values_list("pk", flat=True)
    assert sorted(subjects) == sorted(user.pk for user in users)


def test_who_saw_my_data_lists_the_streams_that_named_the_user(world, make_user, reader):
    alice, carol = world.alice, make_user("carol-not-consenting@example.org")
    page = reader.get("/api/v1/purposes/newsletter/users")
    stream = reader.get("/api/v1/purposes/newsletter/users?format=jsonl")
    assert page.status_code == stream.status_code == 200
    seen = access_records_for_user(user=alice)
    assert [(record.action, record.tenant) for record in seen] == [("users.export", world.acme.tenant)] * 2
    assert seen[0].pk == AccessRecord.all_tenants.order_by("-id").first().pk  # the stream, newest first
    assert access_records_for_user(user=carol) == []
    assert str(alice.uuid) in b"".join(stream.streaming_content).decode()


def test_a_streams_recorded_subjects_cannot_be_changed(world, reader):
    response = reader.get("/api/v1/purposes/newsletter/users?format=jsonl")
    assert response.status_code == 200
    record = AccessRecord.all_tenants.get()
    with pytest.raises(RecordIsAppendOnly):
        AccessRecordSubjectBlock.all_tenants.filter(record=record).delete()
    if connection.vendor == "postgresql":  # the database refuses it too, whoever asks
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE audit_accessrecordsubjectblock SET user_ids = '{}' WHERE record_id = %s", [record.pk]
            )
    assert set(User.objects.filter(pk__in=access_record_user_ids(record=record))) == {world.alice}


def next_ids_in_a_later_span() -> None:
    """New users get ids of the next span of BLOCK_SPAN ids (the sequence outlives the
    rolled-back rows of earlier tests, so start from where it is)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(seq, (nextval(seq) / %s + 1) * %s + 3) FROM pg_get_serial_sequence('accounts_user', 'id') AS seq",
            [BLOCK_SPAN, BLOCK_SPAN],
        )


def test_a_stream_over_several_blocks_sends_each_user_once_in_id_order(world, make_user, reader):
    """On PostgreSQL the lines come one chunk per block of ids; one block's users all
    deactivated leaves no gap or empty line."""
    users = []
    for span in range(3):
        if connection.vendor == "postgresql":
            next_ids_in_a_later_span()
        users += [make_user(f"span{span}-{n}@example.org") for n in range(2)]
    for user in users:
        consent_grant(actor=SYSTEM, user=user, purpose=world.acme.newsletter, channel=Channel.WEB)
    response = reader.get("/api/v1/purposes/newsletter/users?format=jsonl")
    User.objects.filter(pk__in=[user.pk for user in users[2:4]]).update(is_active=False)
    body = b"".join(response.streaming_content).decode()
    sent = [json.loads(line)["uuid"] for line in body.split("\n")[:-1]]
    expected = [world.alice, *users[:2], *users[4:]]
    assert sent == [str(user.uuid) for user in sorted(expected, key=lambda user: user.pk)] and body.endswith("}\n")
    as_csv = b"".join(reader.get("/api/v1/purposes/newsletter/users?format=csv").streaming_content).decode()
    assert [row["uuid"] for row in csv.DictReader(io.StringIO(as_csv, newline=""))] == sent


@pytest.mark.skipif(connection.vendor != "postgresql", reason="streams are recorded as blocks on PostgreSQL only")
def test_who_saw_my_data_finds_a_stream_by_the_span_of_the_users_id(world, make_user):
    next_ids_in_a_later_span()  # a user in another span of ids than the world's
    far, unnamed_neighbour = make_user("far@example.org"), make_user("neighbour@example.org")
    named = [world.alice, far]
    record = access_record_for_query(
        tenant=world.acme.tenant,
        client=world.acme.backend,
        purpose="newsletter",
        action="users.export",
        fields=["uuid"],
        user_ids=User.objects.filter(pk__in=[user.pk for user in named]).values_list("id", flat=True),
    )
    blocks = AccessRecordSubjectBlock.all_tenants.filter(record=record).order_by("pk")
    assert sorted(block.user_ids for block in blocks) == [[world.alice.pk], [far.pk]]
    assert [seen.pk for seen in access_records_for_user(user=far)] == [record.pk]
    assert [seen.pk for seen in access_records_for_user(user=world.alice)] == [record.pk]
    assert access_records_for_user(user=unnamed_neighbour) == []
    # No block holds ids of two spans.
    assert not AccessRecordSubjectBlock.all_tenants.filter(user_ids__contains=[world.alice.pk, far.pk]).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="streams are recorded as blocks on PostgreSQL only")
def test_the_blocks_of_one_user_are_found_through_the_span_index(world):
    blocks = AccessRecordSubjectBlock.all_tenants.filter(user_ids__contains=[world.alice.pk]).values("record_id")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # the table is empty: make the index the choice
        sql, params = blocks.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(line for (line,) in cursor.fetchall())
    assert "accesssubjectblock_span_idx" in plan, plan
