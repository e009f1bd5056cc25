"""The one table of answers: every domain error has an HTTP status and an SMTP reply, and the
edges use it (a 503 on the API is a 451 on SMTP, for the same cause)."""

import inspect

import suppression.errors as errors
from handlers.answers import ANSWERS, answer_of


def test_every_domain_error_the_edges_can_meet_is_in_the_table():
    kinds = [k for _, k in inspect.getmembers(errors, inspect.isclass)
             if issubclass(k, errors.SuppressionError) and k is not errors.SuppressionError and k is not errors.ConfigError]
    for kind in kinds:
        status, reply = answer_of(kind.__new__(kind))
        assert 400 <= status < 600 and reply[:1] in "45" and reply[3:4] == " ", kind
        assert any(issubclass(kind, listed) for listed in ANSWERS), kind


def test_temporary_causes_are_temporary_on_both_edges():
    for kind in (errors.StoreUnavailable, errors.MailStorageFull):
        status, reply = ANSWERS[kind]
        assert status >= 500 and reply.startswith("4")
    assert answer_of(errors.BadUndo("x")) == ANSWERS[errors.BadToken]  # by its nearest listed kind
