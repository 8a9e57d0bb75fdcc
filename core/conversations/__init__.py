"""Stored conversations: redacted, encrypted turns per account, retention and key rotation.

Import the service from :mod:`core.conversations.service`; this package's ``__init__`` stays
empty of imports so ``import core`` does not pull in SQLAlchemy.
"""
