from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.http import HttpRequest


@dataclass(frozen=True)
class Actor:
    """Who is acting, through which door, from where: recorded on every audit row."""

    user: AbstractBaseUser | None
    channel: str
    ip: str | None = None

    @property
    def username(self) -> str:
        return self.user.get_username() if self.user is not None else "system"

    @classmethod
    def from_request(cls, request: HttpRequest, channel: str) -> Actor:
        return cls(user=request.user, channel=channel, ip=request.META.get("REMOTE_ADDR"))

    @classmethod
    def system(cls, channel: str = "SYSTEM", user: AbstractBaseUser | None = None) -> Actor:
        return cls(user=user, channel=channel, ip=None)
