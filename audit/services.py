from collections.abc import Iterable

from django.core.exceptions import EmptyResultSet
from django.db import connections, transaction
from django.db.models import QuerySet

from audit.models import BLOCK_SPAN, AccessRecord, AccessRecordSubject, AccessRecordSubjectBlock


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


def access_record_for_query(
    *, tenant, client, purpose: str, action: str, fields: list[str], user_ids: QuerySet, request_id: str = ""
) -> AccessRecord:
    """Record a read of every user whose id ``user_ids`` (a queryset of one column of user
    ids, whatever its name) yields, without loading the ids into memory: they are copied
    by one INSERT ... SELECT.

    One pass over the query: on PostgreSQL the ids go into AccessRecordSubjectBlock rows
    under a record id taken from the sequence, and the record then carries the number of
    ids copied, so the count always agrees with the subjects, whatever changes meanwhile.
    SQLite writes one transaction at a time: it counts, then copies subject rows.
    """
    user_ids = user_ids.order_by()
    connection = connections[user_ids.db]
    record = AccessRecord(
        tenant=tenant, client=client, purpose=purpose, action=action, fields=sorted(fields), request_id=request_id
    )
    with transaction.atomic(using=user_ids.db):
        if connection.vendor == "postgresql":
            record.pk = _next_record_id(connection)
            record.subject_count = _blocks_copy(connection, record.pk, user_ids)
            record.save(using=user_ids.db)
        else:
            record.subject_count = user_ids.count()
            record.save(using=user_ids.db)
            _subjects_copy(connection, record.pk, user_ids)
    return record


def _next_record_id(connection) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [AccessRecord._meta.db_table])
        return cursor.fetchone()[0]


def _blocks_copy(connection, record_id: int, user_ids: QuerySet) -> int:
    """The ids as blocks of ``record_id`` (one per id // BLOCK_SPAN, each in id order);
    how many were copied. Planned like the export's COPY (accounts/api/streaming.py):
    for a large result, without JIT compilation (~0.15 s it never earns back here)."""
    try:
        sql, params = user_ids.query.sql_with_params()
    except EmptyResultSet:  # a query the ORM knows is empty (a retired purpose's): no SQL to run
        return 0
    table = connection.ops.quote_name(AccessRecordSubjectBlock._meta.db_table)
    copy = (
        f"INSERT INTO {table} (record_id, user_ids) "  # noqa: S608 (names from the model, query compiled by the ORM)
        f"SELECT %s, array_agg(matched.id ORDER BY matched.id) FROM ({sql}) AS matched(id) GROUP BY matched.id / %s "
        "RETURNING cardinality(user_ids)"
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(copy, [record_id, *params, BLOCK_SPAN])
        return sum(count for (count,) in cursor.fetchall())


def _subjects_copy(connection, record_id: int, user_ids: QuerySet) -> None:
    try:
        sql, params = user_ids.query.sql_with_params()
    except EmptyResultSet:
        return
    table = connection.ops.quote_name(AccessRecordSubject._meta.db_table)
    copy = (
        f"INSERT INTO {table} (record_id, user_id) "  # noqa: S608 (names from the model, query compiled by the ORM)
        f"SELECT %s, matched.* FROM ({sql}) AS matched"  # its one column, whatever its name
    )
    with connection.cursor() as cursor:
        cursor.execute(copy, [record_id, *params])
