"""A webhook receiver that verifies each event: python docs/examples/webhook_receiver.py

WEBHOOK_SECRET is the receiver's `secret` in the service's [[webhooks]] table; PORT its port.
"""

import os

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

hook = Webhook(os.environ["WEBHOOK_SECRET"])   # the same secret as in the service's config
seen = set()                                   # keep it in your database in real life


async def take(request):
    body = await request.read()
    try:
        event = hook.verify(body, dict(request.headers))   # checks signature and timestamp
    except WebhookVerificationError:
        return web.Response(status=400)
    if request.headers["webhook-id"] not in seen:          # a redelivery has the same id
        seen.add(request.headers["webhook-id"])
        print(event["type"], event["data"].get("email"), flush=True)
    return web.Response(status=204)


app = web.Application()
app.router.add_post("/hooks/suppression", take)
web.run_app(app, host="127.0.0.1", port=int(os.environ.get("PORT", "9000")))
