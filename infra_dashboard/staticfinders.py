"""Serve the plotly.js bundle that ships inside the ``plotly`` package.

Pointing STATICFILES_DIRS at plotly's package_data would publish every data
file in it; this finder exposes exactly one file, so the page never needs a CDN
and the JS always matches the Python library that builds the figures.
"""

from __future__ import annotations

from pathlib import Path

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PLOTLY_DIR = Path(plotly.__file__).resolve().parent / "package_data"
PLOTLY_STATIC_PATH = "vendor/plotly.min.js"


class PlotlyFinder(BaseFinder):
    storage = FileSystemStorage(location=str(PLOTLY_DIR))

    def check(self, **kwargs):
        return []

    def find(self, path: str, find_all: bool = False, **kwargs):
        if path != PLOTLY_STATIC_PATH:
            return [] if find_all else None
        match = str(PLOTLY_DIR / "plotly.min.js")
        return [match] if find_all else match

    def list(self, ignore_patterns):
        yield "plotly.min.js", _PrefixedStorage(location=str(PLOTLY_DIR))


class _PrefixedStorage(FileSystemStorage):
    """collectstatic copies to ``prefix/path``; this puts the file under vendor/."""

    prefix = "vendor"
