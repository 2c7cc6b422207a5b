"""What every API view shares: which permission reads and which writes, a request body
as its serializer validates it, and the answer to a create."""

from typing import Any

from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from platform_integrity.web.auth import has_perm

READS = frozenset({"GET", "HEAD", "OPTIONS"})


class Api(APIView):
    """An API view whose reads need `read_permission` and whose writes need
    `write_permission` ("app_label.codename")."""

    read_permission: str = ""
    write_permission: str = ""

    def get_permissions(self):
        reading = self.request.method in READS
        return [has_perm(self.read_permission if reading else self.write_permission)()]


def body(serializer_class: type[serializers.Serializer], request) -> dict[str, Any]:
    """The request body as `serializer_class` validates it (422 problem otherwise)."""
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return dict(data.validated_data)


def created(
    output: type[serializers.Serializer], obj: Any, *, replayed: bool | None = None
) -> Response:
    """201 with the new object; a create its idempotency key replayed says so."""
    replayed = getattr(obj, "replayed", False) if replayed is None else replayed
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return Response(output(obj).data, status=status.HTTP_201_CREATED, headers=headers)
