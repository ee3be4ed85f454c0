from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import QuerySet

from audit.models import AccessRecord, AccessRecordSubject


@transaction.atomic
def access_record(
    *, tenant, client, purpose: str, action: str, fields: list[str], user_ids: Iterable[int], request_id: str = ""
) -> AccessRecord:
    """Record that ``tenant`` read these users' data. Part of serving the read: call it in
    the read's transaction, and let a failure here fail the response."""
    user_ids = list(dict.fromkeys(user_ids))
    record = AccessRecord.all_tenants.create(
        tenant=tenant,
        client=client,
        purpose=purpose,
        action=action,
        fields=sorted(fields),
        subject_count=len(user_ids),
        request_id=request_id,
    )
    AccessRecordSubject.all_tenants.bulk_create(
        [AccessRecordSubject(record=record, user_id=user_id) for user_id in user_ids], batch_size=5000
    )
    return record


class _SubjectsChanged(Exception):
    """The users matched changed between counting and recording them: record again."""


def access_record_for_query(
    *, tenant, client, purpose: str, action: str, fields: list[str], user_ids: QuerySet, request_id: str = ""
) -> AccessRecord:
    """Record a read of every user whose id ``user_ids`` (a one-column queryset) yields,
    without loading the ids into memory: the subjects are copied by INSERT ... SELECT.

    The record is append-only, so its ``subject_count`` is counted first; if the set
    changes before the copy (a concurrent consent), the copy is rolled back and redone.
    """
    user_ids = user_ids.order_by()
    subjects = AccessRecordSubject._meta
    sql, params = user_ids.query.sql_with_params()
    copy = (
        f"INSERT INTO {connection.ops.quote_name(subjects.db_table)} (record_id, user_id) "  # noqa: S608 (names from the model, query compiled by the ORM)
        f"SELECT %s, matched.id FROM ({sql}) AS matched"
    )
    for _attempt in range(3):
        try:
            with transaction.atomic():
                count = user_ids.count()
                record = AccessRecord.all_tenants.create(
                    tenant=tenant,
                    client=client,
                    purpose=purpose,
                    action=action,
                    fields=sorted(fields),
                    subject_count=count,
                    request_id=request_id,
                )
                with connection.cursor() as cursor:
                    cursor.execute(copy, [record.pk, *params])
                    if cursor.rowcount != count:
                        raise _SubjectsChanged()
                return record
        except _SubjectsChanged:
            continue
    raise RuntimeError("the users read kept changing while they were recorded")
