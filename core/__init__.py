"""PackDesk engine. Cheap to import: heavy libraries are imported where they are used.

Plugins and packs use only the names exported here.
"""

from core.assistant.generator import AnswerGenerator, Passage
from core.errors import *  # noqa: F403 - the exception tree is part of the public surface
from core.hookspecs import hookimpl

# --- intents (exports added by the intent work) ---
from core.intents import (  # noqa: E402
    OUT_OF_SCOPE,
    IntentClassifier,
    Prediction,
    default_model_dir,
    ensure_default_model,
    intent_labels,
)

# --- ledger (exports added by the ledger work) ---
# Light names only: the services (SQLAlchemy) live in core.ledger.{db,accounts,catalog,
# entitlements,fulfilment} and are imported where used.
from core.ledger.billing import (  # noqa: E402
    BillingEvent,
    BillingProvider,
    CheckoutRequest,
    CheckoutSession,
    DisputeClosed,
    EntitlementSummary,
    Grant,
    Ignored,
    InvoicePaid,
    PaymentAwaited,
    PaymentFailed,
    PaymentRefunded,
    PayoutAccountUpdated,
    PayoutProvider,
    SubscriptionChanged,
    SubscriptionEnded,
    choose_billing_provider,
    period_end,
    price_lookup_key,
)

# --- packs (exports added by the pack-format work) ---
from core.packs.archive import ArchiveEntry, extract_archive, read_archive, scan_archive
from core.packs.builder import build_pack
from core.packs.documents import Document
from core.packs.documents_io import read_documents
from core.packs.manifest import Intent, Manifest, Pricing, parse_manifest
from core.packs.signing import (
    TrustStore,
    generate_keypair,
    key_id_of,
    load_private_key,
    public_key_from_pem_or_raw,
)
from core.packs.sources import PackSource
from core.packs.store import InstalledPack, PackStore
from core.packs.verify import VerifiedPack, verify_directory, verify_pack
from core.plugin_manager import get_plugin_manager
from core.retrieval.protocols import Embedder, VectorIndex, VectorIndexBackend

# --- retrieval (exports added by the retrieval work) ---
from core.retrieval.search import SearchHit, SearchService  # noqa: E402
from core.settings import ArchiveLimits, Settings


def _installed_version() -> str:
    # pyproject.toml is the one place the version is written; the installed distribution's
    # metadata carries it. A source tree that was never installed says so instead of guessing.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("packdesk")
    except PackageNotFoundError:
        return "0+unknown"


__version__ = _installed_version()
