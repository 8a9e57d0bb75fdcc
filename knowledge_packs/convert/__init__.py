"""Converters: each turns one built-in pack's committed data copy into documents and intents."""
