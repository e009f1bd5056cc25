"""The confirmation mailed to a person who asks to come back (suppression/returning.py).

It goes through the [reply] relay from the null sender, marked Auto-Submitted: auto-generated
(RFC 3834: made by a program, not a reply to a message), in the language of the page it was
asked on. It is sent beside the page's answer, never before it: the page must take as long
whether a mail goes or not. Failures are logged, never raised.
"""

import asyncio
import logging
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from handlers.locale import N_, Catalogues
from handlers.replies import message_id_at, send_through_relay
from suppression.addresses import mask_address, mask_addresses_in
from suppression.background import cancel_and_wait
from suppression.config import Settings
from suppression.returning import ReturnInvitation
from suppression.tokens import RETURN_MAX_AGE_SECONDS

log = logging.getLogger(__name__)

MAX_WAITING = 1000  # confirmations being sent at once; more are logged and left unsent
SUBJECT = N_("Confirm that you want emails from %(company)s again")
BODY = (
    N_("Someone, probably you, asked on our unsubscribe page to receive emails from %(company)s again at this address."),
    N_("To confirm, open this link and press the button on the page:"),
    N_("The link works for %(days)s days. If you did not ask for this, ignore this message: nothing changes"
       " unless the button is pressed."),
)


class ReturnMailer:
    def __init__(self, settings: Settings, catalogues: Catalogues):
        self.settings = settings
        self.catalogues = catalogues
        self._sending: set[asyncio.Task] = set()
        self.sent = 0

    def send_soon(self, invitation: ReturnInvitation) -> None:
        """Start sending a confirmation and return at once (ComingBack's `invite`)."""
        if len(self._sending) >= MAX_WAITING:
            log.warning("%d confirmations to come back are being sent already; the one to %s is not sent",
                        len(self._sending), mask_address(invitation.email))
            return
        task = asyncio.create_task(self._send(invitation), name="come-back-confirmation")
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def sent_all(self) -> None:
        """Wait until every confirmation started has been sent or has failed (tests, shut-down)."""
        while self._sending:
            await asyncio.gather(*list(self._sending), return_exceptions=True)

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Let the confirmations under way finish for a moment, then give up on the rest (logged)."""
        if not self._sending:
            return
        try:
            await asyncio.wait_for(self.sent_all(), grace_seconds)
        except TimeoutError:
            log.info("stopping: %d confirmation(s) to come back not sent", len(self._sending))
            for task in list(self._sending):
                await cancel_and_wait(task)

    async def _send(self, invitation: ReturnInvitation) -> None:
        try:
            message = await asyncio.to_thread(self.compose, invitation)  # as replies are (handlers/replies.py)
            await send_through_relay(self.settings.reply, message, invitation.email)
        except (aiosmtplib.SMTPException, OSError, ValueError) as exc:  # ValueError: a header not written
            log.warning("the confirmation to come back to %s could not be sent: %s", mask_address(invitation.email),
                        mask_addresses_in(str(exc))[:300])
            return
        self.sent += 1
        log.info("confirmation to come back sent to %s", mask_address(invitation.email))

    def compose(self, invitation: ReturnInvitation) -> EmailMessage:
        _ = self.catalogues.plain(invitation.lang)
        company = self.settings.service.company_name
        message = EmailMessage()
        message["From"] = sender = self.settings.reply.from_address or self.settings.smtp.request_addresses[0]
        message["To"] = invitation.email
        message["Subject"] = _(SUBJECT, company=company)
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = message_id_at(sender)
        message["Auto-Submitted"] = "auto-generated"
        first, confirm, expiry = BODY
        message.set_content(
            f"{_(first, company=company)}\n\n{_(confirm)}\n\n{invitation.url}\n\n"
            f"{_(expiry, days=RETURN_MAX_AGE_SECONDS // 86400)}\n\n{company}\n"
        )
        message["Content-Language"] = invitation.lang  # after set_content, which drops every Content-* header
        return message
