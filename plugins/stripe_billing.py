"""Placeholder plugin module; its hook implementations are added by the owning work item."""
