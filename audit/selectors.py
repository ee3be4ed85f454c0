from django.db import connections
from django.db.models.expressions import RawSQL

from audit.models import BLOCK_SPAN, AccessRecord, AccessRecordSubject, AccessRecordSubjectBlock


def access_records_for_user(*, user, limit: int = 100) -> list[AccessRecord]:
    """Which tenant read this user's data, and why: the user's "who saw my data" view.
    Pages and lookups name the user in a subject row, streams in a block of ids."""
    in_rows = AccessRecordSubject.all_tenants.filter(user=user).values("record_id")
    in_blocks = AccessRecordSubjectBlock.all_tenants.filter(user_ids__contains=[user.pk]).values("record_id")
    # One IN over a UNION: PostgreSQL joins it to the records' primary key (an OR of two
    # INs would scan every record).
    records = AccessRecord.all_tenants.filter(pk__in=in_rows.union(in_blocks))
    return list(records.select_related("tenant", "client").order_by("-id")[:limit])


def access_record_user_ids(*, record: AccessRecord):
    """The ids of the users one record says were read (a subquery, not a list)."""
    rows = AccessRecordSubject.all_tenants.filter(record=record).values("user_id")
    connection = connections[rows.db]
    if connection.vendor != "postgresql" or not record.subject_blocks.exists():
        return rows
    blocks = connection.ops.quote_name(AccessRecordSubjectBlock._meta.db_table)
    sql = f"SELECT unnest(user_ids) FROM {blocks} WHERE record_id = %s"  # noqa: S608 (name from the model)
    return RawSQL(sql, [record.pk])  # noqa: S611 (the one parameter is bound)


def access_record_blocks_sql(*, record: AccessRecord) -> tuple[str, list]:
    """On PostgreSQL, a query of one stream record's blocks in id order: each block's
    ``span`` (its ids lie in [span * BLOCK_SPAN, (span + 1) * BLOCK_SPAN)) and ``user_ids``."""
    blocks = connections[AccessRecordSubjectBlock.all_tenants.db].ops.quote_name(
        AccessRecordSubjectBlock._meta.db_table
    )
    sql = f"SELECT user_ids[1] / %s AS span, user_ids FROM {blocks} WHERE record_id = %s ORDER BY 1"  # noqa: S608 (name from the model)
    return sql, [BLOCK_SPAN, record.pk]
