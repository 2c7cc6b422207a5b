"""RFC 9457 problem details for every error under /v1/."""

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.shortcuts import render
from rest_framework import exceptions
from rest_framework.response import Response

from platform_integrity import faults
from platform_integrity.errors import DomainError

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://rivane.dev/problems/"

# DRF's own errors, mapped to (status, code, title). Validation is 422, not DRF's 400.
DRF_PROBLEMS: list[tuple[type[exceptions.APIException], int, str, str]] = [
    (exceptions.ParseError, 400, "malformed_request", "Malformed request body"),
    (exceptions.NotAuthenticated, 401, "not_authenticated", "Authentication required"),
    (exceptions.AuthenticationFailed, 401, "authentication_failed", "Authentication failed"),
    (exceptions.PermissionDenied, 403, "permission_denied", "Not allowed"),
    (exceptions.NotFound, 404, "not_found", "Not found"),
    (exceptions.MethodNotAllowed, 405, "method_not_allowed", "Method not allowed"),
    (exceptions.NotAcceptable, 406, "not_acceptable", "Not acceptable"),
    (exceptions.UnsupportedMediaType, 415, "unsupported_media_type", "Unsupported media type"),
    (exceptions.Throttled, 429, "throttled", "Too many requests"),
    (exceptions.ValidationError, 422, "validation_error", "Invalid request"),
]


def problem_body(
    *, status: int, code: str, title: str, detail: str, instance: str, **extra: Any
) -> dict[str, Any]:
    standard = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
    }
    # Extra members never shadow the standard ones.
    return {**standard, **{k: v for k, v in extra.items() if k not in standard}}


def problem_response(request: HttpRequest, status: int, code: str, title: str, detail: str):
    body = problem_body(status=status, code=code, title=title, detail=detail, instance=request.path)
    return JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


def _detail_text(detail: Any) -> str:
    if isinstance(detail, list | tuple):
        return " ".join(_detail_text(d) for d in detail)
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {_detail_text(v)}" for k, v in detail.items())
    return str(detail)


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    request = context.get("request")
    instance = request.path if request is not None else ""
    headers: dict[str, str] = {}
    exc = faults.retry_later(exc) or exc
    if isinstance(exc, DomainError):
        extra = {k: v for k, v in exc.extra.items() if k not in {"status", "code", "title"}}
        body = problem_body(
            status=exc.status,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            instance=instance,
            **extra,
        )
        headers = exc.headers
    else:
        if isinstance(exc, Http404):
            exc = exceptions.NotFound()
        elif isinstance(exc, DjangoPermissionDenied):
            exc = exceptions.PermissionDenied()
        if not isinstance(exc, exceptions.APIException):
            return None
        status, code, title = 400, "bad_request", "Bad request"
        for kind, kind_status, kind_code, kind_title in DRF_PROBLEMS:
            if isinstance(exc, kind):
                status, code, title = kind_status, kind_code, kind_title
                break
        extra: dict[str, Any] = {}
        if isinstance(exc, exceptions.ValidationError):
            detail = "One or more fields are invalid."
            extra["errors"] = exc.detail
        else:
            detail = _detail_text(exc.detail)
        body = problem_body(
            status=status, code=code, title=title, detail=detail, instance=instance, **extra
        )
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
    response = Response(body, status=body["status"], headers=headers)
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


class ApiBodyLimitMiddleware:
    """Refuse oversized API bodies up front: DRF reads the stream past Django's own limit."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if request.path.startswith("/v1/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
                return problem_response(
                    request,
                    413,
                    "request_too_large",
                    "Request body too large",
                    f"Bodies are limited to {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
                )
        return self.get_response(request)


class DatabaseFaultMiddleware:
    """A lost connection or a wait past its bound outside any API view (a screen, the
    session or token lookup) is 503 with Retry-After too, never a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        fault = faults.retry_later(exception)
        if fault is None:
            return None
        if request.path.startswith("/v1/"):
            response = problem_response(
                request, fault.status, fault.code, fault.title, fault.detail
            )
        else:
            response = render(request, "503.html", {"detail": fault.detail}, status=fault.status)
        for name, value in fault.headers.items():
            response[name] = value
        return response


def api_not_found(request: HttpRequest, exception: Exception | None = None):
    return problem_response(request, 404, "not_found", "Not found", "No such resource.")


def api_server_error(request: HttpRequest):
    return problem_response(
        request, 500, "internal_error", "Internal error", "An unexpected error occurred."
    )
