"""Browser sign-in sessions, kept server-side in the database (the cookie holds only an id)."""

from core.browser_sessions.store import SessionRecords

__all__ = ["SessionRecords"]
