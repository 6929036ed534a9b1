"""The API's JSON parser: bounded in size and depth, so no body reaches a traceback."""
from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from aitrader.bounded_input import InputRefused, json_loads_bounded
from dashboard.errors import BodyTooLarge


class BoundedJSONParser(JSONParser):
    """JSON of at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes and MAX_JSON_DEPTH levels."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise BodyTooLarge(f"The request body is larger than {limit} bytes.")
        try:
            return json_loads_bounded(raw)
        except InputRefused as exc:
            raise ParseError(str(exc)) from None
