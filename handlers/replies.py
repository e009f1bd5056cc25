"""The optional confirmation to a person whose emailed request was honoured (RFC 3834).

Sent through the configured outbound relay with aiosmtplib, from the null sender so it
can never bounce back into a loop, marked Auto-Submitted: auto-replied, at most once an
address a day, and never for automatic mail. It goes to the envelope sender, or to From only
when DMARC passed at a trusted authserv-id (RFC 3834 §4): a forged From gets nothing.
"""

import asyncio
import logging
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

import aiosmtplib

from suppression.addresses import sender_key, mask_address, mask_addresses_in, normalise_address
from suppression.config import ReplySettings, Settings
from suppression.errors import InvalidAddress
from suppression.inbound.classify import Decision
from suppression.service import SuppressionService

log = logging.getLogger(__name__)


async def send_through_relay(reply: ReplySettings, message: EmailMessage, recipient: str) -> None:
    """Hand one message to the [reply] relay, from the null sender: answers to it go nowhere, so
    nothing we send can start a loop. Raises aiosmtplib.SMTPException or OSError."""
    await aiosmtplib.send(
        message,
        sender="",
        recipients=[recipient],
        hostname=reply.relay_host,
        port=reply.relay_port,
        start_tls=reply.starttls,
        username=reply.username or None,
        password=reply.password or None,
        timeout=30,
    )


def message_id_at(sender: str) -> str:
    """A new Message-ID at the sender's own domain, in its ASCII form (a header of an SMTP
    message is ASCII): make_msgid() alone asks the resolver for this host's name
    (socket.getfqdn) at each call, a lookup that blocks the loop where DNS is slow."""
    try:
        domain = parseaddr(sender)[1].rpartition("@")[2].encode("idna").decode("ascii")
    except UnicodeError:
        domain = ""
    return make_msgid(domain=domain or "localhost")


class ReplySender:
    def __init__(self, settings: Settings, service: SuppressionService):
        self.settings = settings
        self.reply = settings.reply
        self.service = service
        self.sent = 0

    async def __call__(self, message_id: int, decision: Decision) -> None:
        """Confirm an honoured request to its sender, if allowed; failures are logged, not raised."""
        if not self.reply.enabled or not decision.answerable or not decision.reply_to:
            return
        try:
            recipient = normalise_address(decision.reply_to)
        except InvalidAddress:
            return
        today = datetime.now(timezone.utc).date().isoformat()
        # Once a day a person, however they tag their address: jane+1@ and jane+2@ are one inbox.
        if not await self.service.store.claim_reply(sender_key(recipient), today):
            log.info("message %d: %s was answered today already; no second reply", message_id, mask_address(recipient))
            return
        try:
            # Composed beside the loop: 0.5 ms of the email package a reply, and a batch of read
            # mail answers up to 50 at once (a probing helper's stranger held the loop 45-56 ms).
            message = await asyncio.to_thread(self._compose, decision, recipient)
            await send_through_relay(self.reply, message, recipient)
        except (aiosmtplib.SMTPException, OSError, ValueError) as exc:  # ValueError: a header not written
            log.warning("message %d: the confirmation to %s could not be sent: %s", message_id, mask_address(recipient),
                        mask_addresses_in(str(exc))[:300])
            return
        self.sent += 1
        log.info("message %d: confirmation sent to %s", message_id, mask_address(recipient))

    def _compose(self, decision: Decision, recipient: str) -> EmailMessage:
        company = self.settings.service.company_name
        topic = decision.scope.topic
        scope = self.settings.topics.get(topic) if topic else f"all emails from {company}"
        message = EmailMessage()
        message["From"] = sender = self.reply.from_address or self.settings.smtp.request_addresses[0]
        message["To"] = recipient
        message["Subject"] = self.reply.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = message_id_at(sender)
        message["Auto-Submitted"] = "auto-replied"
        if decision.message_id:
            message["In-Reply-To"] = decision.message_id
            message["References"] = decision.message_id
        addresses = "\n".join(f"  {mask_address(a)}" for a in decision.addresses)
        message.set_content(
            f"We have received your request and unsubscribed:\n\n{addresses}\n\n"
            f"from: {scope}. This took effect immediately; there is nothing more to do.\n\n"
            f"{company}\n"
        )
        return message
