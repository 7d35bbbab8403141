"""All configuration, read once from environment variables with local defaults.

Every variable is documented in the README's configuration table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

DEV_SECRET = "dev-only-insecure-secret-change-me-0123456789"
# 32 zero bytes, base64: a development master key that production refuses.
DEV_MASTER_KEY = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


ENVIRONMENTS = {"development": "development", "dev": "development", "production": "production",
                "prod": "production"}


def _environment(raw: str) -> str:
    """``development`` or ``production``; anything else is refused, so a typo cannot skip the
    production checks."""
    value = ENVIRONMENTS.get(raw.strip().lower())
    if value is None:
        raise SystemExit(f"SWITCHYARD_ENV must be 'development' or 'production', not {raw!r}")
    return value


def _consumer_in_process(clickhouse_url: str) -> bool:
    """``auto`` (default): yes with chdb (one engine per process), no with a ClickHouse server."""
    mode = _env("RUN_CONSUMER_IN_PROCESS", "auto").lower()
    if mode == "auto":
        return clickhouse_url.startswith("chdb:")
    return mode in ("1", "true", "yes")


def _plan_limits(raw: str) -> dict[str, tuple[int, int | None]]:
    """``RATE_LIMIT_PLANS="pro:600:1000,team:1200"``: per plan, requests per minute per gateway key and,
    optionally, per client IP (absent: ``RATE_LIMIT_PER_IP``). Malformed entries are ignored."""
    limits: dict[str, tuple[int, int | None]] = {}
    for item in raw.split(","):
        plan, *numbers = (part.strip() for part in item.split(":"))
        if plan and 1 <= len(numbers) <= 2 and all(n.isdigit() and int(n) > 0 for n in numbers):
            limits[plan] = (int(numbers[0]), int(numbers[1]) if len(numbers) == 2 else None)
    return limits


@dataclass(frozen=True)
class ProviderConfig:
    """Where the gateway reaches one provider, and the operator's platform key for it (may be empty)."""

    name: str
    base_url: str
    api_key: str


@dataclass(frozen=True)
class Settings:
    environment: str = "development"  # "production" refuses default secrets
    forwarded_allow_ips: str = ""  # proxies trusted for X-Forwarded-For; empty: trust none
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path(".data")

    database_url: str = ""  # empty: the local stack's embedded Postgres
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    usage_topic: str = "usage-events"
    usage_dlq_topic: str = "usage-events-dlq"
    usage_topic_partitions: int = 6
    clickhouse_url: str = "chdb:///.data/clickhouse"
    clickhouse_database: str = "switchyard"
    run_consumer_in_process: bool = True  # chdb: one engine per process, so the gateway hosts the consumer

    jwt_secret: str = DEV_SECRET
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
    master_keys: str = f"k1:{DEV_MASTER_KEY}"  # "id:base64key,id2:base64key2"; the first one encrypts

    providers: dict[str, ProviderConfig] = field(default_factory=dict)
    catalog_path: str = ""  # empty: the catalog shipped with the gateway

    upstream_connect_timeout_s: float = 5.0
    upstream_idle_timeout_s: float = 60.0
    upstream_attempt_timeout_s: float = 180.0  # one provider call, until its answer (or stream) starts
    request_deadline_s: float = 300.0  # all attempts of one request together, fallbacks included

    redis_url: str = ""  # empty: no shared limiter (per-process limits) and no response cache
    rate_limit_per_key: int = 60  # requests per minute per gateway key
    rate_limit_per_ip: int = 100  # requests per minute per client IP on /v1
    rate_limit_plans: dict[str, tuple[int, int | None]] = field(default_factory=dict)  # plan -> (key, ip)
    rate_limit_api_per_ip: int = 300  # /api/* requests per minute per client IP
    rate_limit_auth_per_ip: int = 20  # signup/login/refresh attempts per minute per client IP

    cache_enabled: bool = True
    cache_ttl_s: int = 3600
    cache_max_entry_bytes: int = 1_000_000
    cache_disabled_key_ids: frozenset[str] = frozenset()  # gateway key ids that never use the cache

    max_body_bytes: int = 10 * 1024 * 1024
    max_json_depth: int = 64

    spool_dir: Path = Path(".data/spool")
    producer_buffer_size: int = 100_000

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(_env("SWITCHYARD_DATA_DIR", ".data")).resolve()
        providers = {}
        for name, default_url in (
            ("openai", "http://127.0.0.1:9101/v1"),
            ("anthropic", "http://127.0.0.1:9102"),
            ("google", "http://127.0.0.1:9103"),
        ):
            prefix = name.upper()
            providers[name] = ProviderConfig(
                name=name,
                base_url=_env(f"{prefix}_BASE_URL", default_url).rstrip("/"),
                api_key=_env(f"{prefix}_API_KEY", ""),
            )
        clickhouse_url = _env("CLICKHOUSE_URL", f"chdb://{data_dir / 'clickhouse'}")
        return cls(
            environment=_environment(_env("SWITCHYARD_ENV", "development")),
            forwarded_allow_ips=_env("FORWARDED_ALLOW_IPS", "").strip(),
            host=_env("SWITCHYARD_HOST", "127.0.0.1"),
            port=int(_env("SWITCHYARD_PORT", "8080")),
            data_dir=data_dir,
            database_url=_env("DATABASE_URL", ""),
            kafka_bootstrap_servers=_env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            usage_topic=_env("USAGE_TOPIC", "usage-events"),
            usage_dlq_topic=_env("USAGE_DLQ_TOPIC", "usage-events-dlq"),
            usage_topic_partitions=int(_env("USAGE_TOPIC_PARTITIONS", "6")),
            clickhouse_url=clickhouse_url,
            clickhouse_database=_env("CLICKHOUSE_DATABASE", "switchyard"),
            run_consumer_in_process=_consumer_in_process(clickhouse_url),
            jwt_secret=_env("JWT_SECRET", DEV_SECRET),
            access_token_ttl_s=int(_env("ACCESS_TOKEN_TTL_S", "900")),
            refresh_token_ttl_s=int(_env("REFRESH_TOKEN_TTL_S", str(30 * 24 * 3600))),
            master_keys=_env("MASTER_KEYS", f"k1:{DEV_MASTER_KEY}"),
            providers=providers,
            catalog_path=_env("MODEL_CATALOG_PATH", ""),
            upstream_connect_timeout_s=float(_env("UPSTREAM_CONNECT_TIMEOUT_S", "5")),
            upstream_idle_timeout_s=float(_env("UPSTREAM_IDLE_TIMEOUT_S", "60")),
            upstream_attempt_timeout_s=float(_env("UPSTREAM_ATTEMPT_TIMEOUT_S", "180")),
            request_deadline_s=float(_env("REQUEST_DEADLINE_S", "300")),
            redis_url=_env("REDIS_URL", ""),
            rate_limit_per_key=int(_env("RATE_LIMIT_PER_KEY", "60")),
            rate_limit_per_ip=int(_env("RATE_LIMIT_PER_IP", "100")),
            rate_limit_plans=_plan_limits(_env("RATE_LIMIT_PLANS", "")),
            rate_limit_api_per_ip=int(_env("RATE_LIMIT_API_PER_IP", "300")),
            rate_limit_auth_per_ip=int(_env("RATE_LIMIT_AUTH_PER_IP", "20")),
            cache_enabled=_env("CACHE_ENABLED", "true").lower() in ("1", "true", "yes"),
            cache_ttl_s=int(_env("CACHE_TTL_S", "3600")),
            cache_max_entry_bytes=int(_env("CACHE_MAX_ENTRY_BYTES", "1000000")),
            cache_disabled_key_ids=frozenset(
                k.strip() for k in _env("CACHE_DISABLED_KEY_IDS", "").split(",") if k.strip()
            ),
            max_body_bytes=int(_env("MAX_BODY_BYTES", str(10 * 1024 * 1024))),
            max_json_depth=int(_env("MAX_JSON_DEPTH", "64")),
            spool_dir=Path(_env("SPOOL_DIR", str(data_dir / "spool"))),
            producer_buffer_size=int(_env("PRODUCER_BUFFER_SIZE", "100000")),
        )

    def check_production_secrets(self) -> None:
        """Refuse to run in production with the development secrets."""
        if not self.is_production:
            return
        problems = []
        if self.jwt_secret == DEV_SECRET or len(self.jwt_secret) < 32:
            problems.append("JWT_SECRET must be set to at least 32 random characters")
        if DEV_MASTER_KEY in self.master_keys:
            problems.append("MASTER_KEYS must be set to your own key(s)")
        if problems:
            raise SystemExit("Refusing to start in production: " + "; ".join(problems))


def setting_names() -> list[str]:
    return [f.name for f in fields(Settings)]
