import hashlib
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import connections, router, transaction
from django.utils import timezone

from consents.models import DATA_CATEGORIES, Channel, Consent, ConsentRecord, Purpose, PurposeVersion
from events.services import event_record
from harbourmaster.actors import Actor

# The first key of pg_advisory_xact_lock(int, int) for a user's first act on a purpose: "CNST".
FIRST_ACT_LOCK_NAMESPACE = 0x434E5354


def statement_hash(statement: str) -> str:
    return hashlib.sha256(statement.encode("utf-8")).hexdigest()


def _validate_categories(data_categories: list[str]) -> list[str]:
    unknown = sorted(set(data_categories) - set(DATA_CATEGORIES))
    if unknown:
        raise ValidationError({"data_categories": f"unknown categories: {', '.join(unknown)}"})
    return sorted(set(data_categories))


def _version_publish(*, actor: Actor, purpose: Purpose, version: int, statement: str, requires_reconsent: bool):
    if not statement.strip():
        raise ValidationError({"statement": "a purpose needs a statement users can read"})
    return PurposeVersion.objects.create(
        purpose=purpose,
        version=version,
        statement=statement,
        statement_hash=statement_hash(statement),
        requires_reconsent=requires_reconsent,
        actor=str(actor),
    )


@transaction.atomic
def purpose_create(
    *,
    actor: Actor,
    tenant,
    slug: str,
    name: str,
    statement: str,
    legal_basis: str = "consent",
    data_categories: list[str] | None = None,
) -> Purpose:
    purpose = Purpose(
        tenant=tenant,
        slug=slug,
        name=name,
        legal_basis=legal_basis,
        data_categories=_validate_categories(data_categories or []),
    )
    purpose.full_clean(exclude=["data_categories"])  # checked above; an empty list is fine
    purpose.save()
    _version_publish(actor=actor, purpose=purpose, version=1, statement=statement, requires_reconsent=False)
    return purpose


@transaction.atomic
def purpose_statement_publish(
    *, actor: Actor, purpose: Purpose, statement: str, requires_reconsent: bool = False
) -> PurposeVersion:
    """Publish a new statement; with ``requires_reconsent`` earlier consents stop counting."""
    purpose = Purpose.all_tenants.select_for_update().get(pk=purpose.pk)
    if not purpose.is_active:
        raise ValidationError({"status": "a retired purpose takes no new statements"})
    purpose.current_version += 1
    if requires_reconsent:
        purpose.reconsent_from_version = purpose.current_version
    purpose.save(update_fields=["current_version", "reconsent_from_version"])
    version = _version_publish(
        actor=actor,
        purpose=purpose,
        version=purpose.current_version,
        statement=statement,
        requires_reconsent=requires_reconsent,
    )
    event_record(
        actor=actor,
        tenant=purpose.tenant,
        type="purpose.statement_published",
        subject=purpose.slug,
        payload={"purpose": purpose.slug, "version": version.version, "requires_reconsent": requires_reconsent},
    )
    return version


@transaction.atomic
def purpose_retire(*, actor: Actor, purpose: Purpose) -> Purpose:
    if purpose.is_active:
        purpose.status = Purpose.Status.RETIRED
        purpose.retired_at = timezone.now()
        purpose.save(update_fields=["status", "retired_at"])
        event_record(
            actor=actor,
            tenant=purpose.tenant,
            type="purpose.retired",
            subject=purpose.slug,
            payload={"purpose": purpose.slug},
        )
    return purpose


def _counts(consent: Consent | None, purpose: Purpose) -> bool:
    """Whether ``consent`` is granted at a version ``purpose`` still honours."""
    return (
        consent is not None
        and consent.state == Consent.State.GRANTED
        and consent.version.version >= purpose.reconsent_from_version
    )


def _latest_change(consent: Consent) -> datetime | None:
    moments = [moment for moment in (consent.granted_at, consent.withdrawn_at) if moment]
    return max(moments) if moments else None


def _consent_locked(*, user, purpose: Purpose) -> Consent | None:
    """The user's consent to ``purpose``, locked until commit; None if there is none yet.

    A first act has no row to lock, and two at once would each insert one (the loser a
    500). They queue on a transaction-scoped advisory lock of that user and purpose, which
    no other code takes. The user's row is key-shared first, as the new rows' foreign keys
    will key-share it at commit anyway: a merge holding the user FOR UPDATE makes the
    first act wait before it holds the advisory lock, so the two cannot wait on each
    other. Only first acts pay for it."""
    consent = Consent.all_tenants.select_for_update().filter(user=user, purpose=purpose).first()
    if consent is not None:
        return consent
    _first_act_lock(user_id=user.pk, purpose_id=purpose.pk)
    return Consent.all_tenants.select_for_update().filter(user=user, purpose=purpose).first()


def _first_act_lock(*, user_id: int, purpose_id: int) -> None:
    connection = connections[router.db_for_write(Consent)]
    if connection.vendor != "postgresql":
        return  # SQLite lets one transaction write at a time
    digest = hashlib.blake2b(f"{user_id}:{purpose_id}".encode(), digest_size=4).digest()
    user_model = Consent._meta.get_field("user").related_model
    table, pk = (connection.ops.quote_name(name) for name in (user_model._meta.db_table, user_model._meta.pk.column))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE {pk} = %s FOR KEY SHARE", [user_id])  # noqa: S608 - quoted names
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)",
            [FIRST_ACT_LOCK_NAMESPACE, int.from_bytes(digest, "big", signed=True)],
        )


def _consent_change(
    *,
    actor: Actor,
    user,
    purpose: Purpose,
    action: str,
    channel: str,
    source: str,
    client,
    ip_address: str | None,
    user_agent: str,
    occurred_at: datetime | None,
    version: int | None,
    awaiting_confirmation: bool = False,
) -> Consent:
    if channel not in Channel.values:
        raise ValidationError({"channel": f"unknown channel {channel!r}"})
    purpose = Purpose.all_tenants.select_related("tenant").get(pk=purpose.pk)
    if action == ConsentRecord.Action.GRANT and not purpose.is_active:
        raise ValidationError({"purpose": "this purpose is retired and takes no new consents"})
    occurred_at = occurred_at or timezone.now()
    if occurred_at > timezone.now() + timedelta(minutes=5):
        raise ValidationError({"occurred_at": "must not be in the future"})
    try:
        statement = PurposeVersion.objects.get(purpose=purpose, version=version or purpose.current_version)
    except PurposeVersion.DoesNotExist:
        raise ValidationError({"version": f"purpose {purpose.slug} has no statement version {version}"}) from None

    state = Consent.State.GRANTED if action == ConsentRecord.Action.GRANT else Consent.State.WITHDRAWN
    consent = _consent_locked(user=user, purpose=purpose)
    if state == Consent.State.GRANTED and awaiting_confirmation and not _counts(consent, purpose):
        state = Consent.State.PENDING
    if consent and consent.state == state and consent.version_id == statement.pk:
        return consent  # already so: an idempotent repeat records nothing twice

    ConsentRecord.all_tenants.create(
        tenant=purpose.tenant,
        user=user,
        purpose=purpose,
        version=statement,
        statement_hash=statement.statement_hash,
        action=action,
        channel=channel,
        source=source,
        client=client,
        actor=str(actor),
        ip_address=ip_address,
        user_agent=user_agent[:500],
        occurred_at=occurred_at,
    )
    latest = _latest_change(consent) if consent else None
    if latest and latest > occurred_at:
        return consent  # a late-arriving older act: kept as proof, but the newer state stands

    consent = consent or Consent(tenant=purpose.tenant, user=user, purpose=purpose)
    consent.state = state
    consent.version = statement
    if state != Consent.State.WITHDRAWN:  # a pending consent keeps the time the tenant gave
        consent.granted_at = occurred_at
    else:
        consent.withdrawn_at = occurred_at
    consent.save()
    event_record(
        actor=actor,
        tenant=purpose.tenant,
        type=f"consent.{state}",
        subject=str(user.uuid),
        payload={
            "user": str(user.uuid),
            "purpose": purpose.slug,
            "version": statement.version,
            "channel": channel,
            "occurred_at": occurred_at.isoformat(),
        },
    )
    return consent


@transaction.atomic
def consent_grant(
    *,
    actor: Actor,
    user,
    purpose: Purpose,
    channel: str,
    source: str = "",
    client=None,
    ip_address: str | None = None,
    user_agent: str = "",
    occurred_at: datetime | None = None,
    version: int | None = None,
    awaiting_confirmation: bool = False,
) -> Consent:
    """Record that ``user`` agreed to ``purpose`` (its current statement unless ``version``).

    With ``awaiting_confirmation`` (a tenant's word about a user it has no first-hand
    relation with) the consent is ``pending`` until the user confirms it, unless it counts
    already (docs/decisions/0035)."""
    return _consent_change(
        actor=actor,
        user=user,
        purpose=purpose,
        action=ConsentRecord.Action.GRANT,
        channel=channel,
        source=source,
        client=client,
        ip_address=ip_address,
        user_agent=user_agent,
        occurred_at=occurred_at,
        version=version,
        awaiting_confirmation=awaiting_confirmation,
    )


@transaction.atomic
def consent_withdraw(
    *,
    actor: Actor,
    user,
    purpose: Purpose,
    channel: str,
    source: str = "",
    client=None,
    ip_address: str | None = None,
    user_agent: str = "",
    occurred_at: datetime | None = None,
) -> Consent:
    """Record that ``user`` withdrew consent to ``purpose``. Takes effect at once."""
    return _consent_change(
        actor=actor,
        user=user,
        purpose=purpose,
        action=ConsentRecord.Action.WITHDRAW,
        channel=channel,
        source=source,
        client=client,
        ip_address=ip_address,
        user_agent=user_agent,
        occurred_at=occurred_at,
        version=None,
    )


# --- Many changes at once: the bulk import's set-based path (docs/decisions/0014) ---------


def consent_statement_checked(
    *, purpose: Purpose, action: str, occurred_at: datetime, version: int | None, statements: dict
) -> PurposeVersion:
    """The checks ``consent_grant`` / ``consent_withdraw`` make before writing, with the same
    errors; returns the statement the change is of. ``purpose`` must be freshly read;
    ``statements`` caches the purposes' versions by ``(purpose_id, version)``."""
    if action == ConsentRecord.Action.GRANT and not purpose.is_active:
        raise ValidationError({"purpose": "this purpose is retired and takes no new consents"})
    if occurred_at > timezone.now() + timedelta(minutes=5):
        raise ValidationError({"occurred_at": "must not be in the future"})
    key = (purpose.pk, version or purpose.current_version)
    if key not in statements:
        statements[key] = PurposeVersion.objects.filter(purpose=purpose, version=key[1]).first()
    if statements[key] is None:
        raise ValidationError({"version": f"purpose {purpose.slug} has no statement version {version}"})
    return statements[key]
