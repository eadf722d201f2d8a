"""The quality dashboard."""

from __future__ import annotations

from django.urls import path

from validation import views

urlpatterns = [path("quality/", views.quality_page, name="quality")]
