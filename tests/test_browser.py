"""A real browser (Debian's Chromium, driven by Playwright) follows a link, confirms, and undoes.

JavaScript is switched off: the pages must work without it. Screenshots of the pages are
taken when $SCREENSHOT_DIR names a folder (docs/screenshots/ was made so); not otherwise, for a
full page took Chromium about 0.2 s, and a run took 22 that nobody looked at.
"""

import os
import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from handlers.app import build_app
from handlers.state import SERVICE
from suppression.model import Scope
from tests.support.browser import browser, in_module_loop, page_server, skip_without_chromium  # noqa: F401

SCREENSHOTS = Path(os.environ["SCREENSHOT_DIR"]) if os.environ.get("SCREENSHOT_DIR") else None

skip_without_chromium()
# One Chromium for the module, in the module's event loop (tests/support/browser.py).
pytestmark = in_module_loop


async def screenshot(page, name: str) -> None:
    """The whole page into $SCREENSHOT_DIR as `name`.png, when it is set."""
    if SCREENSHOTS is not None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


async def test_link_confirm_and_undo_in_a_real_browser(browser, page_server, settings):
    server = await page_server(build_app(settings))
    service = server.app[SERVICE]
    link = service.links.mint_link("jane.doe@example.com", Scope("newsletters"))
    url = str(server.make_url("/u/" + link.url.rsplit("/", 1)[1]))

    async def scopes():
        return {scope.name for scope in await service.suppressed_scopes("jane.doe@example.com")}

    async with await browser.new_context(
        java_script_enabled=False, viewport={"width": 390, "height": 844}, is_mobile=True
    ) as context:
        page = await context.new_page()
        refused = []
        page.on("console", lambda message: refused.append(message.text) if "Refused" in message.text else None)

        await page.goto(url)
        await expect(page.get_by_role("heading", name="Unsubscribe")).to_be_visible()
        await expect(page.get_by_text("j\u2022\u2022\u2022@example.com")).to_be_visible()
        await expect(page.get_by_label("Email newsletters")).to_be_checked()
        assert await scopes() == set()  # opening the link changed nothing
        await screenshot(page, "1-unsubscribe-page")

        await page.get_by_label("Email newsletters").check()
        await page.get_by_role("button", name="Unsubscribe").click()
        await expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
        assert await scopes() == {"newsletters"}
        await screenshot(page, "2-confirmation")

        await page.get_by_role("button", name="Undo: subscribe me again").click()
        await expect(page.get_by_role("heading", name="You are subscribed again")).to_be_visible()
        assert await scopes() == set()
        await screenshot(page, "3-undone")
    # The stylesheet was allowed by its hash: the strict CSP refused nothing.
    assert refused == []
    changes = [(c.action, c.scope.topic, c.source) for c in await service.store.changes_after(0, 10)]
    assert changes == [("suppress", "newsletters", "link"), ("unsuppress", "newsletters", "link")]


async def test_the_review_desk_in_a_real_browser(browser, page_server, tmp_path):
    from handlers.state import INTAKE
    from tests.support.settings import make_settings

    settings = make_settings(tmp_path / "data", smtp={"trusted_authserv_ids": ["mx.plusnxt.com"]})
    server = await page_server(build_app(settings))
    service, intake = server.app[SERVICE], server.app[INTAKE]
    admin_key = await service.api_keys.create_api_key("ops", "admin")
    forged = (b"Authentication-Results: mx.plusnxt.com; dmarc=fail\r\nFrom: Jane <jane@example.com>\r\n"
              b"Subject: unsubscribe\r\n\r\nPlease take me and jane.work@example.com off your list.\r\n"
              b"\r\nOn Mon, Jan 1, 2024 PLUS wrote:\r\n> This week's deals. Unsubscribe here.\r\n")
    question = b"From: Ann <ann@example.com>\r\nSubject: opening hours\r\n\r\nWhen are you open on Sundays?\r\n"
    for raw, sender in ((forged, "jane@example.com"), (question, "ann@example.com")):
        await intake.receive(raw, sender, ["PLUSinfo@plusnxt.com"])
    await intake.handle_pending()

    async with await browser.new_context(
        java_script_enabled=False, viewport={"width": 390, "height": 844}, is_mobile=True
    ) as context:
        page = await context.new_page()
        await page.goto(str(server.make_url("/admin/")))
        await expect(page.get_by_role("heading", name="Review desk")).to_be_visible()
        await page.get_by_label("Admin API key").fill(admin_key)
        await screenshot(page, "desk-1-sign-in")
        await page.get_by_role("button", name="Sign in").click()

        await expect(page.get_by_text("2 messages to decide")).to_be_visible()
        first = page.locator("section.message").first
        await expect(first.get_by_text("Please take me and jane.work@example.com off your list.")).to_be_visible()
        await expect(first.get_by_text("This week's deals")).to_have_count(0)  # the quote is not theirs
        await screenshot(page, "desk-2-messages")
        addresses = first.get_by_label("Addresses to unsubscribe (one a line)")
        await expect(addresses).to_have_value("jane.work@example.com")
        await addresses.fill("jane@example.com\njane.work@example.com")
        await first.get_by_role("button", name="Honour: unsubscribe").click()

        await expect(page.get_by_text(re.compile(r"Message #\d+ is settled"))).to_be_visible()
        await expect(page.get_by_text("1 message to decide")).to_be_visible()
        remaining = page.locator("section.message").first
        await remaining.get_by_label("Note (required to dismiss)").fill("a question, answered by phone")
        await remaining.get_by_role("button", name="Dismiss").click()
        await expect(page.get_by_text("Nothing to decide")).to_be_visible()
        await screenshot(page, "desk-3-done")
        await page.get_by_role("button", name=re.compile("Sign out")).click()
        await expect(page.get_by_label("Admin API key")).to_be_visible()

    for email in ("jane@example.com", "jane.work@example.com"):
        check = await service.check(email)
        assert check.suppressed and check.matched.source == "desk"
    changes = await service.store.changes_after(0, 10)
    assert {c.actor for c in changes} == {"desk:ops"}
    statuses = [m.status for m in (await service.review.inbox(None, None, 10))[0]]
    assert statuses == ["resolved", "dismissed"]


async def tab_to(page, selector: str, presses: int = 30) -> None:
    """Press Tab until the element matching `selector` has the focus (keyboard only)."""
    for _ in range(presses):
        await page.keyboard.press("Tab")
        if await page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} never got the focus")


@pytest.mark.parametrize("language, viewport", [("en", {"width": 1280, "height": 900}), ("de", {"width": 390, "height": 844})])
async def test_the_preference_centre_by_keyboard_alone(browser, page_server, settings, language, viewport):
    server = await page_server(build_app(settings))
    service = server.app[SERVICE]
    link = service.links.mint_link("kim.keyboard@example.com", Scope("newsletters"))
    url = str(server.make_url("/u/" + link.url.rsplit("/", 1)[1]))
    async with await browser.new_context(java_script_enabled=False, viewport=viewport, locale=language) as context:
        page = await context.new_page()
        await page.goto(url)  # the language from the browser's Accept-Language
        assert await page.locator("html").get_attribute("lang") == language
        await screenshot(page, f"preferences-{language}")
        await tab_to(page, "#scope-promotions")
        await page.keyboard.press("Space")
        await tab_to(page, "#why-too-many")  # a radio group is one Tab stop; arrows choose within it
        await page.keyboard.press("ArrowDown")
        await tab_to(page, "form button[type=submit]")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("input[name=undo]", state="attached")
        await screenshot(page, f"confirmation-{language}")
    assert await service.suppressed_scopes("kim.keyboard@example.com") == {Scope("newsletters"), Scope("promotions")}
    _, history = await service.rights.history("kim.keyboard@example.com")
    assert {c.detail for c in history} == {'{"why": "not-relevant"}'}
