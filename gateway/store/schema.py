"""The gateway's tables (SQLAlchemy Core). One definition serves SQLite and PostgreSQL.

Times are unix seconds (float): comparable everywhere, no time-zone surprises between
the two databases. Money is in US dollars (float, as the model prices are).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# Ids are never reused (SQLite would hand a deleted user's id to the next one, and records that
# outlive users would then seem to belong to the newcomer).
NO_REUSE = {"sqlite_autoincrement": True}

ROLES = ("user", "node_admin", "platform_admin")
PROVIDERS = ("openai", "openai-chat", "gemini", "sora")  # openai-chat: an OpenAI-compatible node without the Responses API
MODEL_KINDS = ("chat", "responses", "image", "video", "gemini")

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False, default="user"),
    Column("status", String(16), nullable=False, default="active"),  # active | disabled
    Column("quota", Float, nullable=True),  # dollars; NULL = unlimited
    Column("used", Float, nullable=False, default=0.0),  # dollars spent so far
    Column("created_at", Float, nullable=False),
    **NO_REUSE,
)

sessions = Table(
    "sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(128), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),  # sha256 hex of the full key
    Column("prefix", String(32), nullable=False),  # what the console shows: "sk-tk-AbCd...wXyZ"
    Column("enabled", Boolean, nullable=False, default=True),
    Column("expires_at", Float, nullable=True),
    Column("models", JSON, nullable=True),  # allowed model names; NULL = every subscribed model
    Column("rpm", Integer, nullable=True),  # requests per minute; NULL = unlimited
    Column("tpm", Integer, nullable=True),  # tokens per minute (finished requests' usage); NULL = unlimited
    Column("concurrency", Integer, nullable=True),  # requests in flight at once; NULL = unlimited
    Column("created_at", Float, nullable=False),
    **NO_REUSE,
)

models = Table(
    "models", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("display_name", String(128), nullable=True),
    Column("description", Text, nullable=True),
    Column("price", JSON, nullable=False),  # {input_per_1k, output_per_1k, per_image, per_second}
    Column("listed", Boolean, nullable=False, default=True),
    Column("created_at", Float, nullable=False),
    **NO_REUSE,
)

nodes = Table(
    "nodes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("provider", String(16), nullable=False),
    Column("base_url", String(512), nullable=False),
    Column("api_key", String(512), nullable=False, default=""),  # the upstream key: never returned by an API
    Column("weight", Integer, nullable=False, default=1),
    Column("priority", Integer, nullable=False, default=0),  # higher tier is tried first
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", Float, nullable=False),
    **NO_REUSE,
)

node_models = Table(
    "node_models", metadata,
    Column("node_id", Integer, ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True),
    Column("model", String(128), primary_key=True),
    Column("upstream_model", String(128), nullable=True),  # NULL = same name upstream
)

subscriptions = Table(
    "subscriptions", metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("model", String(128), primary_key=True),
    Column("created_at", Float, nullable=False),
)

usage_records = Table(
    "usage_records", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(40), nullable=False, unique=True),
    Column("user_id", Integer, nullable=False),  # no FK: records outlive deleted users
    Column("key_id", Integer, nullable=True),
    Column("model", String(128), nullable=True),
    Column("node", String(128), nullable=True),  # name of the node that answered (last attempt)
    Column("endpoint", String(64), nullable=False),  # e.g. "chat.completions", "videos.create"
    Column("status", Integer, nullable=False),  # HTTP status the client got
    # ok | rejected | upstream_error | cut | cancelled | interrupted (in flight when its instance died)
    Column("outcome", String(24), nullable=False),
    Column("stream", Boolean, nullable=False, default=False),
    Column("prompt_tokens", Integer, nullable=False, default=0),
    Column("completion_tokens", Integer, nullable=False, default=0),
    Column("total_tokens", Integer, nullable=False, default=0),
    Column("cost", Float, nullable=False, default=0.0),
    Column("latency_ms", Float, nullable=False, default=0.0),
    Column("ttft_ms", Float, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Index("ix_usage_user_time", "user_id", "created_at"),
    Index("ix_usage_time", "created_at"),
    **NO_REUSE,
)

video_jobs = Table(
    "video_jobs", metadata,
    Column("id", String(64), primary_key=True),  # the public id the client sees
    Column("user_id", Integer, nullable=False, index=True),
    Column("key_id", Integer, nullable=True),
    Column("node_id", Integer, nullable=False),
    Column("upstream_id", String(128), nullable=False),
    Column("model", String(128), nullable=False),
    Column("last", JSON, nullable=True),  # the last Video object seen (public ids)
    Column("deleted", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
)

response_routes = Table(
    "response_routes", metadata,  # Responses API affinity: previous_response_id -> node
    Column("response_id", String(128), primary_key=True),
    Column("node_id", Integer, nullable=False),
    Column("user_id", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
)

sync_state = Table(
    "sync_state", metadata,  # change counters the instances poll (see gateway/sync.py)
    Column("name", String(32), primary_key=True),  # "catalog": keys, users, models, nodes, subscriptions
    Column("version", Integer, nullable=False, default=0),
)

# Columns added after a table first shipped: Store.create_schema adds them to older databases
# (create_all makes missing tables only).
ADDED_COLUMNS = (api_keys.c.tpm, api_keys.c.concurrency)
