"""What the app holds (aiohttp AppKeys): the settings, the service and the metrics."""

from aiohttp import web

from handlers.imap import MailboxIntake
from handlers.metrics import Metrics
from handlers.return_mail import ReturnMailer
from handlers.smtp import RequestServer
from handlers.webhooks import WebhookDispatcher
from suppression.config import Settings
from suppression.intake import RequestIntake
from suppression.returning import ComingBack
from suppression.service import SuppressionService

SETTINGS = web.AppKey("settings", Settings)
SIGNING_KEYS = web.AppKey("signing_keys", tuple)
SERVICE = web.AppKey("service", SuppressionService)
METRICS = web.AppKey("metrics", Metrics)
INTAKE = web.AppKey("intake", RequestIntake)
SMTP_SERVER = web.AppKey("smtp_server", RequestServer)
WEBHOOKS = web.AppKey("webhooks", WebhookDispatcher)
MAILBOX = web.AppKey("mailbox", MailboxIntake)
COMING_BACK = web.AppKey("coming_back", ComingBack)
RETURN_MAILER = web.AppKey("return_mailer", ReturnMailer)
