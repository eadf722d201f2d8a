"""Validation rules and per-call results."""
