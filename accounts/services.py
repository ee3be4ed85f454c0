import logging
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

from accounts.models import PROFILE_FIELDS, Membership, User, normalize_email
from accounts.oidc.backchannel import hub_issuer, user_sessions_logout_announce
from accounts.oidc.revocation_list import jwt_subjects_revoke, user_subject_digests
from accounts.selectors import (
    Standing,
    tenants_related_to_user,
    user_claimable_by_tenant,
    user_standing_with_tenant,
    users_known_to_tenant,
)
from events.services import events_record
from harbourmaster.actors import Actor

logger = logging.getLogger(__name__)


def _membership_ensure(*, user: User, tenant, source: str, external_id: str | None = None) -> Membership:
    """The user's membership of ``tenant``, made with ``source`` if there is none. A sign-in
    turns a membership a tenant pushed, imported or staff added into a signed-in one: the
    user has now met the tenant first-hand (docs/decisions/0009)."""
    membership, created = Membership.all_tenants.get_or_create(
        tenant=tenant, user=user, defaults={"source": source, "external_id": external_id}
    )
    if not created and source == Membership.Source.SIGN_IN and membership.source != source:
        membership.source = source
        membership.save(update_fields=["source"])
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
        user_registration_announce(actor=actor, user=user, tenant=tenant, source=source)
    return user


# The tenant's systems made the account (a push, an import, a consent-cookie guest), not a
# person at its sign-up page: the tenant's word goes further on it (decision 35).
TENANT_MADE_SOURCES = (Membership.Source.API, Membership.Source.IMPORT)


@transaction.atomic
def user_registration_announce(*, actor: Actor, user: User, tenant, source: str = Membership.Source.SIGN_IN) -> None:
    """Link a newly registered user to ``tenant`` and tell it so (one ``user.created`` event).

    ``user_register`` calls it; so do the sign-ups whose user allauth saves itself. Only the
    first call for a user and tenant writes anything.
    """
    _membership, created = Membership.all_tenants.get_or_create(
        tenant=tenant, user=user, defaults={"source": source, "created_account": source in TENANT_MADE_SOURCES}
    )
    if created:
        events_record(
            actor=actor, tenants=[tenant], type="user.created", subject=str(user.uuid), payload={"user": str(user.uuid)}
        )


@transaction.atomic
def user_guest_create(
    *, actor: Actor, tenant, source: str = Membership.Source.SIGN_IN, device_hash: str | None = None
) -> User:
    """A visitor who only accepted cookies: no credentials, no identifier but its uuid (and,
    signed in on the hub, the hash of its device cookie); the tenant is told."""
    user = User(kind=User.Kind.GUEST, guest_device_hash=device_hash)
    user.set_unusable_password()
    user.save()
    user_registration_announce(actor=actor, user=user, tenant=tenant, source=source)
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
    _profile_change_announce(actor=actor, user=user, changed=changed)
    return user


@transaction.atomic
def user_email_follow(*, actor: Actor, user: User, verified: bool, previous_email: str | None) -> User:
    """allauth's address pages wrote ``user.email`` themselves (a new primary address, a
    confirmed or removed one): ``email_verified`` becomes ``verified``, whether allauth
    holds that address verified (docs/decisions/0033), and every tenant that knows the user
    hears which fields changed. ``email`` is among them unless ``previous_email`` is the
    same address; None means allauth did not say what it was, and the tenants are told."""
    changed = [] if previous_email and normalize_email(previous_email) == user.email else ["email"]
    if user.email_verified != verified:
        user.email_verified = verified
        user.save(update_fields=["email_verified", "updated_at"])
        changed.append("email_verified")
    _profile_change_announce(actor=actor, user=user, changed=changed)
    return user


def _profile_change_announce(*, actor: Actor, user: User, changed: list[str]) -> None:
    """One ``user.updated`` to every tenant that knows the user, if anything changed. The
    payload names fields, not values: tenants read values through the API, where consent
    and purpose decide what each may see."""
    if changed:
        _related_tenants_tell(actor=actor, user=user, type="user.updated", changed=sorted(changed))


def _related_tenants_tell(*, actor: Actor, user: User, type: str, **payload) -> None:
    """One event of ``type`` about ``user`` to every tenant that knows them."""
    events_record(
        actor=actor,
        tenants=tenants_related_to_user(user=user),
        type=type,
        subject=str(user.uuid),
        payload={"user": str(user.uuid), **payload},
    )


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


# --- Pushes from tenant systems (docs/decisions/0009-user-data-visibility.md) -----------

GUEST_COOKIE_PREFIX = "cookie:"
VERIFIED_FLAGS = {"email": "email_verified", "phone_number": "phone_number_verified"}


class UserPushConflict(Exception):
    """The push names users it may not merge, or would change a sign-in identifier."""


class UserNotKnown(Exception):
    """The push names a uuid this tenant does not know: answered like a missing user."""


def _user_match(*, tenant, uuid, external_id: str | None, profile: dict[str, Any]) -> User | None:
    found: dict[int, User] = {}
    if uuid is not None:
        user = users_known_to_tenant(tenant=tenant).filter(uuid=uuid).first()
        if user is None:
            raise UserNotKnown()
        found[user.pk] = user
    if external_id:
        membership = Membership.all_tenants.filter(tenant=tenant, external_id=external_id).select_related("user")
        for match in membership:
            found[match.user_id] = match.user
    for field in VERIFIED_FLAGS:
        value = normalize_email(profile.get(field)) if field == "email" else profile.get(field)
        user = User.objects.filter(**{field: value}).first() if value else None
        if user is None or (found and user.pk in found):
            continue
        if found or not user_claimable_by_tenant(user=user, field=field, tenant=tenant):
            raise UserPushConflict(f"{field} belongs to an account this push cannot update")
        found[user.pk] = user
    if len(found) > 1:
        raise UserPushConflict("the identifiers name different users")
    return next(iter(found.values()), None)


def _push_changes(user: User, profile: dict[str, Any], standing: Standing) -> dict[str, Any]:
    """What a push may change on an existing user (docs/decisions/0009, 0035).

    Sign-in identifiers (email, phone) and their verified flags are ways into the account:
    a push adds a missing one, or raises a flag, only on the tenant's own account. Nowhere
    does it replace one: a tenant the user dealt with is told so (409); a stranger's differs
    silently, so that it cannot test guesses of the user's addresses. A stranger otherwise
    fills what the profile lacks and changes nothing it holds."""
    changes = dict(profile)
    for field, flag in VERIFIED_FLAGS.items():
        current = getattr(user, field)
        wanted = normalize_email(changes.get(field)) if field == "email" else changes.get(field)
        if field in changes and current and wanted != current and standing != Standing.STRANGER:
            raise UserPushConflict(f"{field} cannot be changed by a push; the user changes it")
        if standing != Standing.OWN:
            changes.pop(field, None)
        if not changes.get(flag) or standing != Standing.OWN:
            changes.pop(flag, None)
    if standing == Standing.STRANGER:
        changes = {name: value for name, value in changes.items() if getattr(user, name) in (None, "")}
    return changes


@transaction.atomic
def _user_push_once(*, actor: Actor, tenant, uuid, external_id: str | None, profile: dict[str, Any]):
    user = _user_match(tenant=tenant, uuid=uuid, external_id=external_id, profile=profile)
    created = user is None
    if created:
        if not profile.get("email") and not profile.get("phone_number"):
            raise ValidationError({"email": "a new user needs an email address or a phone number"})
        user = user_register(actor=actor, tenant=tenant, source=Membership.Source.API, **profile)
        changed = sorted(name for name, value in profile.items() if value not in (None, ""))
    else:
        changes = _push_changes(user, profile, user_standing_with_tenant(user=user, tenant=tenant))
        changed = sorted(name for name, value in changes.items() if getattr(user, name) != value)
        user = user_profile_update(actor=actor, user=user, changes=changes)
    membership_link(actor=actor, user=user, tenant=tenant, source=Membership.Source.API, external_id=external_id)
    return user, created, changed


def user_push(
    *, actor: Actor, tenant, uuid=None, external_id: str | None = None, profile: dict[str, Any]
) -> tuple[User, bool, list[str]]:
    """Create or update the user a tenant system names (by uuid, its external id, a verified
    email or phone number); returns the user, whether it was created, and what changed.

    Two pushes of a new user can race; the unique email and phone columns let only one
    insert win, and the loser, retried, finds the winner's row and updates it instead.
    """
    _validate_profile_fields(profile)
    if external_id and external_id.startswith(GUEST_COOKIE_PREFIX):
        raise ValidationError({"external_id": f"ids starting with {GUEST_COOKIE_PREFIX!r} are kept for guests"})
    for attempt in range(3):
        try:
            return _user_push_once(actor=actor, tenant=tenant, uuid=uuid, external_id=external_id, profile=profile)
        except IntegrityError:
            if attempt == 2:
                raise
        except ValidationError as error:
            # A concurrent twin committed between our match and our insert: match again.
            if attempt == 2 or not _is_uniqueness_error(error):
                raise
    raise AssertionError("unreachable")


def _is_uniqueness_error(error: ValidationError) -> bool:
    messages = getattr(error, "error_dict", {})
    return any(item.code == "unique" for field in ("email", "phone_number") for item in messages.get(field, []))


@transaction.atomic
def _guest_push_once(*, actor: Actor, tenant, external_id: str) -> tuple[User, bool]:
    membership = Membership.all_tenants.filter(tenant=tenant, external_id=external_id).select_related("user").first()
    if membership is not None:
        user = membership.user
        while user.merged_into_id is not None:  # the guest signed in since: its account
            user = user.merged_into
        return user, False
    user = user_guest_create(actor=actor, tenant=tenant, source=Membership.Source.API)
    membership_link(actor=actor, user=user, tenant=tenant, source=Membership.Source.API, external_id=external_id)
    return user, True


def guest_from_cookie(*, actor: Actor, tenant, cookie_id: str) -> tuple[User, bool]:
    """The guest behind a tenant's consent-cookie id, created on first sight.

    The cookie id is kept as the tenant's external id with a ``cookie:`` prefix
    (docs/decisions/0010-guest-cookie-ids.md); concurrent first sights end in one guest.
    """
    external_id = f"{GUEST_COOKIE_PREFIX}{cookie_id}"
    for attempt in range(3):
        try:
            return _guest_push_once(actor=actor, tenant=tenant, external_id=external_id)
        except (IntegrityError, ValidationError):
            # A concurrent first sight took the id between our lookup and our insert.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


# --- Many new users at once: the bulk import's set-based path (docs/decisions/0014) -----


def user_new_checked(*, profile: dict[str, Any]) -> User:
    """The user ``user_push`` would register for ``profile`` when nothing matches it, checked
    as ``user_register`` checks it (same errors), and not saved. Uniqueness is the caller's
    to establish: it has matched the identifiers against the database under a lock."""
    _validate_profile_fields(profile)
    fields = dict(profile)
    email, phone_number = fields.pop("email", None), fields.pop("phone_number", None)
    user = User(kind=User.Kind.REGISTERED, email=normalize_email(email), phone_number=phone_number or None, **fields)
    if not user.email and not user.phone_number:
        raise ValidationError({"email": "a registered user needs an email address or a phone number"})
    user.set_unusable_password()
    # The unique columns were matched by the caller; the check constraints hold for a
    # registered user with an identifier. Both would cost a query per user.
    user.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
    return user


def user_tokens_end(*, user: User) -> None:
    """End every token the apps hold for ``user``, inside the caller's transaction: codes not
    yet exchanged deleted, refresh tokens revoked, access tokens deleted, and after commit
    the user listed at every client that may hold a JWT access token of theirs
    (accounts.oidc.revocation_list): resource servers then refuse every such token issued up
    to that second, the hub's introspection too (decision 27). Listed before the logout
    tokens are queued, so an app told of the logout finds the list already says so. The
    clients are those of the user's tenants *now*: call it before memberships move (a guest
    merge), or the tenants the user leaves are not told."""
    get_grant_model().objects.filter(user=user).delete()
    get_refresh_token_model().objects.filter(user=user, revoked__isnull=True).update(revoked=timezone.now())
    get_access_token_model().objects.filter(user=user).delete()
    revoke = partial(jwt_subjects_revoke, digests=user_subject_digests(user=user))
    transaction.on_commit(revoke, robust=True)


@transaction.atomic
def user_deactivate(*, actor: Actor, user: User, issuer: str | None = None) -> User:
    """Stop ``user`` signing in. Every hub session of theirs ends with it (the auth backends
    refuse an inactive user's session), so each tenant app those sessions signed in to gets
    a logout token (Back-Channel Logout, decision 21). ``issuer`` is the one the ID tokens
    named: ``OIDC_ISSUER``, or the request's; without either no logout token can be made.
    The user's codes, refresh tokens and access tokens end as at a sign-out everywhere, so
    reactivating the account does not bring its earlier sign-ins back; the JWT access tokens
    the user's apps hold go on the revocation list (decision 27).
    """
    if not user.is_active:
        return user
    user.is_active = False
    user.save(update_fields=["is_active", "updated_at"])
    # Its tokens end too, so that reactivating the account (after a compromise, say) does
    # not bring back the sign-ins of before: only new sign-ins count then.
    _user_sign_ins_end(actor=actor, user=user, issuer=issuer, what="deactivated")
    # Every tenant that knows the user hears it: a deactivated user is in no export or lookup.
    _related_tenants_tell(actor=actor, user=user, type="user.deactivated")
    return user


@transaction.atomic
def user_reactivate(*, actor: Actor, user: User) -> User:
    """Let a deactivated user sign in again (with new sign-ins only: the old ones ended)."""
    if user.is_active:
        return user
    user.is_active = True
    user.save(update_fields=["is_active", "updated_at"])
    _related_tenants_tell(actor=actor, user=user, type="user.reactivated")
    return user


def _user_sign_ins_end(*, actor: Actor, user: User, issuer: str | None, what: str) -> None:
    """The user's tokens ended (user_tokens_end) and every app of the user's sessions told
    (after commit, decision 21)."""
    user_tokens_end(user=user)
    issuer = issuer or hub_issuer()
    if issuer is None:
        logger.warning("user %s %s without back-channel logout: set OIDC_ISSUER", user.uuid, what)
    else:
        user_sessions_logout_announce(actor=actor, user=user, issuer=issuer)


@transaction.atomic
def user_sign_out_everywhere(*, actor: Actor, user: User, issuer: str | None = None) -> User:
    """End every sign-in of ``user`` without locking the account: the hub's sessions (the
    session hash changes), the apps' sessions (a logout token to each app a hub session
    signed in to, decision 21) and the tokens the apps hold (refresh tokens revoked, access
    tokens deleted, JWT access tokens issued until now put on the revocation list for the
    resource servers that check them on their own, decision 27; codes not yet exchanged
    deleted, or they would buy tokens issued after it). The user can sign in again at
    once; tokens of that sign-in are issued after the listed moment (in the same second,
    they are refused too: the app refreshes)."""
    User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    user.refresh_from_db(fields=["session_generation"])
    _user_sign_ins_end(actor=actor, user=user, issuer=issuer, what="signed out everywhere")
    logger.info("user %s signed out everywhere by %s", user.uuid, actor)
    return user


def user_push_changes_checked(*, user: User, profile: dict[str, Any], standing: Standing) -> list[str]:
    """What ``user_push`` would change on ``user`` (the user it matched) for ``profile``:
    the changes are set on ``user``, unsaved, checked as ``user_profile_update`` checks
    them (same errors), and their field names returned, sorted. Raises UserPushConflict
    for an identifier the push may not replace. Uniqueness is the caller's to establish:
    the bulk import sends a row that changes an e-mail or phone number the per-row way."""
    _validate_profile_fields(profile)
    changes = _push_changes(user, profile, standing)
    if "email" in changes:
        changes["email"] = normalize_email(changes["email"])
    if "phone_number" in changes:
        changes["phone_number"] = changes["phone_number"] or None
    changed = sorted(name for name, value in changes.items() if getattr(user, name) != value)
    for name in changed:
        setattr(user, name, changes[name])
    if changed:
        user.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
    return changed
