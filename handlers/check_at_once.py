"""The single check, answered from the request's parsed head when memory alone gives the answer.

aiohttp spends about 40 µs of a single check's 70 on what surrounds a handler: a task, the
request and the response objects, their headers. The common check needs none of it: a key
verified moments ago, an index that has followed every write, an address not on it. This
answers that case with the bytes the ordinary route writes (api.get_suppression, through
json_answers: the same headers, body and counts; only the Date is the moment's). Anything
else, or anything unusual in the request, returns None, and the request takes the ordinary
route, which decides it with the same code (bench/README.md, "The single check at once").
"""

import re

from aiohttp import web
from aiohttp.http_parser import RawRequestMessage

from handlers.api import bearer_key, check_json
from handlers.protocol import ok_answer
from handlers.state import METRICS, SERVICE
from suppression.errors import SuppressionError
from suppression.model import Role, Scope

ROUTE = "/v1/suppressions/{email}"
_PREFIX = ROUTE.removesuffix("{email}")
# A path segment that means itself: no %-escape to decode, no "/" or brace that routing reads,
# no quote or space (an address with those is rare, and takes the ordinary route).
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9.@!$&'*+=^_`|~-]+")
_PLAIN_QUERY = re.compile(r"(topic|purpose)=([A-Za-z0-9._-]*)")


def check_at_once(app: web.Application, message: RawRequestMessage) -> bytes | None:
    """The whole HTTP answer to a GET of a single check, or None: the ordinary route answers it."""
    target = message.path
    if message.method != "GET" or not target.startswith(_PREFIX):
        return None
    email, _, query = target[len(_PREFIX):].partition("?")
    asked = _asked(query)
    service = app.get(SERVICE)
    # aiohttp answers an Expect before the handler: 100 Continue, or 417 for any other.
    if asked is None or service is None or not _PLAIN_SEGMENT.fullmatch(email) or message.headers.get("Expect"):
        return None
    presented = bearer_key(message.headers.get("Authorization", ""))
    key = service.api_keys.recent(presented) if presented is not None else None
    if key is None or not key.allows(Role.CHECK):
        return None
    try:
        result = service.answer_from_memory(email, Scope.of_topic(asked.get("topic")), asked.get("purpose"))
    except SuppressionError:
        return None  # the ordinary route words the refusal
    if result is None:
        return None
    metrics = app[METRICS]
    metrics.checked["single"] += 1
    metrics.requests[ROUTE, 200] += 1
    body = check_json(result.as_dict(reveal_erasure=key.allows(Role.ADMIN))).encode()
    return ok_answer(b"Content-Type: application/json; charset=utf-8\r\n", body)


def _asked(query: str) -> dict[str, str] | None:
    """topic= and purpose= from a query of those alone, each once and plain; None for any other."""
    asked: dict[str, str] = {}
    for part in query.split("&") if query else ():
        plain = _PLAIN_QUERY.fullmatch(part)
        if plain is None or plain[1] in asked:
            return None
        asked[plain[1]] = plain[2]
    return asked
