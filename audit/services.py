from collections.abc import Iterable

from django.db import transaction

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
