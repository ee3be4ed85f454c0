"""A refresh token used again moments after its rotation (decision 30).

Rotation spends a refresh token at its first use, and a second use of a spent token is
taken as theft: the whole sign-in (the token family) is revoked (RFC 9700, 4.14.2). Two
tabs of one app refreshing at once, or a retry whose first answer was lost, look the
same, and sign the user out of the app. A tenant may allow such a second use for a few
seconds (``refresh_token_reuse_interval`` in its config; 0, the default, allows none):
the caller then gets a new pair of its own in the same sign-in, and both pairs live on.

Only a token that rotation spent qualifies, and only while what it was rotated into
still lives: its successor access token (the one whose ``source_refresh_token`` it is)
and that token's refresh token. A token revoked on purpose (RFC 7009, sign-out, a
deactivated account) has no successor, and one several rotations back has lost its
successor's access token to the next rotation; both are refused as reuse, as before.

One rotation's second uses may leave at most ``LIVE_REFRESH_TOKENS_PER_SIGN_IN`` live
refresh tokens (its successor and the pairs beside it): a second use that would go beyond
that (a client retrying in a loop, or one token replayed many times within the interval)
is taken as theft, as a second use outside the interval is.
"""

from datetime import timedelta

from django.db import router, transaction
from django.db.models import F
from django.utils import timezone
from oauth2_provider.models import get_refresh_token_model
from oauth2_provider.settings import oauth2_settings

from accounts.oidc.rotation import token_checksum
from tenants.selectors import request_tenant_config

# Per rotation: its successor and the pairs of a few tabs or retries. Spare pairs of
# earlier rotations live on until they expire, so a sign-in may hold more.
LIVE_REFRESH_TOKENS_PER_SIGN_IN = 10
# The successor is written with the rotation (the same instant in one statement; a moment
# later on the toolkit's path).
ROTATION_SLACK = timedelta(seconds=1)


def refresh_token_reuse_interval(request) -> int:
    """Seconds the tenant of the request's client lets a just-rotated refresh token be used
    again (read with the client: no round trip on the refresh path)."""
    if request.client is None:
        return 0
    return request_tenant_config(request).get("refresh_token_reuse_interval", 0)


def refresh_token_spent(*, raw_token: str):
    """The newest row with this value if it is spent or revoked, with its user; else None."""
    token = (
        get_refresh_token_model()
        .objects.select_related("user")
        .filter(token_checksum=token_checksum(raw_token))
        .order_by(F("revoked").desc(nulls_first=True))
        .first()
    )
    return token if token is not None and token.revoked is not None else None


def refresh_token_successor(*, spent, request):
    """The live refresh token ``spent`` was rotated into, if the request's client may still
    use ``spent`` now (its own token, spent within its tenant's interval); else None."""
    interval = refresh_token_reuse_interval(request)
    if not interval or spent.application_id != request.client.pk or spent.revoked is None:
        return None
    if spent.revoked <= timezone.now() - timedelta(seconds=interval):
        return None
    return (
        get_refresh_token_model()
        .objects.select_related("access_token")
        .filter(access_token__source_refresh_token=spent, revoked__isnull=True)
        .first()
    )


def refresh_token_sibling_save(*, validator, token: dict, request) -> bool:
    """Issue the new pair beside the successor, in the same family, if the successor still
    lives as the pair is written (a sign-out or its own rotation since ends this) and the
    sign-in has room for another live refresh token; False, and nothing issued, if not."""
    successor = request.refresh_token_successor
    lifetime = token.get("expires_in", oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS)
    with transaction.atomic(using=router.db_for_write(get_refresh_token_model())):
        still = (
            get_refresh_token_model()
            .objects.select_for_update()
            .filter(pk=successor.pk, revoked__isnull=True, access_token__isnull=False)
            .exists()
        )
        if not still or _live_in_sign_in(request.refresh_token_instance) >= LIVE_REFRESH_TOKENS_PER_SIGN_IN:
            return False
        validator._check_and_set_request_resource(request)  # RFC 8707: inherited from the spent token
        access_token = validator._create_access_token(
            timezone.now() + timedelta(seconds=lifetime), request, token, source_refresh_token=None
        )
        validator._create_refresh_token(request, token["refresh_token"], access_token, request.refresh_token_instance)
    request.refresh_token_instance = None  # spent, as the toolkit leaves it
    return True


def _live_in_sign_in(spent) -> int:
    """Live refresh tokens of the sign-in made since ``spent`` was rotated: its successor and
    the pairs issued beside it. Spare pairs of earlier races, which an app often never uses
    and which live on until they expire, are not held against this one. Pairs beside one
    successor are counted one at a time: each locks the successor first."""
    since = spent.revoked - ROTATION_SLACK
    tokens = get_refresh_token_model().objects.filter(token_family=spent.token_family, revoked__isnull=True)
    return tokens.filter(created__gte=since).count()
