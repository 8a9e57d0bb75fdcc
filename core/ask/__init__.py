"""The ``ask`` use case (``POST /v1/ask`` without HTTP): see :mod:`core.ask.service`."""

from core.ask.service import AskResult, AskService

__all__ = ["AskResult", "AskService"]
