"""PackDesk engine. Cheap to import: heavy libraries are imported where they are used.

Plugins and packs use only the names exported here.
"""

from core.errors import *  # noqa: F403 - the exception tree is part of the public surface
from core.hookspecs import hookimpl
from core.ledger.billing import BillingProvider, CheckoutRequest, CheckoutSession
from core.packs.sources import PackSource
from core.plugin_manager import get_plugin_manager
from core.retrieval.protocols import Embedder, VectorIndex, VectorIndexBackend
from core.settings import ArchiveLimits, Settings

# --- packs (exports added by the pack-format work) ---

# --- retrieval (exports added by the retrieval work) ---

# --- intents (exports added by the intent work) ---

# --- ledger (exports added by the ledger work) ---

__version__ = "0.1.0"
