"""Query parameters of the list endpoints: validated by a serializer, a 400 problem
naming each bad parameter, never silently dropped or passed to SQL out of range."""

from typing import Any

from rest_framework import serializers

from platform_integrity.errors import InvalidQuery

MAX_PAGE = 500
# Far past any real list, well inside what PostgreSQL's OFFSET takes.
MAX_OFFSET = 1_000_000_000


class PageSerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=100)
    offset = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET, default=0)


def query(serializer_class: type[serializers.Serializer], request) -> dict[str, Any]:
    """The request's query parameters as `serializer_class` validates them."""
    filters = serializer_class(data=request.query_params)
    if not filters.is_valid():
        raise InvalidQuery("One or more query parameters are invalid.", errors=filters.errors)
    return dict(filters.validated_data)
