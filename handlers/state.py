"""What the app holds (aiohttp AppKeys): the settings, the service and the metrics.

The mail and webhook parts are named for type checkers only: a worker (handlers/worker.py)
imports this module and runs none of them, and importing them cost it memory it keeps.
"""

from typing import TYPE_CHECKING

from aiohttp import web

from handlers.metrics import Metrics
from suppression.config import Settings
from suppression.service import SuppressionService

if TYPE_CHECKING:
    from handlers.imap import MailboxIntake
    from handlers.return_mail import ReturnMailer
    from handlers.smtp import RequestServer
    from handlers.webhooks import WebhookDispatcher
    from suppression.intake import RequestIntake
    from suppression.returning import ComingBack

SETTINGS = web.AppKey("settings", Settings)
SIGNING_KEYS = web.AppKey("signing_keys", tuple)
SERVICE = web.AppKey("service", SuppressionService)
METRICS = web.AppKey("metrics", Metrics)
INTAKE: "web.AppKey[RequestIntake]" = web.AppKey("intake")
SMTP_SERVER: "web.AppKey[RequestServer]" = web.AppKey("smtp_server")
WEBHOOKS: "web.AppKey[WebhookDispatcher]" = web.AppKey("webhooks")
MAILBOX: "web.AppKey[MailboxIntake]" = web.AppKey("mailbox")
COMING_BACK: "web.AppKey[ComingBack]" = web.AppKey("coming_back")
RETURN_MAILER: "web.AppKey[ReturnMailer]" = web.AppKey("return_mailer")
