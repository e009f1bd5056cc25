"""The unsubscribe link and the ready List-Unsubscribe header values (RFC 2369, RFC 8058)."""

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from suppression.model import ALL_EMAILS, Scope
from suppression.tokens import mint_token

ONE_CLICK = "List-Unsubscribe=One-Click"


@dataclass(frozen=True)
class UnsubscribeLink:
    url: str  # https link: GET shows the page, POST with ONE_CLICK unsubscribes
    mailto: str  # mail to the request address; the subject carries the token
    list_unsubscribe: str  # the List-Unsubscribe header value: the link first, then the mailto
    list_unsubscribe_post: str = ONE_CLICK  # the List-Unsubscribe-Post header value
    # A Message-ID for the email (RFC 5322 msg-id) that carries the token: a reply to it names
    # it in In-Reply-To/References, which proves the request is about this recipient.
    message_id: str = ""


def mint_link(
    email: str,
    scope: Scope | str | None = ALL_EMAILS,
    *,
    base_url: str,
    secret_keys: str | Sequence[str],
    request_address: str,
    campaign: str | None = None,
) -> UnsubscribeLink:
    """Everything a promotional email needs to carry to be unsubscribable by one click or mail;
    a campaign goes inside the token, as hidden as the address.

    The https link comes first: mail clients use the first they support, and a mailto
    listed first makes Gmail send an email instead of the one-click POST. `scope` is a Scope,
    or, for a mailing tool that knows no Scope, a topic's id (None or "": all emails).
    """
    if not isinstance(scope, Scope):
        scope = Scope.of_topic(scope)
    token = mint_token(secret_keys, email, scope, campaign)
    url = f"{base_url.rstrip('/')}/u/{token}"
    # RFC 6068: characters of the address that mean something in a URL are percent-encoded.
    mailto = f"mailto:{quote(request_address, safe='@')}?subject={quote('unsubscribe ' + token)}"
    # "=" before the token: a dot-atom may not start with the "." of a compressed token, and
    # the reader finds a token only where no token character stands before it.
    message_id = f"<unsubscribe={token}@{request_address.rpartition('@')[2]}>"
    return UnsubscribeLink(url, mailto, f"<{url}>, <{mailto}>", message_id=message_id)
