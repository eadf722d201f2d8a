"""Create a staff superuser with a random password when no staff user exists.

`make run` calls this on every start, so it must be idempotent and must never
reset an existing password (that would lock out whoever changed it).
"""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create a staff login if none exists and print it once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args: object, username: str, **options: object) -> None:
        users = get_user_model()
        existing = users.objects.filter(is_staff=True, is_active=True).order_by("id").first()
        if existing is not None:
            self.stdout.write(
                f"Staff login exists: {existing.get_username()} "
                f"(reset with: python manage.py changepassword {existing.get_username()})"
            )
            return
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(
            self.style.SUCCESS(f"Created staff login  user: {username}  password: {password}")
        )
