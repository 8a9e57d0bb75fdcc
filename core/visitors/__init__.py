"""A business's visitors: publishable widget keys, visitor-mode answers and missed demand."""

from core.visitors.insights import InsightsService
from core.visitors.keys import WidgetKeyInfo, WidgetKeyService, WidgetPrincipal, normalize_origin
from core.visitors.service import VisitorAnswer, VisitorService

__all__ = [
    "InsightsService",
    "VisitorAnswer",
    "VisitorService",
    "WidgetKeyInfo",
    "WidgetKeyService",
    "WidgetPrincipal",
    "normalize_origin",
]
