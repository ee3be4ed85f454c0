from audit.models import AccessRecord


def access_records_for_user(*, user, limit: int = 100) -> list[AccessRecord]:
    """Which tenant read this user's data, and why: the user's "who saw my data" view."""
    return list(
        AccessRecord.all_tenants.filter(subjects__user=user).select_related("tenant", "client").order_by("-id")[:limit]
    )
