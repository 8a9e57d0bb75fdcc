"""Composition helpers shared by the CLI and the HTTP app: turn plugins into engine parts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import PluginError

if TYPE_CHECKING:
    import pluggy

    from core.assistant.generator import AnswerGenerator
    from core.packs.builder import PackIndexBuilder
    from core.retrieval.protocols import Embedder, VectorIndexBackend
    from core.settings import Settings


def embedder(settings: Settings, manager: pluggy.PluginManager) -> Embedder:
    """The embedder chosen by the ``packdesk_embedder`` hook (not yet warmed up)."""
    found = manager.hook.packdesk_embedder(settings=settings)
    if found is None:
        raise PluginError("no plugin provides an embedder (packdesk_embedder hook)")
    return found


def vector_index_backend(
    settings: Settings, manager: pluggy.PluginManager, name: str = "faiss"
) -> VectorIndexBackend:
    for backends in manager.hook.packdesk_vector_index_backends(settings=settings):
        for backend in backends:
            if backend.name == name:
                return backend
    raise PluginError(f"no vector index backend named {name!r} is registered")


def pack_index_builder(settings: Settings, manager: pluggy.PluginManager) -> PackIndexBuilder:
    """The index builder ``packdesk pack build`` uses (embeddings + FAISS + BM25)."""
    from core.retrieval.pack_index import PackIndexer  # heavy: numpy, bm25s

    return PackIndexer(
        embedder=embedder(settings, manager),
        backend=vector_index_backend(settings, manager),
    )


def answer_generator(settings: Settings, manager: pluggy.PluginManager) -> AnswerGenerator | None:
    """The generator chosen by the ``packdesk_answer_generator`` hook, or None (extractive)."""
    found: AnswerGenerator | None = manager.hook.packdesk_answer_generator(settings=settings)
    return found
