from audit.models import AccessRecord, AccessRecordSubject


def access_records_for_user(*, user, limit: int = 100) -> list[AccessRecord]:
    """Which tenant read this user's data, and why: the user's "who saw my data" view."""
    return list(
        AccessRecord.all_tenants.filter(subjects__user=user).select_related("tenant", "client").order_by("-id")[:limit]
    )


def access_record_user_ids(*, record: AccessRecord):
    """The ids of the users one record says were read (a subquery, not a list)."""
    return AccessRecordSubject.all_tenants.filter(record=record).values("user_id")
