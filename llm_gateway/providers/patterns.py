"""Which models a provider serves: exact names or fnmatch patterns."""

from __future__ import annotations

from fnmatch import fnmatchcase


def serves_model(model: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """Exact names or fnmatch patterns (case-sensitive, as model names are); empty: any."""
    return not patterns or any(fnmatchcase(model, pattern) for pattern in patterns)


class ServesPatterns:
    """Mixin for providers built from a row: serve the models its patterns match."""

    model_patterns: tuple[str, ...] = ()

    def serves(self, model: str) -> bool:
        return serves_model(model, self.model_patterns)
