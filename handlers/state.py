"""What the app holds (aiohttp AppKeys): the settings, the service and the metrics."""

from aiohttp import web

from handlers.metrics import Metrics
from suppression.config import Settings
from suppression.service import SuppressionService

SETTINGS = web.AppKey("settings", Settings)
SERVICE = web.AppKey("service", SuppressionService)
METRICS = web.AppKey("metrics", Metrics)
