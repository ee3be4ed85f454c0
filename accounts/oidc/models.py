"""What the OpenID Connect provider keeps beside the toolkit's own token rows."""

from django.db import models
from oauth2_provider.settings import oauth2_settings


class RequestedUserinfoClaims(models.Model):
    """The claims a relying party asked the userinfo endpoint for (``claims``, Core 1.0, 5.5).

    Kept with the refresh token of the sign-in and handed on to the next one at each
    rotation, so every access token of the sign-in gets the same answer; it goes with the
    refresh token when the toolkit's housekeeping removes that. Names only: which of them
    are released is decided at each call, by the client's scopes then. Decision 20.
    """

    refresh_token = models.OneToOneField(
        oauth2_settings.REFRESH_TOKEN_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="requested_userinfo_claims",
    )
    names = models.JSONField()

    class Meta:
        verbose_name_plural = "requested userinfo claims"

    def __str__(self) -> str:
        return ", ".join(self.names)
