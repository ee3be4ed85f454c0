"""The OpenID Connect provider: django-oauth-toolkit, customised through its seams only.

``validators`` (the OAuth2Validator subclass), ``scopes`` (the scopes backend),
``backends`` (the OAuthLibCore subclass), ``claims`` (what a token says about a user)
and ``views`` (subclasses of the toolkit's views), routed by ``urls``.
"""
