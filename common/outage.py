"""One warning when a shared service (Redis) goes away, one line when it is back.

The gateway degrades to local state when Redis is unreachable; logging each
degraded request would flood the log at thousands of lines a second.
"""

from __future__ import annotations

import logging


class OutageLog:
    def __init__(self, logger: logging.Logger, what: str) -> None:
        """``what``: the warning, e.g. "rate limiter unavailable: admitting requests"."""
        self.logger, self.what, self.down = logger, what, False

    def failed(self, error: BaseException) -> None:
        if not self.down:
            self.down = True
            self.logger.warning("%s (%r)", self.what, error)

    def recovered(self) -> None:
        if self.down:
            self.down = False
            self.logger.info("%s: resolved", self.what)
