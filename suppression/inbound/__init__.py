"""Reading an email sent to the request address: pure functions, bytes in, a decision out.

decode.py (MIME, charsets, HTML) → ownwords.py (quotes and signatures removed) →
automatic.py and reports.py (machines) → intent.py (what the person asks, in many
languages) → classify.py (the decision with its reasons).
"""

from suppression.inbound.classify import Decision, classify_message

__all__ = ["Decision", "classify_message"]
