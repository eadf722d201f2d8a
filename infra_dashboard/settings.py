"""Settings, all read from the environment (and ``.env``) through django-environ.

Defaults are the embedded, dev-safe ones: SQLite, eager Celery tasks, local
memory cache and the mock provider when no OpenAI key is set. Production sets
``DATABASE_URL``, ``CELERY_BROKER_URL``, ``REDIS_URL`` and ``SECRET_KEY``.
"""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Core -------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
# The fallback key is only for local runs; production must set SECRET_KEY.
SECRET_KEY = env("SECRET_KEY", default="dev-insecure-key-change-me-in-production-0123456789")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Gateway key hashes are HMACs keyed with this; empty: SECRET_KEY (see SECURITY.md).
GATEWAY_KEY_PEPPER = env("GATEWAY_KEY_PEPPER", default="")

# --- Security headers and HTTPS ------------------------------------------------
# Always on: they cost nothing over plain HTTP. CSP: infra_dashboard.security.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
# HTTPS hardening follows one switch, SECURE_SSL_REDIRECT (each still overridable):
# turning these on without TLS in front would lock a plain-HTTP dev server out.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
_https = SECURE_SSL_REDIRECT and not DEBUG
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_https)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=_https)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if _https else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=_https)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=_https)
# Behind a TLS-terminating proxy: SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO.
if env("SECURE_PROXY_SSL_HEADER", default=""):
    SECURE_PROXY_SSL_HEADER = (env("SECURE_PROXY_SSL_HEADER"), "https")
# Probes and scrapers talk plain HTTP inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "infra_dashboard",
    "llm_gateway",
    "calls",
    "costs",
    "validation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "infra_dashboard.security.SecurityHeadersMiddleware",
    "infra_dashboard.middleware.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before CSRF: its process_view answers API method errors as OpenAI JSON.
    "llm_gateway.api.resilience.APIExceptionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "infra_dashboard.middleware.StaffRequiredMiddleware",
]

ROOT_URLCONF = "infra_dashboard.urls"
ASGI_APPLICATION = "infra_dashboard.asgi.application"
WSGI_APPLICATION = "infra_dashboard.wsgi.application"

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
                "infra_dashboard.context_processors.gateway_status",
                "infra_dashboard.security.csp_context",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
_postgres = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
if _postgres and env.bool("DB_POOL", default=True):
    # psycopg 3's pool: one pool per process instead of a connect per request.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN", default=2),
        "max_size": env.int("DB_POOL_MAX", default=20),
        "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
    }
elif not _postgres:  # DB_POOL=false Postgres (e.g. the CI worker) needs neither branch
    # Tests that run a live server use other threads: an on-disk test database lets
    # them share it with real locking (in-memory shared cache fails under writes).
    DATABASES["default"].setdefault("TEST", {"NAME": str(BASE_DIR / ".test-db.sqlite3")})
    # SQLite: wait for a writer instead of failing at once under concurrent calls.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            # WAL with synchronous=NORMAL survives an application crash and skips an
            # fsync per commit (a power cut may lose the last commits, not corrupt).
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
# A pooled or persistent connection is checked before use (for the pool Django
# passes psycopg_pool's check_connection), so the gateway recovers by itself
# after a database restart instead of failing on dead sockets.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# How long a finished call's record is retried through a database outage.
CALL_RECORD_RETRY_SECONDS = env.float("CALL_RECORD_RETRY_SECONDS", default=30.0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate-limit counters, key and price caches) ------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"
# Paths served without a staff login: machine endpoints authenticate themselves.
PUBLIC_PATH_PREFIXES = (
    "/healthz",
    "/readyz",
    "/metrics",
    "/v1/",
    "/api/v1/",
    "/api/openapi.json",
    "/accounts/login/",
    "/admin/",
    "/static/",
)

# --- Time -------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Static files -----------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "infra_dashboard.staticfinders.PlotlyFinder",
]
# WhiteNoise serves the finders' files directly, so no collectstatic step is
# needed for `make run`; production may still collect for compression.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Celery -------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL or None)
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the task for another
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must fail fast when the broker is down: the caller falls back to
# doing the work in-process rather than hanging a gateway request.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    # A broker that vanishes without closing the socket must not hang a publish.
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    # acks_late: a task whose worker died is handed out again after this long
    # (keep it above the longest countdown, USAGE_REFRESH_SECONDS).
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
}
# The same for the result backend (Redis too): a publish subscribes to the task's
# result channel, and celery's default (20 reconnects a second apart) held a
# gateway request for 20 s while Redis was away (the broker-lost fault test).
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
    "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2
CELERY_REDIS_SOCKET_TIMEOUT = 5
CELERY_TASK_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    # The backstop for the per-call refresh (costs.signals): late rows, idle periods.
    "costs-rollups": {"task": "costs.tasks.rollups_update_task", "schedule": 30.0},
    # Also re-queues alert deliveries whose backoff is over.
    "costs-budgets": {"task": "costs.tasks.budgets_evaluate_task", "schedule": 60.0},
    # Partitions for the months ahead (PostgreSQL) and retention (costs.retention).
    "call-log-maintain": {"task": "costs.tasks.call_log_maintain_task", "schedule": 3600.0},
}
# Without a broker there is no beat: the server runs the schedule above in a
# thread of its own (infra_dashboard.scheduler). With one, run `celery beat`.
PERIODIC_JOBS_IN_PROCESS = env.bool("PERIODIC_JOBS_IN_PROCESS", default=not CELERY_BROKER_URL)

# --- LLM providers -------------------------------------------------------------------
OPENAI_API_KEY = env("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env("OPENAI_BASE_URL", default="") or None
LLM_MODEL = env("LLM_MODEL", default="gpt-4o-mini")
LLM_TEMPERATURE = env.float("LLM_TEMPERATURE", default=0.1)
LLM_MAX_TOKENS = env.int("LLM_MAX_TOKENS", default=4000)
LLM_TIMEOUT = env.float("LLM_TIMEOUT", default=60.0)
LLM_MAX_RETRIES = env.int("LLM_MAX_RETRIES", default=3)
LLM_FALLBACK_MODELS = env.list("LLM_FALLBACK_MODELS", default=[])
# Unset: the mock answers last only while no provider key is configured (the demo);
# with a key, a call every provider failed is an error, never a made-up answer.
LLM_MOCK_FALLBACK = env.bool("LLM_MOCK_FALLBACK", default=None)
# Store prompt and response bodies (secrets redacted) with each call record.
LLM_STORE_BODIES = env.bool("LLM_STORE_BODIES", default=True)
# Retention (costs.retention): stored bodies are cleared after this many days, whole
# calls removed after the other (by month on PostgreSQL). Rollups, budgets and spend
# history are kept.
CALL_BODY_RETENTION_DAYS = env.int("CALL_BODY_RETENTION_DAYS", default=30)
CALL_RETENTION_DAYS = env.int("CALL_RETENTION_DAYS", default=400)
# A call's trace in your tracing UI, e.g. https://tempo.example/trace/{trace_id}
# (the OTEL_* export itself is configured by the standard variables: llm_gateway.telemetry).
OTEL_TRACE_URL_TEMPLATE = env.str("OTEL_TRACE_URL_TEMPLATE", default="")
# Circuit breaker: consecutive failures that open it, and how long it stays open.
LLM_CIRCUIT_FAILURES = env.int("LLM_CIRCUIT_FAILURES", default=5)
LLM_CIRCUIT_COOLDOWN = env.float("LLM_CIRCUIT_COOLDOWN", default=30.0)

# --- Gateway HTTP API ------------------------------------------------------------------
GATEWAY_MAX_BODY_BYTES = env.int("GATEWAY_MAX_BODY_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = GATEWAY_MAX_BODY_BYTES + 1024
# Under the ASGI server, write call records in batches right after the response
# instead of before it (calls.recorder explains the trade-off).
GATEWAY_BACKGROUND_RECORDS = env.bool("GATEWAY_BACKGROUND_RECORDS", default=True)
# Refused calls (rate limit, bad key) get a row each, up to this many per key and
# second; the rest of the second become one aggregated row (llm_gateway.refusals).
GATEWAY_REFUSAL_ROWS_PER_SECOND = env.int("GATEWAY_REFUSAL_ROWS_PER_SECOND", default=5)
# Each call's record is appended here before its answer goes out, and replayed
# if the process is killed before the record reached the database
# (calls.spool). Per host; empty turns it off. docs/operations.md.
GATEWAY_SPOOL_DIR = env("GATEWAY_SPOOL_DIR", default=str(BASE_DIR / "var" / "spool"))
GATEWAY_SPOOL_FSYNC = env.bool("GATEWAY_SPOOL_FSYNC", default=True)
GATEWAY_SPOOL_SWEEP_SECONDS = env.float("GATEWAY_SPOOL_SWEEP_SECONDS", default=30.0)
# The ASGI server's garbage-collector thresholds (llm_gateway.gc_tuning); empty keeps
# CPython's defaults.
GATEWAY_GC_THRESHOLDS = tuple(
    int(v) for v in env.list("GATEWAY_GC_THRESHOLDS", default=["20000", "50", "100"]) if v
)

# How long the server keeps an idle client connection open (llm_gateway.serving).
# Longer than any client's own idle expiry (the OpenAI SDK's httpx pool: 5 s), so
# the client always closes first and never sends a request into a closing socket.
GATEWAY_KEEP_ALIVE_SECONDS = env.int("GATEWAY_KEEP_ALIVE_SECONDS", default=75)

# --- Response cache (llm_gateway/cache.py) -------------------------------------------------
# Redis when REDIS_URL is set (run it with maxmemory-policy allkeys-lru), else an
# in-process LRU of GATEWAY_CACHE_MAX_ENTRIES answers.
GATEWAY_CACHE_ENABLED = env.bool("GATEWAY_CACHE_ENABLED", default=True)
GATEWAY_CACHE_TTL = env.int("GATEWAY_CACHE_TTL", default=3600)
GATEWAY_CACHE_MAX_ENTRY_BYTES = env.int("GATEWAY_CACHE_MAX_ENTRY_BYTES", default=256 * 1024)
GATEWAY_CACHE_MAX_ENTRIES = env.int("GATEWAY_CACHE_MAX_ENTRIES", default=10_000)

# --- Budgets ------------------------------------------------------------------------------
BUDGET_TIMEZONE = env("BUDGET_TIMEZONE", default="UTC")
# How long a budget decision is cached on the hot path (overshoot bound); 0: never.
BUDGET_CHECK_CACHE_SECONDS = env.float("BUDGET_CHECK_CACHE_SECONDS", default=5.0)
# After a call, rollups and budget alerts refresh at most this often.
USAGE_REFRESH_SECONDS = env.int("USAGE_REFRESH_SECONDS", default=15)

# An alert delivery's claim; a worker killed mid-delivery holds it this long.
ALERT_CLAIM_SECONDS = env.int("ALERT_CLAIM_SECONDS", default=120)

# --- Email ------------------------------------------------------------------------------------
_email = env.email_url("EMAIL_URL", default="consolemail://")
vars().update({k: v for k, v in _email.items() if v is not None})
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="llm-gateway@localhost")

# --- Logging ------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "openai": {"level": "WARNING"}},
}
