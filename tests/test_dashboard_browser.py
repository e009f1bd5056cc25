"""The dashboard (/admin/stats) in Debian's Chromium: signed in as at the desk, 90 days of figures,
axe-core finds no violation in any of the nine languages, light and dark, phone and desktop,
and nothing runs wider than a phone. Screenshots go to $SCREENSHOT_DIR when it is set
(docs/screenshots/ holds a set made so)."""

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from handlers.app import build_app
from handlers.locale import LANGUAGES
from handlers.state import SERVICE
from suppression.model import utc_iso
from tests.conftest import make_settings
from tests.test_accessibility import AXE, VIEWPORTS, axe_context, each_scheme, scheme_violations, violations
from tests.support.browser import browser, in_module_loop, page_server, skip_without_chromium  # noqa: F401
from tests.test_browser import screenshot

if not AXE.exists():
    pytest.skip("axe-core is not installed (npm install --prefix tests/a11y)", allow_module_level=True)
skip_without_chromium()
# One Chromium for the module, in the module's event loop (tests/support/browser.py).
pytestmark = in_module_loop

SOURCES = ("one-click", "link", "email", "api", "import")
WHY = ("too-many", "not-relevant", "never-signed-up", "other")
CAMPAIGNS = {"spring-sale": 12_000, "newsletter-42": 30_000, "welcome-series": 4_000, "black-friday": 55_000,
             "product-launch.v2": 9_500, "winback_q3": 2_200}


def seed_ninety_days(database, now: datetime) -> None:
    """Ninety days of changes and desk messages, written into the database as the service would
    have written them then (the change log's triggers count them as they go in)."""
    db = sqlite3.connect(database)
    names = list(CAMPAIGNS)
    with db:
        for back in range(90):
            at = utc_iso(now - timedelta(days=back, hours=1))
            for n, source in enumerate(SOURCES):
                for i in range((back * 7 + n * 3) % 5 + (3 if source == "one-click" else 0)):
                    campaign = names[(back + i) % len(names)] if source in ("one-click", "link", "email") else None
                    detail = json.dumps({"why": WHY[(back + i) % 4]}) if source == "link" else None
                    db.execute("INSERT INTO changes (at, action, email, topic, reason, source, actor, detail, campaign)"
                               " VALUES (?, 'suppress', ?, '', 'unsubscribe', ?, 'seed', ?, ?)",
                               (at, f"p{back}.{n}.{i}@example.com", source, detail, campaign))
            if back % 3 == 0:
                received = utc_iso(now - timedelta(days=back, hours=5))
                resolved = utc_iso(now - timedelta(days=max(back - 3, 0), hours=2)) if back > 6 else None
                db.execute("INSERT INTO inbox (received_at, mail_from, rcpt_to, size, status, resolved_at)"
                           " VALUES (?, '', '[]', 0, ?, ?)", (received, "resolved" if resolved else "review", resolved))
        for campaign, sent in CAMPAIGNS.items():
            db.execute("INSERT INTO campaigns (id, sent, created_at, updated_at) VALUES (?, ?, ?, ?)",
                       (campaign, sent, utc_iso(now), utc_iso(now)))
    db.close()


async def signed_in_page(browser, base: str, key: str, viewport: dict):
    context = await axe_context(browser, viewport=viewport)
    try:
        page = await context.new_page()
        await page.goto(f"{base}/admin/stats")
        await page.locator("#key").fill(key)
        await page.locator("form[action='/admin/signin'] button[type=submit]").click()
        await page.wait_for_url(f"{base}/admin/")
    except BaseException:
        await context.close()  # not left open in the module's browser for the tests after
        raise
    return context, page


AXE_AT_EVERY_WIDTH = ("en", "ja", "de")


async def test_the_dashboard_has_no_accessibility_violation_anywhere(browser, page_server, tmp_path):
    settings = make_settings(tmp_path / "data", "sqlite")
    server = await page_server(build_app(settings))
    service, base = server.app[SERVICE], str(server.make_url("")).rstrip("/")
    seed_ninety_days(settings.database_path, datetime.now(timezone.utc))
    key = await service.api_keys.create_api_key("dashboard", "admin")
    found, checked, axed = {}, 0, 0
    (first_width, first), *_ = VIEWPORTS.items()
    context, page = await signed_in_page(browser, base, key, first)
    async with context:
        for language in LANGUAGES:
            answer = await page.goto(f"{base}/admin/stats?lang={language}")
            assert answer.status == 200
            assert await page.locator("html").get_attribute("lang") == language
            assert await page.locator("svg.chart").count() == 4
            assert await page.locator("table").count() == 4
            # 90 days, newest first, each with its figures.
            assert await page.locator("#by-source-caption + thead + tbody tr").count() == 90
            for width, viewport in VIEWPORTS.items():  # the page where it stands, at each width
                await page.set_viewport_size(viewport)
                assert await page.evaluate("window.innerWidth") == viewport["width"]
                async for scheme in each_scheme(page):
                    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                    assert overflow <= 0, (language, width, scheme)
                    checked += 1
                    # axe on a phone in every language and scheme; on a desktop in three
                    # languages (Latin, CJK, the longest words): a run of axe on this page is
                    # a third of a second of CPU, and the suite is near CI's four minutes.
                    if width != first_width and language not in AXE_AT_EVERY_WIDTH:
                        continue
                    axed += 1
                    problems = await scheme_violations(page, language, scheme)
                    if problems:
                        found[f"{language}, {width}, {scheme}"] = problems
                    if language in ("en", "ja", "de"):
                        await screenshot(page, f"stats-{language}-{width}-{scheme}")
            await page.set_viewport_size(first)
    assert checked == len(LANGUAGES) * 4
    assert axed == len(LANGUAGES) * 2 + len(AXE_AT_EVERY_WIDTH) * 2 * (len(VIEWPORTS) - 1)
    assert found == {}, found


@pytest.mark.both_stores
async def test_people_leave_through_a_campaign_in_chromium_and_the_dashboard_shows_it_on_either_store(
        browser, page_server, settings):
    """On either store, end to end in the browser: three people leave through one campaign's links
    (two on the preference centre, one giving a reason, and one pausing), its size is recorded,
    and the dashboard, signed in, shows the campaign's row and rate and the reason, with no
    accessibility violation. The rollup the dashboard reads is each store's own (triggers)."""
    server = await page_server(build_app(settings))
    service, base = server.app[SERVICE], str(server.make_url("")).rstrip("/")
    key = await service.api_keys.create_api_key("dashboard", "admin")
    await service.record_sent("autumn-7", 400)
    tokens = [service.links.mint_link(f"{name}@example.com", campaign="autumn-7").url.rsplit("/", 1)[1]
              for name in ("ada", "ben", "cy")]
    async with await axe_context(browser) as context:
        page = await context.new_page()
        for token, why in zip(tokens[:2], ("#why-too-many", None)):
            await page.goto(f"{base}/u/{token}?lang=en")
            assert await violations(page) == []  # the preference centre, on this store
            await page.get_by_role("checkbox").nth(1).check()
            if why:
                await page.locator(why).check()
            async with page.expect_navigation():  # count() does not wait for the answer's page
                await page.locator("button[type=submit]").first.click()
            assert await page.locator("input[name=undo]").count() >= 1
        await page.goto(f"{base}/u/{tokens[2]}?lang=en")
        async with page.expect_navigation():
            await page.locator("button[name=days]").first.click()  # pause all emails
        assert await page.locator("input[name=undo]").count() == 1
        assert await violations(page) == []  # the paused page

    context, page = await signed_in_page(browser, base, key, VIEWPORTS["desktop"])
    async with context:
        answer = await page.goto(f"{base}/admin/stats?lang=en")
        assert answer.status == 200
        row = page.locator("#campaigns-caption + thead + tbody tr")
        assert await row.count() == 1
        # ada and ben left the newsletters, cy paused: three suppressions of 400 sent.
        assert [await cell.inner_text() for cell in await row.locator("th, td").all()] == [
            "autumn-7", "400", "3", "0.75%"]
        reasons = page.locator("#reasons-caption + thead + tbody tr")
        assert [await r.inner_text() for r in await reasons.all()] == ["I get too many emails\t1"]  # ada's
        assert await violations(page) == []
    paused = await service.check("cy@example.com")
    assert paused.suppressed and paused.matched.until is not None
