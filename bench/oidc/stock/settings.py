"""Stock Django + django-oauth-toolkit: the baseline Harbourmaster is measured against.

Nothing from Harbourmaster is imported. What a team following DOT's tutorial would have:
``startproject`` defaults, the default ``oauth2_provider.Application`` model, DOT's
token and introspection views, and a DRF view behind DOT's OAuth2Authentication.
Same data stores as the hub (PostgreSQL, Redis) and the same persistent DB connections.
"""

import os

DEBUG = False
SECRET_KEY = "bench-only-not-a-secret-" + "x" * 40
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "oauth2_provider",
]

# startproject's defaults (minus staticfiles/admin, which serve nothing here).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "stock.urls"
WSGI_APPLICATION = "stock.wsgi.application"
TEMPLATES = []

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("STOCK_DB_NAME", "hm_bench_stock"),
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": "5432",
        # The hub runs with DATABASE_CONN_MAX_AGE=60 and health checks; so does the baseline.
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("STOCK_REDIS_URL", "redis://127.0.0.1:6379/10"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

# Django's default hashers (PBKDF2 first): DOT hashes client secrets with them unless
# the application says hash_client_secret=False.
OAUTH2_PROVIDER = {
    "SCOPES": {"read": "Read", "write": "Write", "introspection": "Introspect tokens"},
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
    "REFRESH_TOKEN_EXPIRE_SECONDS": 30 * 24 * 3600,
    "ROTATE_REFRESH_TOKEN": True,
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["oauth2_provider.contrib.rest_framework.OAuth2Authentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
