"""Settings, read from the environment (see README.md for the variables)."""

import datetime
import hashlib
import hmac
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).lower() in {"1", "true", "yes", "on"}


def local_secret_key() -> str:
    """A random key kept in var/ for a development install, never a published one."""
    path = BASE_DIR / "var" / "secret_key"
    path.parent.mkdir(exist_ok=True)
    try:
        with open(path, "x") as fresh:
            fresh.write(get_random_secret_key())
    except FileExistsError:
        pass
    return path.read_text().strip()


DEBUG = env_bool("DEBUG", False)
# A development install: the embedded services (`scripts/services.py`) or no database
# named at all. Anything else is treated as production.
LOCAL_INSTALL = "DATABASE_URL" not in os.environ or env_bool("RIVANE_EMBEDDED_SERVICES", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not (DEBUG or LOCAL_INSTALL):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off and a DATABASE_URL, Rivane runs as "
            "production and needs its own secret key."
        )
    SECRET_KEY = local_secret_key()
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")

# Behind TLS (production default): secure cookies, HSTS and HTTPS redirects. The TLS
# proxy in front must set X-Forwarded-Proto. Local installs serve plain HTTP.
HTTPS = env_bool("RIVANE_HTTPS", not (DEBUG or LOCAL_INSTALL))
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = HTTPS
# /metrics is scraped over the internal network without TLS.
SECURE_REDIRECT_EXEMPT = [r"^metrics$"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "simple_history",
    "axes",
    "ledger",
    "payables",
    "ops",
    # Last: its post_migrate hook gives the roles what every app grants them.
    "platform_integrity",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "platform_integrity.web.problems.ApiBodyLimitMiddleware",
    "platform_integrity.web.problems.DatabaseFaultMiddleware",
    # Last, as django-axes asks: it answers a locked-out login with 429.
    "axes.middleware.AxesMiddleware",
]

# Password logins (screens and admin) lock a username at one address after five
# failures for fifteen minutes; attempts are kept in the database (django-axes).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("RIVANE_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = datetime.timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/rivane"),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        # A connection the server ended while idle (a restart) is replaced, not failed on.
        conn_health_checks=True,
    )
}
# Server-side parameters let psycopg prepare a statement after its fifth use on a
# connection, so PostgreSQL stops planning the same ORM queries again and again.
DATABASES["default"].setdefault("OPTIONS", {}).update(
    {"server_side_binding": True, "prepare_threshold": 5}
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"

# Bodies above this are refused with 413 before they reach a view.
DATA_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024
# The new-entry form posts about five fields a line; entries go up to 10,000 lines.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 60_000

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "platform_integrity.web.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["platform_integrity.web.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "platform_integrity.web.problems.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "platform_integrity.web.schema.ViewScopedAutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Rivane API",
    "DESCRIPTION": "Ledger, payables and platform integrity for finance teams.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "ENUM_NAME_OVERRIDES": {
        "JournalEntryStatusEnum": "ledger.models.JournalEntry.Status",
        "PeriodStatusEnum": "ledger.models.Period.Status",
        "BillStatusEnum": "payables.models.Bill.Status",
        "PaymentStatusEnum": "payables.models.Payment.Status",
        "PaymentRunStatusEnum": "payables.models.PaymentRun.Status",
    },
}

# Payment runs (`payables.tasks`). A worker holds a run by a lease it renews before
# each payment; a run whose lease has run out (its worker died) may be claimed again.
RIVANE_RUN_LEASE_SECONDS = float(os.environ.get("RIVANE_RUN_LEASE_SECONDS", "30"))
# How often the sweeper looks for runs nobody works, and how long a QUEUED run waits
# after its task was sent before the sweeper sends it again.
RIVANE_RUN_SWEEP_SECONDS = float(os.environ.get("RIVANE_RUN_SWEEP_SECONDS", "5"))
RIVANE_RUN_REQUEUE_AFTER_SECONDS = float(os.environ.get("RIVANE_RUN_REQUEUE_AFTER_SECONDS", "60"))
# Attempts at one item's payment when it fails transiently (503, lost connection), and
# the first wait between them (doubling, jittered).
RIVANE_RUN_ITEM_ATTEMPTS = int(os.environ.get("RIVANE_RUN_ITEM_ATTEMPTS", "5"))
RIVANE_RUN_RETRY_BACKOFF_SECONDS = float(os.environ.get("RIVANE_RUN_RETRY_BACKOFF_SECONDS", "1"))

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE = {
    "relay-outbox": {"task": "platform_integrity.tasks.relay_outbox", "schedule": 1.0},
    "sweep-payment-runs": {
        "task": "payables.sweep_payment_runs",
        "schedule": RIVANE_RUN_SWEEP_SECONDS,
    },
}

# The tables whose rows money commands lock, in the order they lock them (ids ascending
# within a table): no two units of work can wait on each other in a cycle.
RIVANE_LOCK_ORDER = ("journal_entry", "bill", "payment", "vendor", "account_balance")
# The retry bound of the guarded unit of work (see platform_integrity/unit_of_work.py).
RIVANE_MAX_CONFLICT_RETRIES = int(os.environ.get("RIVANE_MAX_CONFLICT_RETRIES", "8"))
# Bounds on every wait of a unit of work, in milliseconds: its entity's turn, a row
# lock, one statement (an idle transaction is ended after three statement bounds).
RIVANE_TURN_TIMEOUT_MS = int(os.environ.get("RIVANE_TURN_TIMEOUT_MS", "5000"))
RIVANE_LOCK_TIMEOUT_MS = int(os.environ.get("RIVANE_LOCK_TIMEOUT_MS", "2000"))
RIVANE_STATEMENT_TIMEOUT_MS = int(os.environ.get("RIVANE_STATEMENT_TIMEOUT_MS", "10000"))
RIVANE_EVENT_STREAM = os.environ.get("RIVANE_EVENT_STREAM", "rivane:events")
# The role the serving processes connect as (DATABASE_URL); migrations, run by the
# database's owner, grant it what it needs and no more (README, "Two database roles").
RIVANE_APP_ROLE = os.environ.get("RIVANE_APP_ROLE", "rivane_app")
# The key of the audit log's hash chain (HMAC-SHA256), kept outside the database so that
# its owner cannot write a chain that verifies. Rows hashed under another key fail
# `verify_audit_chain`, so it must outlive any change of SECRET_KEY: set it in production.
RIVANE_AUDIT_KEY = (
    os.environ.get("RIVANE_AUDIT_KEY")
    or hmac.new(SECRET_KEY.encode(), b"rivane audit chain", hashlib.sha256).hexdigest()
)
# How long an API token lives unless its issuer says otherwise (`issue_token --days`).
RIVANE_TOKEN_TTL_DAYS = int(os.environ.get("RIVANE_TOKEN_TTL_DAYS", "90"))
# Refused bearer tokens allowed per client address (DRF rate syntax), per web process.
RIVANE_TOKEN_FAILURE_RATE = os.environ.get("RIVANE_TOKEN_FAILURE_RATE", "20/min")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"pipeline_aftermath": {"()": "platform_integrity.bulk.PipelineAftermath"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {"psycopg": {"filters": ["pipeline_aftermath"]}},
}
