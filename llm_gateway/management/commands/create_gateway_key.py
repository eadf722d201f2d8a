"""Create a gateway key for an agent and print it once (only its hash is stored)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from llm_gateway.keys import gateway_key_create


class Command(BaseCommand):
    help = "Create a gateway key for an agent; the key is printed once and cannot be shown again."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--agent", required=True, help="Agent name calls are attributed to.")
        parser.add_argument("--name", default="", help="Label for the key (default: the agent).")
        parser.add_argument("--rpm", type=int, default=None, help="Requests per minute limit.")
        parser.add_argument("--tpm", type=int, default=None, help="Tokens per minute limit.")
        parser.add_argument("--models", default="", help="Comma list of allowed models/patterns.")
        parser.add_argument(
            "--agents",
            default="",
            help="Comma list of other agent names/patterns the key may set in X-Agent-Name.",
        )

    def handle(
        self,
        *args: object,
        agent: str,
        name: str,
        rpm: int | None,
        tpm: int | None,
        models: str,
        agents: str = "",
        **options: object,
    ) -> None:
        if not agent.strip():
            raise CommandError("--agent must not be empty")
        for label, value in (("--rpm", rpm), ("--tpm", tpm)):
            if value is not None and value < 1:
                raise CommandError(f"{label} must be a positive integer")
        allowed = [m.strip() for m in models.split(",") if m.strip()]
        agent_names = [a.strip() for a in agents.split(",") if a.strip()]
        raw, key = gateway_key_create(
            name=name or agent,
            agent_name=agent.strip(),
            rpm_limit=rpm,
            tpm_limit=tpm,
            allowed_models=allowed,
            allowed_agent_names=agent_names,
        )
        self.stdout.write(f"Created key {key.prefix}… for agent '{key.agent_name}'.")
        self.stdout.write("Store it now; it cannot be shown again:")
        self.stdout.write(raw)
