"""OpenAPI helpers: the bearer scheme and the shapes of list responses."""

import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "platform_integrity.web.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="AUTHORIZATION", token_prefix="Bearer"
        )


class ViewScopedAutoSchema(AutoSchema):
    """Names a view's nested serializers after the view ("JournalEntryRejectInput"):
    every view here has its own `InputSerializer`, and by class name alone they would
    all collapse into one "Input" component."""

    def get_serializer_name(self, serializer, direction):
        name = super().get_serializer_name(serializer, direction)
        owner = type(serializer).__qualname__.split(".")[:-1]
        return owner[-1].removesuffix("Api") + name if owner else name


def list_schema(name: str, item: type[serializers.Serializer], filters=None):
    """`{"results": [item, …]}` for a GET list, with its query parameters."""
    return extend_schema(
        operation_id=re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(),
        parameters=[filters] if filters else None,
        responses={200: inline_serializer(name, {"results": item(many=True)})},
    )


def object_schema(name: str, fields: dict, filters=None):
    """A GET that returns one object built in the view (reports, feeds)."""
    return extend_schema(
        parameters=[filters] if filters else None,
        responses={200: inline_serializer(name, fields)},
    )
