"""Publishing: publishers upload signed packs, operators approve or reject them."""

from core.publishing.service import EmbeddingIdentity, PublishingService, UploadAccepted

__all__ = ["EmbeddingIdentity", "PublishingService", "UploadAccepted"]
