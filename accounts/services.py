from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import PROFILE_FIELDS, Membership, User, normalize_email
from accounts.selectors import tenants_related_to_user
from events.services import events_record
from harbourmaster.actors import Actor


def _membership_ensure(*, user: User, tenant, source: str, external_id: str | None = None) -> Membership:
    membership, _ = Membership.all_tenants.get_or_create(
        tenant=tenant, user=user, defaults={"source": source, "external_id": external_id}
    )
    return membership


def _validate_profile_fields(fields: dict[str, Any]) -> None:
    unknown = sorted(set(fields) - set(PROFILE_FIELDS))
    if unknown:
        raise ValidationError({name: "not a profile field" for name in unknown})


@transaction.atomic
def user_register(
    *,
    actor: Actor,
    email: str | None = None,
    phone_number: str | None = None,
    password: str | None = None,
    tenant=None,
    source: str = Membership.Source.SIGN_IN,
    **profile: Any,
) -> User:
    """Create a registered user with an email or phone number; link it to ``tenant`` if given."""
    _validate_profile_fields(profile)
    user = User(kind=User.Kind.REGISTERED, email=normalize_email(email), phone_number=phone_number or None, **profile)
    if not user.email and not user.phone_number:
        raise ValidationError({"email": "a registered user needs an email address or a phone number"})
    user.set_password(password) if password else user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    if tenant is not None:
        _membership_ensure(user=user, tenant=tenant, source=source)
        events_record(
            actor=actor, tenants=[tenant], type="user.created", subject=str(user.uuid), payload={"user": str(user.uuid)}
        )
    return user


@transaction.atomic
def user_guest_create(*, actor: Actor, tenant, source: str = Membership.Source.SIGN_IN) -> User:
    """A visitor who only accepted cookies: no credentials, no identifier but its uuid."""
    user = User(kind=User.Kind.GUEST)
    user.set_unusable_password()
    user.save()
    _membership_ensure(user=user, tenant=tenant, source=source)
    return user


@transaction.atomic
def user_profile_update(*, actor: Actor, user: User, changes: dict[str, Any]) -> User:
    """Change profile claims; every tenant that knows the user hears which fields changed."""
    _validate_profile_fields(changes)
    if "email" in changes:
        changes["email"] = normalize_email(changes["email"])
    if "phone_number" in changes:
        changes["phone_number"] = changes["phone_number"] or None
    changed = sorted(name for name, value in changes.items() if getattr(user, name) != value)
    if not changed:
        return user
    for name in changed:
        setattr(user, name, changes[name])
    user.full_clean(exclude=["password"])
    user.save(update_fields=[*changed, "updated_at"])
    # The payload names fields, not values: tenants read values through the API, where
    # consent and purpose decide what each may see.
    events_record(
        actor=actor,
        tenants=tenants_related_to_user(user=user),
        type="user.updated",
        subject=str(user.uuid),
        payload={"user": str(user.uuid), "changed": changed},
    )
    return user


@transaction.atomic
def membership_link(*, actor: Actor, user: User, tenant, source: str, external_id: str | None = None) -> Membership:
    """Record that ``tenant`` knows ``user`` (and under which id of its own)."""
    taken = Membership.all_tenants.filter(tenant=tenant, external_id=external_id).exclude(user=user)
    if external_id and taken.exists():
        raise ValidationError({"external_id": "this tenant already uses that id for another user"})
    membership = _membership_ensure(user=user, tenant=tenant, source=source, external_id=external_id)
    if external_id and membership.external_id != external_id:
        membership.external_id = external_id
        membership.full_clean()
        membership.save(update_fields=["external_id"])
    return membership
