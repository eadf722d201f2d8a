"""Admin for validation rules and results."""
