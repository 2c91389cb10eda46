"""Segment's tracking API (what analytics-python, rudder-sdk-python and the browser SDKs
send): /v1/batch and the single-message endpoints (ingestion/urls.py lists their paths).
CORS for the browser SDKs is django-cors-headers' (settings, CORS_URLS_REGEX). Views
parse, authenticate and call `messages_ingest`.

The organization and product come from the write key only, never from the payload.
"""

from __future__ import annotations

import base64
import binascii
import logging
import zlib
from collections.abc import Callable
from typing import Any

import orjson
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ingestion.normalize import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES, lenient_loads
from ingestion.ratelimit import rate_limit_consume
from ingestion.services import SOURCE_API, RawItem, messages_ingest
from vitals.tenancy.scope import tenant_scope
from vitals.tenancy.selectors import write_key_lookup

logger = logging.getLogger(__name__)

DB_RETRY_AFTER_SECONDS = 5


class ApiError(Exception):
    """A request we answer with an error status; `code` and `message` as Segment's SDKs
    read them from the JSON body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _error(status: int, code: str, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"success": False, "code": code, "message": message}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _read_body(request: HttpRequest, *, limit: int) -> bytes:
    """The body, decompressed, never more than `limit` bytes read or inflated (gzip bombs)."""
    too_large = ApiError(413, "body_too_large", f"request body is larger than {limit // 1024} KB")
    try:
        if int(request.headers.get("Content-Length") or 0) > limit:
            raise too_large
    except ValueError:
        raise ApiError(400, "bad_request", "invalid Content-Length") from None
    data = request.read(limit + 1)
    if len(data) > limit:
        raise too_large
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding not in ("gzip", "x-gzip"):
        raise ApiError(415, "unsupported_encoding", f"unsupported Content-Encoding {encoding!r}")
    out = bytearray()
    try:
        while data:  # gzip allows several members back to back
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            out += inflater.decompress(data, limit + 1 - len(out))
            if len(out) > limit:
                raise too_large
            if not inflater.eof:
                raise ApiError(400, "invalid_gzip", "gzip body is truncated")
            data = inflater.unused_data
    except zlib.error as exc:
        raise ApiError(400, "invalid_gzip", f"body is not valid gzip: {exc}") from None
    return bytes(out)


def _parse_object(data: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        # A NaN or a lone surrogate is then rejected with its message, not with the batch.
        body = lenient_loads(data)
        if body is None:
            raise ApiError(400, "invalid_json", _not_json_reason(data, exc)) from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "body must be a JSON object")
    return body


def _not_json_reason(data: bytes, exc: orjson.JSONDecodeError) -> str:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"body is not UTF-8: the byte at offset {bad.start} is not valid UTF-8"
    return f"body is not valid JSON: {exc}"


def _without_write_key(message: dict[str, Any]) -> dict[str, Any]:
    # The secret must never be stored with the event's raw payload.
    return {key: value for key, value in message.items() if key != "writeKey"}


def _batch_items(body: dict[str, Any]) -> list[RawItem]:
    """Segment semantics: batch context goes under each message's own, batch sentAt
    applies to messages without one."""
    batch = body.get("batch")
    if not isinstance(batch, list):
        raise ApiError(400, "invalid_batch", '"batch" must be a list of messages')
    context = body.get("context")
    if context is not None and not isinstance(context, dict):
        raise ApiError(400, "invalid_batch", '"context" must be an object')
    sent_at = body.get("sentAt")
    items = []
    for index, message in enumerate(batch):
        if isinstance(message, dict):
            if "writeKey" in message:  # else the parsed message itself is ours to change
                message = _without_write_key(message)
            own_context = message.get("context")
            if context and own_context is None:
                message["context"] = dict(context)
            elif context and isinstance(own_context, dict):
                message["context"] = {**context, **own_context}
            if sent_at is not None and message.get("sentAt") is None:
                message["sentAt"] = sent_at
        items.append(RawItem(index=index, message=message))
    return items


def _single_items(body: dict[str, Any], *, type_name: str) -> list[RawItem]:
    message = _without_write_key(body)
    if message.get("type") is None:
        message["type"] = type_name
    return [RawItem(index=0, message=message)]


def _raw_write_key(request: HttpRequest, body: dict[str, Any]) -> str | None:
    """HTTP Basic username (password empty), as Segment does, else "writeKey" in the body,
    else the `writeKey` query parameter."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    key = body.get("writeKey")
    if key is None:
        # navigator.sendBeacon cannot set headers: RudderStack's beacon names it in the URL.
        key = request.GET.get("writeKey")
    # Keys are ASCII; anything else (a lone surrogate, say) cannot match and cannot be hashed.
    return key if isinstance(key, str) and key and key.isascii() else None


def _ingest(
    request: HttpRequest, *, limit: int, items_of: Callable[[dict[str, Any]], list[RawItem]]
) -> HttpResponse:
    try:
        body = _parse_object(_read_body(request, limit=limit))
        items = items_of(body)
    except ApiError as exc:
        return _error(exc.status, exc.code, exc.message)
    raw_key = _raw_write_key(request, body)
    try:
        write_key = write_key_lookup(raw_key=raw_key) if raw_key else None
        if write_key is None:
            return _error(
                401,
                "unauthorized",
                "missing, unknown or revoked write key",
                WWW_Authenticate='Basic realm="vitals"',
            )
        now = timezone.now()
        product = write_key.product
        product.organization = write_key.organization  # already loaded; saves a query
        # The key decides the scope; the rate limit stamps the key's last use in it.
        with tenant_scope(write_key.organization, product):
            retry_after = rate_limit_consume(write_key=write_key, messages=len(items), now=now)
            if retry_after:
                return _error(
                    429,
                    "rate_limited",
                    "write key is over its rate limit",
                    Retry_After=str(retry_after),
                )
            result = messages_ingest(
                product=product,
                items=items,
                received_at=now,
                source=SOURCE_API,
                write_key=write_key,
            )
    except (OperationalError, InterfaceError):
        logger.warning("tracking API: database unavailable", exc_info=True)
        return _error(
            503,
            "unavailable",
            "storage is unavailable, retry later",
            Retry_After=str(DB_RETRY_AFTER_SECONDS),
        )
    # orjson: a 500-message batch's answer lists 500 results.
    return HttpResponse(
        orjson.dumps({"success": True, **result.as_dict()}), content_type="application/json"
    )


@csrf_exempt
@require_POST
def batch(request: HttpRequest) -> HttpResponse:
    return _ingest(request, limit=MAX_BATCH_BYTES, items_of=_batch_items)


def _single_message_view(type_name: str) -> Callable[[HttpRequest], HttpResponse]:
    def view(request: HttpRequest) -> HttpResponse:
        return _ingest(
            request,
            limit=MAX_MESSAGE_BYTES,
            items_of=lambda body: _single_items(body, type_name=type_name),
        )

    view.__name__ = view.__qualname__ = type_name
    return csrf_exempt(require_POST(view))


identify = _single_message_view("identify")
group = _single_message_view("group")
track = _single_message_view("track")
page = _single_message_view("page")
screen = _single_message_view("screen")
# Not a type Vitals takes (SPEC section 2): answered 200 with the message rejected.
alias = _single_message_view("alias")
