"""Harbourmaster settings: one file, driven by the environment.

With no environment set, this is the embedded default: SQLite under ``var/``, a
local-memory cache, Celery tasks run eagerly, mail written to the console and to
``var/outbox/``. Set ``DATABASE_URL`` and ``REDIS_URL`` for PostgreSQL and Redis, and
``HARBOURMASTER_ENV=production`` for a deployment (which then insists on a real
``SECRET_KEY`` and ``ALLOWED_HOSTS``). See docs/operations.md for every variable.
"""

import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from harbourmaster.env import envbool, envint, envlist, envstr

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("HARBOURMASTER_VAR_DIR", str(BASE_DIR / "var")))

ENVIRONMENT = envstr("HARBOURMASTER_ENV", "development")
if ENVIRONMENT not in {"development", "production"}:
    raise ImproperlyConfigured(f"HARBOURMASTER_ENV={ENVIRONMENT!r}: use development or production")
PRODUCTION = ENVIRONMENT == "production"
DEBUG = envbool("DEBUG", default=not PRODUCTION)


def _development_secret_key() -> str:
    """A key made once per checkout and kept under var/, so dev sessions survive restarts."""
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50), encoding="utf-8")
        key_file.chmod(0o600)
    return key_file.read_text(encoding="utf-8").strip()


SECRET_KEY = envstr("SECRET_KEY")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS")
if PRODUCTION:
    missing = [name for name, value in (("SECRET_KEY", SECRET_KEY), ("ALLOWED_HOSTS", ALLOWED_HOSTS)) if not value]
    if missing:
        raise ImproperlyConfigured(f"Production settings are missing: {', '.join(missing)}")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters in production")
else:
    SECRET_KEY = SECRET_KEY or _development_secret_key()
    ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "[::1]", "testserver"]

# Client secrets are high-entropy random values, so they are stored as a keyed hash
# (HMAC-SHA256) rather than run through the password hasher. The key defaults to
# SECRET_KEY; set it separately to be able to rotate SECRET_KEY without reissuing secrets.
CLIENT_SECRET_HASH_KEY = envstr("CLIENT_SECRET_HASH_KEY") or SECRET_KEY

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.facebook",
    "allauth.socialaccount.providers.apple",
    "allauth.socialaccount.providers.openid_connect",
    "tenants",
    "audit",
    "events",
    "consents",
    "accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.signin.middleware.SignInContextMiddleware",
    "accounts.signin.middleware.SignInLanguageMiddleware",
]

ROOT_URLCONF = "harbourmaster.urls"
WSGI_APPLICATION = "harbourmaster.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.signin.context_processors.signin",
            ],
        },
    },
]

# --- Data stores -------------------------------------------------------------------

DATABASE_URL = envstr("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=envint("DATABASE_CONN_MAX_AGE", 60), conn_health_checks=True
        )
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's, with the health check skipped for a connection that just proved itself.
        DATABASES["default"]["ENGINE"] = "harbourmaster.db.postgresql"
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "harbourmaster.sqlite3",
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = envstr("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "harbourmaster.cache.HubRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": envstr("CACHE_KEY_PREFIX", "hm"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Sessions live in Redis when there is one: a sign-in then writes no database row, waits on
# no commit, and writes its new session once (accounts/signin/sessions.py; bench/signin).
# Without Redis (the embedded default) they stay in the database, which every process shares.
SESSION_ENGINE = "accounts.signin.sessions" if REDIS_URL else "django.contrib.sessions.backends.db"

# --- Celery --------------------------------------------------------------------------

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "idempotency-keys-purge": {"task": "tenants.tasks.idempotency_keys_purge_task", "schedule": 3600},
    "oauth-tokens-clear": {"task": "tenants.tasks.oauth_tokens_clear_task", "schedule": 3600},
    "import-jobs-sweep": {"task": "accounts.tasks.import_jobs_sweep", "schedule": 60},
    "oidc-client-sessions-prune": {"task": "accounts.oidc.tasks.client_sessions_prune", "schedule": 3600},
    "signin-unconfirmed-purge": {"task": "accounts.signin.tasks.signin_unconfirmed_purge_task", "schedule": 3600},
}

# --- Identity ------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
OAUTH2_PROVIDER_APPLICATION_MODEL = "tenants.Client"
OAUTH2_PROVIDER = {
    "APPLICATION_ADMIN_CLASS": "tenants.admin.ClientAdmin",
    "ACCESS_TOKEN_ADMIN_CLASS": "tenants.admin.tokens.HubAccessTokenAdmin",
    "PKCE_REQUIRED": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"] if DEBUG else ["https"],
    # The toolkit checks a client's allowed origins (CORS, decision 32) against these.
    "ALLOWED_SCHEMES": ["https", "http"] if DEBUG else ["https"],
    # OpenID Connect provider: accounts/oidc (validator, claims, views), keys in tenants.keys.
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": envstr("OIDC_ISSUER", ""),  # derived from the request when unset
    "OAUTH2_SERVER_CLASS": "accounts.oidc.server.HubServer",
    "OAUTH2_VALIDATOR_CLASS": "accounts.oidc.validators.HubOAuth2Validator",
    "OAUTH2_BACKEND_CLASS": "accounts.oidc.backends.SessionAwareOAuthLibCore",
    "SCOPES_BACKEND_CLASS": "accounts.oidc.scopes.ClientScopes",
    "SCOPES": {
        "openid": "Sign you in",
        "profile": "Your name and profile",
        "email": "Your email address",
        "phone": "Your phone number",
        "address": "Your postal address",
        "offline_access": "Stay signed in",
    },
    "DEFAULT_SCOPES": ["openid"],
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OIDC_SUBJECT_TYPES_SUPPORTED": ["public", "pairwise"],
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "client_credentials", "refresh_token"],
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["client_secret_basic", "client_secret_post", "none"],
    "OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["client_secret_basic", "client_secret_post", "none"],
    "OAUTH_PRE_TOKEN_VALIDATION": [],  # its one default hook serves the device flow, not offered
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ACCESS_TOKEN_EXPIRE_SECONDS": envint("OIDC_ACCESS_TOKEN_SECONDS", 3600),
    "ID_TOKEN_EXPIRE_SECONDS": envint("OIDC_ID_TOKEN_SECONDS", 3600),
    # Absolute: the validator dates a refresh token by the first token of its rotation
    # family, so a sign-in lasts this long however often it is refreshed.
    "REFRESH_TOKEN_EXPIRE_SECONDS": envint("OIDC_REFRESH_TOKEN_SECONDS", 30 * 24 * 3600),
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,  # a replayed refresh token revokes its family
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "OIDC_JWKS_MAX_AGE_SECONDS": 3600,  # also how long a new key is published before it signs
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": True,
    # RFC 9700: refuse implicit, password and plain PKCE; no tokens in query strings;
    # iss in authorization responses; tokens stored only as their SHA-256.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}
# Keys the pairwise ``sub`` (accounts.oidc.claims). Changing it changes every pairwise
# subject, so set it separately from SECRET_KEY to be able to rotate SECRET_KEY.
OIDC_PAIRWISE_SUBJECT_KEY = envstr("OIDC_PAIRWISE_SUBJECT_KEY") or SECRET_KEY
# Encrypt the token-signing keys' private halves at rest (tenants.key_encryption,
# docs/decisions/0021); the first key encrypts, all decrypt.
SIGNING_KEY_ENCRYPTION_KEYS = envlist("SIGNING_KEY_ENCRYPTION_KEYS") or [SECRET_KEY]

# allauth's backend alone: it is Django's ModelBackend (permissions, the admin's sign-in by
# email) plus allauth's ways in. With both listed, a wrong password was verified twice,
# doubling what each guess costs the hub.
AUTHENTICATION_BACKENDS = ["allauth.account.auth_backends.AuthenticationBackend"]
PASSWORD_HASHERS = [
    "accounts.hashers.HubArgon2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
# The login page names the tenant app the user is signing in to (accounts.oidc.forms).
ACCOUNT_FORMS = {"login": "accounts.oidc.forms.SignInForm"}

# --- Sign-in: the tenant's context (accounts/signin) ----------------------------------
ACCOUNT_ADAPTER = "accounts.signin.adapter.HubAccountAdapter"
# A session opened with a method one tenant accepts and another does not is sent back to
# the login page by the second tenant's authorization endpoint (accounts.signin.policy):
# allauth must then show the page, not bounce a signed-in user straight back.
ACCOUNT_AUTHENTICATED_LOGIN_REDIRECTS = False

# --- Sign-in: passwordless codes (email, SMS) -------------------------------------------
# accounts/signin (forms, adapter, codes) and docs/decisions/0015-passwordless-codes.md.
# allauth's own lifetime and attempt limit are the schema's maxima; each tenant's
# ``otp`` (length, ttl_seconds, max_attempts, channels) is applied within them.
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
ACCOUNT_LOGIN_BY_CODE_TIMEOUT = 3600
ACCOUNT_LOGIN_BY_CODE_MAX_ATTEMPTS = 10
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = True
ACCOUNT_FORMS = {
    **ACCOUNT_FORMS,
    "request_login_code": "accounts.signin.forms.RequestCodeForm",
    "confirm_login_code": "accounts.signin.forms.ConfirmCodeForm",
    "reset_password": "accounts.signin.forms.HubResetPasswordForm",
}
# Behind proxies every caller arrives from the balancer: every limit a stranger can reach
# (sign-in, guests, the API's and the revocation list's bad credentials) then takes the
# client from X-Forwarded-For, this many entries from the right
# (harbourmaster.client_address, which allauth's limits use too). Leave 0 where clients
# connect directly, or they could claim any address.
ALLAUTH_TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", 0)
# Sliding windows kept in the cache (Redis with REDIS_URL, shared by every replica): a
# limit ends by itself once the attempts stop; nothing locks an account for good.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",  # key: the address typed; a success clears it
    # Code requests (accounts.signin.limits): allauth counts this one per client IP; the hub
    # counts the two below itself. Per client *and* address, so that a stranger asking for
    # someone's codes spends only their own budget and never locks that person out...
    "request_login_code": "20/m/ip",
    "request_login_code_client": "3/m/key,10/h/key",  # key: client IP + email or phone number
    # ...and per address from every client together, well above one client's share, so that
    # many clients cannot flood one inbox or phone (harassment, SMS toll fraud) either.
    "request_login_code_address": "30/h/key",  # key: the email or phone number
    "confirm_login_code": "30/m/ip",  # every code entered (accounts.signin.forms)
    "consent_confirmation": "30/m/ip",  # answers on consent confirmation pages (accounts.confirmations)
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "verify_phone": "1/30s/key,3/m/ip",
}
# Text messages hold sign-in codes. ``console`` prints them (development only), so production
# names its gateway, or ``disabled``: then no tenant offers SMS codes (accounts.signin.context).
SMS_BACKEND = envstr("SMS_BACKEND", None if PRODUCTION else "console")
if PRODUCTION and not SMS_BACKEND:
    raise ImproperlyConfigured("Production settings are missing: SMS_BACKEND (http, a gateway class, or disabled)")
if PRODUCTION and SMS_BACKEND in {"console", "accounts.sms.backends.ConsoleAndFileBackend"}:
    raise ImproperlyConfigured(
        f"SMS_BACKEND={SMS_BACKEND!r} writes sign-in codes to the log: "
        "in production use http, a gateway class, or disabled"
    )
SMS_OUTBOX_DIR = Path(envstr("SMS_OUTBOX_DIR", str(VAR_DIR / "outbox" / "sms")))
SMS_GATEWAY_URL = envstr("SMS_GATEWAY_URL", "")
SMS_GATEWAY_TOKEN = envstr("SMS_GATEWAY_TOKEN", "")
SMS_GATEWAY_TIMEOUT = envint("SMS_GATEWAY_TIMEOUT", 10)
if SMS_BACKEND == "http" and not SMS_GATEWAY_URL:
    raise ImproperlyConfigured("SMS_BACKEND=http needs SMS_GATEWAY_URL")
CELERY_IMPORTS = ["accounts.sms.tasks", "accounts.oidc.tasks", "accounts.signin.tasks"]

# --- Sign-in: MFA and guests --------------------------------------------------------------
# allauth.mfa: TOTP apps, passkeys / security keys (WebAuthn, as a second factor only: no
# passwordless sign-in) and single-use recovery codes, shown once (accounts/signin/mfa.py
# applies a tenant's mfa.required at the authorization endpoint). docs/decisions/0016.
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_ADAPTER = "accounts.signin.mfa_adapter.HubMFAAdapter"
# TOTP keys and recovery-code seeds are encrypted at rest; the first key encrypts, all decrypt.
MFA_ENCRYPTION_KEYS = envlist("MFA_ENCRYPTION_KEYS") or [SECRET_KEY]
MFA_TOTP_ISSUER = "Harbourmaster"
MFA_TOTP_TOLERANCE = 1  # one 30 s step either side: phones' clocks drift
MFA_RECOVERY_CODE_COUNT = 10
MFA_RECOVERY_CODES_SHOW_ONCE = True
# The RP ID is the request's host; browsers accept http only on localhost, so nothing
# insecure is allowed. Passkeys hold only public keys here: nothing to encrypt.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = False
# Guests (accounts/signin/guest.py): the device cookie and how many guests one address
# may create per hour.
GUEST_DEVICE_COOKIE_NAME = "hm_guest"
GUEST_DEVICE_COOKIE_AGE = 365 * 24 * 3600
GUEST_SIGNINS_PER_IP_PER_HOUR = envint("GUEST_SIGNINS_PER_IP_PER_HOUR", 20)

# --- Sign-in: social providers ------------------------------------------------------------
# Which provider apps a sign-in offers comes from the served tenant (accounts/signin/social.py,
# docs/decisions/0017); their client secrets live in SocialApp rows operators keep in the admin.
SOCIALACCOUNT_ADAPTER = "accounts.signin.social.HubSocialAccountAdapter"
# An email address from a provider signs in to an existing account only through an app the
# operator marked trusted for it (SocialApp settings "email_authentication": true).
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_STORE_TOKENS = False  # the hub signs people in; it calls no provider API for them
SOCIALACCOUNT_LOGIN_ON_GET = False  # a link alone never starts a sign-in elsewhere
SOCIALACCOUNT_QUERY_EMAIL = True
SOCIALACCOUNT_REQUESTS_TIMEOUT = 10
SOCIALACCOUNT_PROVIDERS = {
    "google": {"SCOPE": ["openid", "email", "profile"], "OAUTH_PKCE_ENABLED": True},
    # Only what a profile needs, not allauth's default list (gender, link, timezone, ...).
    "facebook": {
        "METHOD": "oauth2",
        "SCOPE": ["email", "public_profile"],
        "FIELDS": ["id", "email", "name", "first_name", "last_name"],
    },
    "apple": {},
    "openid_connect": {"OAUTH_PKCE_ENABLED": True},
}

LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"

# --- Tenant API ------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["harbourmaster.api.authentication.ClientTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["harbourmaster.api.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["harbourmaster.api.throttling.TenantRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "harbourmaster.api.pagination.IdCursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "harbourmaster.api.negotiation.RememberingContentNegotiation",
    "DEFAULT_PARSER_CLASSES": ["harbourmaster.api.parsers.JSONParser", "harbourmaster.api.parsers.MergePatchParser"],
    "EXCEPTION_HANDLER": "harbourmaster.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    # No OPTIONS metadata: it describes forms for the browsable API, which we do not serve.
    "DEFAULT_METADATA_CLASS": None,
}
# The largest request body the API reads (413 beyond): bulk data goes through imports.
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", 2 * 1024 * 1024)
# Strangers sending bad bearer tokens get this many tries per minute per address.
API_FAILED_AUTHENTICATIONS_PER_MINUTE = envint("API_FAILED_AUTHENTICATIONS_PER_MINUTE", 60)
SPECTACULAR_SETTINGS = {
    "TITLE": "Harbourmaster API",
    "DESCRIPTION": "Tenant management and user data API. Authenticate with a client-credentials bearer token.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Schema generation has no tenant; the plain default manager never raises for that.
    "DEFAULT_QUERY_MANAGER": "_default_manager",
    # harbourmaster.api.converters: a uuid in either case, documented as a uuid.
    "PATH_CONVERTER_OVERRIDES": {"any_case_uuid": {"type": "string", "format": "uuid"}},
    "ENUM_NAME_OVERRIDES": {
        "ClientTypeEnum": [("confidential", "Confidential"), ("public", "Public")],
        "TenantStatusEnum": "tenants.models.Tenant.Status",
        "PurposeStatusEnum": "consents.models.Purpose.Status",
    },
}

# --- User import ---
# Bulk imports (accounts/imports, docs/decisions/0014-bulk-import.md): the largest upload,
# how long a job's worker may stay silent before the sweep takes it as dead and queues it
# again, and how many rows are committed together (a crash redoes at most one batch).
USER_IMPORT_MAX_BYTES = envint("USER_IMPORT_MAX_BYTES", 50 * 1024 * 1024)
USER_IMPORT_STALL_SECONDS = envint("USER_IMPORT_STALL_SECONDS", 300)
USER_IMPORT_BATCH_SIZE = envint("USER_IMPORT_BATCH_SIZE", 10_000)

# --- Mail ------------------------------------------------------------------------------

OUTBOX_DIR = VAR_DIR / "outbox"
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "Harbourmaster <no-reply@localhost>")
# Without EMAIL_HOST mail goes to the console: sign-in codes and reset links in the log.
if PRODUCTION and not envstr("EMAIL_HOST"):
    raise ImproperlyConfigured("Production settings are missing: EMAIL_HOST (else mail, codes included, is logged)")
if envstr("EMAIL_HOST"):
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": envstr("EMAIL_HOST"),
                "port": envint("EMAIL_PORT", 587),
                "username": envstr("EMAIL_HOST_USER", ""),
                "password": envstr("EMAIL_HOST_PASSWORD", ""),
                "use_tls": envbool("EMAIL_USE_TLS", True),
                "timeout": envint("EMAIL_TIMEOUT", 10),
            },
        }
    }
else:
    MAILERS = {
        "default": {
            "BACKEND": "harbourmaster.mail.ConsoleAndFileBackend",
            "OPTIONS": {"file_path": str(OUTBOX_DIR / "email")},
        }
    }

# --- HTTP and security -----------------------------------------------------------------

SESSION_COOKIE_NAME = "hm_session"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^health/"]
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", default=False)
# Preloading commits the whole domain to HTTPS in browsers for good: an operator's choice
# per domain (SECURE_HSTS_PRELOAD=true), so its deploy-check warning is silenced.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
if envbool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Internationalisation and static files --------------------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
TIME_ZONE = "UTC"
USE_I18N = True
# The hub's own translations (templates/, accounts/signin); allauth and Django bring theirs.
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(envstr("STATIC_ROOT", str(VAR_DIR / "static")))
WHITENOISE_USE_FINDERS = DEBUG
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing root
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Logging -----------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    # oauthlib logs request bodies (client secrets, codes) at DEBUG: never let it.
    "loggers": {"oauthlib": {"level": "WARNING"}},
}
