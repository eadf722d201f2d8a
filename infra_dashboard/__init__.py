"""Project package: settings, URLs, the Celery app and the overview page."""

from infra_dashboard.celery import app as celery_app

__all__ = ["celery_app"]
