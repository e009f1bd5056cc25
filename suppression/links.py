"""The unsubscribe link and the ready List-Unsubscribe header values (RFC 2369, RFC 8058), and
the service's links (Links): minted and read back with its signing keys."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from suppression.addresses import normalise_address
from suppression.campaigns import campaign_id
from suppression.config import Settings
from suppression.model import ALL_EMAILS, Scope, Suppression
from suppression.tokens import LinkClaim, mint_token, mint_undo, read_claim

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


class Links:
    """The links and undo tokens this service hands out and reads back: signed with its keys
    (newest first), read for [signing] max_age_days. `known_scope` is the service's."""

    def __init__(self, settings: Settings, signing_keys: tuple[str, ...], known_scope: Callable[[Scope], Scope]):
        self.settings = settings
        self.signing_keys = signing_keys
        self.known_scope = known_scope

    def keys(self) -> tuple[str, ...]:
        if not self.signing_keys:
            raise RuntimeError("links need signing keys: pass signing_keys to the service")
        return self.signing_keys

    @property
    def max_age_seconds(self) -> int | None:
        days = self.settings.signing.max_age_days
        return days * 86400 if days else None

    def mint_link(self, text: str, scope: Scope = ALL_EMAILS, campaign: str | None = None) -> UnsubscribeLink:
        """The unsubscribe link and header values for one recipient and scope (and campaign)."""
        email = normalise_address(text)
        return mint_link(
            email, self.known_scope(scope),
            base_url=self.settings.service.base_url,
            secret_keys=self.keys(),
            request_address=self.settings.smtp.request_addresses[0],
            campaign=campaign_id(campaign) if campaign is not None else None,
        )

    def read_link(self, token: str) -> LinkClaim:
        """Who and what a link's token names; BadToken if it is not one of ours."""
        return read_claim(self.keys(), token, self.max_age_seconds, self.settings.topics)

    def mint_undo(self, suppression: Suppression) -> str:
        """The undo a confirmation page offers for a suppression it has just made."""
        return mint_undo(self.keys(), suppression.email, suppression.scope, suppression.since)
