"""The API's JSON parser: DRF's, plus the bounds PostgreSQL and a finance team expect of
a body, so a hostile one is a 400 problem before any view sees it."""

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# Deeper than any request of the API needs (lines hold flat objects of flat tags).
MAX_DEPTH = 32


def check_document(document: Any) -> None:
    """Refuse nesting beyond `MAX_DEPTH` and text PostgreSQL cannot store (lone UTF-16
    surrogates), walking the parsed document without recursion."""
    pending = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            children = value
        else:
            if isinstance(value, str) and not _encodable(value):
                raise ParseError("The body holds text that is not valid Unicode.")
            continue
        if depth > MAX_DEPTH:
            raise ParseError(f"The body nests deeper than {MAX_DEPTH} levels.")
        pending.extend((child, depth + 1) for child in children)


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            document = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"The body nests deeper than {MAX_DEPTH} levels.") from None
        check_document(document)
        return document
