"""The hub's settings for the password-login benchmark: allauth's rate limits off.

Everything else is the hub as deployed; one address sending hundreds of logins a second
is what the per-IP limits are there to stop, so the benchmark switches them off here.
"""

from harbourmaster.settings import *  # noqa: F403

ACCOUNT_RATE_LIMITS = False
