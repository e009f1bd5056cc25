"""The single check's answer, put together without json.dumps in its common case (issue 24):
always the very text json.dumps (web.json_response) writes."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.api import check_json

_values = st.one_of(st.none(), st.booleans(), st.text(max_size=30), st.integers(), st.just("ö\"\\\u2028\ud800"))


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=60), st.one_of(st.none(), st.text(max_size=20)), _values,
       st.dictionaries(st.sampled_from(["purpose", "reason", "source", "since", "until", "email"]), _values, max_size=3),
       st.booleans())
def test_the_check_answer_is_what_json_dumps_writes(email, topic, suppressed, extra, reorder):
    body = {"email": email, "topic": topic, "suppressed": suppressed, **extra}
    if reorder:
        body = dict(reversed(list(body.items())))
    assert check_json(body) == json.dumps(body)


def test_the_common_answer_takes_the_short_way():
    body = {"email": "jöhn@xn--exmple-cua.com", "topic": None, "suppressed": False}
    assert check_json(body) == json.dumps(body) == '{"email": "j\\u00f6hn@xn--exmple-cua.com", "topic": null, "suppressed": false}'
