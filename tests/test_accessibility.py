"""axe-core finds no violation on any page, in any state, at phone and desktop widths, light and dark.

axe-core (npm, pinned in tests/a11y/package.json; .ci/run installs it) is injected by Playwright
into the real pages in Debian's Chromium. The pages themselves carry no script: JavaScript is
on in these contexts only so that axe can run, and their CSP is bypassed to let it in.
"""

import email
import os
import re

import pytest
import pytest_asyncio

from handlers.app import build_app
from handlers.state import RETURN_MAILER, SERVICE
from suppression.model import ALL_EMAILS, Scope
from tests.support.browser import browser, in_module_loop, page_server, skip_without_chromium  # noqa: F401
from tests.support.paths import ROOT
from tests.support.settings import make_settings
from tests.support.relay import recording_relay

AXE = ROOT / "tests" / "a11y" / "node_modules" / "axe-core" / "axe.min.js"

if not AXE.exists() and os.environ.get("CI") != "true":
    pytest.skip("axe-core is not installed (npm install --prefix tests/a11y)", allow_module_level=True)
skip_without_chromium()

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}

# Colour contrast is a function of the stylesheet, the colour scheme and the width: no rule in
# it depends on the language (test_the_stylesheet_styles_every_language_alike holds that). It
# runs for the first language at each width and scheme; every other rule runs for every
# language. What this leaves unchecked: text of another length overflowing its box onto another
# background; here a box with a background of its own (a button, the quoted words) grows and
# wraps with its text.
CONTRAST_LANGUAGE = "en"
# The dark scheme changes colours and nothing else: the stylesheet's dark blocks set colours
# alone (test_the_dark_scheme_changes_only_colours), and every state is seen laid out alike in
# both (each_scheme). So in the dark only the rules that read colours can find anything the
# light did not: those run in the dark (contrast in CONTRAST_LANGUAGE only, as in the light),
# the others once, in the light.
COLOUR_RULES = ("color-contrast", "link-in-text-block")
COLOUR_PROPERTIES = {"color", "background", "background-color", "fill", "stroke", "border-color",
                     "outline-color", "accent-color"}


async def axe_context(browser, **options):
    """A browser context whose every page carries axe-core from its start. Compiled as the page
    loads, it costs half of injecting it into each page after (0.13 s against 0.26 s a state)."""
    context = await browser.new_context(bypass_csp=True, **options)  # axe is a script the pages' CSP refuses
    try:
        await context.add_init_script(path=str(AXE))
    except BaseException:
        await context.close()  # not left open in the module's browser for the tests after
        raise
    return context


async def violations(page, contrast: bool = True, only: tuple[str, ...] = ()) -> list[str]:
    """axe-core's violations on the page as it stands: every rule (without colour contrast if
    not `contrast`), or the rules `only` names."""
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))  # a page of a context made without axe_context
    if only:
        rules = f", runOnly: {{type: 'rule', values: {list(only)!r}}}"
    else:
        rules = "" if contrast else ", rules: {'color-contrast': {enabled: false}}"
    result = await page.evaluate(f"axe.run(document, {{resultTypes: ['violations']{rules}}})")
    return [f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in result["violations"]]


def stylesheet() -> str:
    """The whole stylesheet the pages carry: its base (all the one-click answer has) and the rest."""
    templates = ROOT / "handlers" / "templates"
    return (templates / "plain.css").read_text() + (templates / "page.css").read_text()


def test_the_stylesheet_styles_every_language_alike():
    """The premise of checking colour contrast in one language: no style depends on the language
    (a `:lang()` or `[lang]` selector, or a style inside a template, could make one differ)."""
    templates = ROOT / "handlers" / "templates"
    css = stylesheet()
    assert css.count("{") > 20  # it is the stylesheet the pages use
    assert sorted(sheet.name for sheet in templates.glob("*.css")) == ["page.css", "plain.css"]
    assert not re.search(r":lang\(|\[\s*lang|\[\s*dir|:dir\(", css)
    sheets = [template.name for template in templates.glob("*.html") if "<style" in template.read_text()]
    assert sheets == ["base.html"] and "<style>{{ css|safe }}</style>" in (templates / "base.html").read_text()
    for module in [*templates.glob("*.html"), *(ROOT / "handlers").glob("*.py")]:
        assert "style=" not in module.read_text(), module.name  # no style of its own, for a language or not


def test_the_dark_scheme_changes_only_colours():
    """The premise of running only the colour rules in the dark: the stylesheet's dark blocks set
    colours alone (and `color-scheme: light dark` switches the system colours), so nothing is
    shown, hidden, sized or named differently in the dark."""
    css = stylesheet().lower()  # CSS ignores case here
    assert "\\" not in css  # no escape could spell the query or a property otherwise
    blocks = re.findall(r"@media\s*\(prefers-color-scheme:\s*dark\)\s*\{((?:[^{}]*\{[^{}]*\})*)\s*\}", css)
    assert len(blocks) == css.count("prefers-color-scheme") == 2
    declarations = [declaration.split(":", 1) for block in blocks for rule in re.findall(r"\{([^{}]*)\}", block)
                    for declaration in rule.split(";") if declaration.strip()]
    assert declarations and {name.strip() for name, _ in declarations} <= COLOUR_PROPERTIES, declarations
    # A colour and nothing else: `background` could also carry an image, behind which axe cannot
    # judge contrast (it says "incomplete", not a violation).
    assert all(re.fullmatch(r"#[0-9a-f]{3,8}", value.strip()) for _, value in declarations), declarations
    assert "light-dark(" not in css  # colours chosen by the scheme outside those blocks: still colours,
    # but say so here if one comes


async def visit_every_state(page, base: str, service, language: str):
    """Yield (state, page) for each page a recipient or an admin can reach."""
    link = service.links.mint_link(f"reader.{language}@example.com", Scope("newsletters")).url.rsplit("/", 1)[1]
    path = f"{base}/u/{link}?lang={language}"
    await page.goto(path)
    assert await page.locator("input[type=checkbox]").count() == 4
    yield "landing"
    await page.get_by_role("checkbox").nth(1).check()
    await page.locator("#why-too-many").check()
    # Each form posts and the answer replaces the page: counted once it has (count() does not wait;
    # on a loaded CI machine it once counted the page before the answer).
    async with page.expect_navigation():
        await page.locator("button[type=submit]").first.click()
    assert await page.locator("input[name=undo]").count() == 2
    yield "confirmation"
    async with page.expect_navigation():
        await page.locator("button[type=submit]").first.click()
    assert await page.locator("input[name=action][value=unsubscribe]").count() == 1
    yield "undone"
    await page.goto(path)
    await page.get_by_role("checkbox").first.uncheck()
    async with page.expect_response(lambda r: r.request.method == "POST") as posted:
        await page.locator("form:has(input[name=action][value=unsubscribe]) button[type=submit]").click()
    assert (await posted.value).status == 400
    yield "nothing chosen (400)"
    await page.goto(path)
    async with page.expect_navigation():
        await page.locator("button[name=days]").first.click()  # the preference centre's pause
    assert await page.locator("input[name=undo]").count() == 1
    yield "paused"
    answer = await page.goto(f"{base}/u/{link[:-3]}xyz?lang={language}")
    assert answer.status == 400
    yield "invalid or expired link (400)"
    everything = service.links.mint_link(f"all.{language}@example.com").url.rsplit("/", 1)[1]
    await service.suppress(f"all.{language}@example.com", ALL_EMAILS, "unsubscribe", "api", "tests")
    await page.goto(f"{base}/u/{everything}?lang={language}")
    yield "unsubscribed from everything"
    answer = await page.request.post(f"{base}/u/{link}?lang={language}", form={"List-Unsubscribe": "One-Click"})
    await page.set_content(await answer.text())
    yield "one-click answer"
    await page.goto(f"{base}/admin/?lang={language}")
    yield "desk sign-in"


@pytest_asyncio.fixture(loop_scope="module")
async def relay():
    """A real SMTP sink for the confirmations, in the module's loop (the browser's)."""
    async with recording_relay() as handler:
        yield handler


@in_module_loop
@pytest.mark.parametrize("language", ["en", "ja"])
async def test_no_page_has_an_accessibility_violation(browser, page_server, tmp_path, language):
    server = await page_server(build_app(make_settings(tmp_path / "data")))
    service, base = server.app[SERVICE], str(server.make_url("")).rstrip("/")

    found, checked = await check_each_context(
        browser, lambda page: visit_every_state(page, base, service, language), language)
    assert checked == 9 * 4
    assert found == {}, found


async def check_each_context(browser, visit, language: str) -> tuple[dict[str, list[str]], int]:
    """Run axe on every state `visit(page)` yields, at each width, in light and in dark: (violations
    by state, states checked). The states are visited once, at the first width (a phone's: the
    clicks that lead from one to the next are made there), and each is seen at every width by
    resizing the page where it stands. In the dark only the colour rules run (COLOUR_RULES)."""
    found, checked = {}, 0
    first, *_ = VIEWPORTS.values()
    async with await axe_context(browser, viewport=first) as context:
        page = await context.new_page()
        async for state in visit(page):
            assert await page.locator("html").get_attribute("lang") == language, state
            for width, viewport in VIEWPORTS.items():
                await page.set_viewport_size(viewport)
                assert await page.evaluate("window.innerWidth") == viewport["width"]
                async for scheme in each_scheme(page):
                    checked += 1
                    problems = await scheme_violations(page, language, scheme)
                    if problems:
                        found[f"{state}, {width}, {scheme}"] = problems
            await page.set_viewport_size(first)
    return found, checked


async def scheme_violations(page, language: str, scheme: str) -> list[str]:
    """Every rule in the light (colour contrast in CONTRAST_LANGUAGE only); in the dark the rules
    that read colours (again contrast in CONTRAST_LANGUAGE only): what else axe checks (names,
    roles, structure, sizes) each_scheme finds laid out alike in both."""
    if scheme == "light":
        return await violations(page, contrast=language == CONTRAST_LANGUAGE)
    return await violations(page, only=COLOUR_RULES if language == CONTRAST_LANGUAGE else ("link-in-text-block",))


async def each_scheme(page):
    """Yield each colour scheme with the page as it stands switched to it: the same state seen in
    light and in dark, where visiting it again for each scheme cost half of these tests' time.
    The text and the page's background (the stylesheet's `color-scheme: light dark`, and
    `background: Canvas`) prove each switch. The background must be the page's own: axe takes
    a page without one for white, and so passed dark text on the dark page unseen.

    Each element's box, display and visibility are the same in both (LAYOUT): the premise of
    running only the colour rules in the dark, held of the page as it stands, whatever made it."""
    colours, layouts = [], []
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        colours.append(await page.evaluate(
            "[getComputedStyle(document.body).color, getComputedStyle(document.documentElement).backgroundColor]"))
        layouts.append(await page.evaluate(LAYOUT))
        yield scheme
    assert colours == [["rgb(0, 0, 0)", "rgb(255, 255, 255)"], ["rgb(255, 255, 255)", "rgb(18, 18, 18)"]], colours
    assert len(layouts[0]) > 5 and layouts[0] == layouts[1], [a for a, b in zip(*layouts) if a != b][:5]


LAYOUT = """[...document.querySelectorAll('*')].map(e => {
    const box = e.getBoundingClientRect(), style = getComputedStyle(e);
    return [e.tagName, box.x, box.y, box.width, box.height, style.display, style.visibility].join(' ');
})"""


@in_module_loop
async def test_the_checker_finds_violations_in_a_page_of_its_context_and_in_any_other(browser):
    """The control: a page with an unlabelled field, an image without text and faint text. In an
    axe_context a page navigated to carries axe from its start; any other page gets it injected."""
    problems = ('<html><body><main><input type="text"><img src="x.png">'
                '<p style="color:#eee;background:#fff">faint</p></main></body></html>')
    async with await axe_context(browser) as context, await browser.new_context() as other_context:
        await context.route("http://control.test/**", lambda route: route.fulfill(
            status=200, content_type="text/html", body=problems))
        page = await context.new_page()
        await page.goto("http://control.test/page")
        assert await page.evaluate("typeof axe.run") == "function"  # before violations() could inject it
        in_context = " ".join(await violations(page))
        without_contrast = " ".join(await violations(page, contrast=False))
        other = await other_context.new_page()
        await other.set_content(problems)
        injected = " ".join(await violations(other))
    for found in (in_context, injected):
        for rule in ("html-has-lang", "label", "image-alt", "color-contrast"):
            assert rule in found
    assert "image-alt" in without_contrast and "color-contrast" not in without_contrast


@in_module_loop
@pytest.mark.parametrize("language", ["en", "ja"])
async def test_the_coming_back_pages_have_no_accessibility_violation(browser, page_server, tmp_path, relay, language):
    """The offer on the link's page, the answer to asking, the mailed confirmation's page, its
    answer (lifted, then nothing more) and an expired confirmation, in a real Chromium."""
    reply = {"enabled": True, "relay_port": relay.port, "come_back_per_day": 100}  # one address asks in each test
    settings = make_settings(tmp_path / "data", reply=reply)
    server = await page_server(build_app(settings))
    base = str(server.make_url("")).rstrip("/")
    found, checked = await check_each_context(
        browser, lambda page: visit_coming_back(page, base, server.app, relay, language), language)
    assert checked == 6 * 4
    assert found == {}, found


async def visit_coming_back(page, base: str, app, relay, language: str):
    service = app[SERVICE]
    address = f"back.{language}@example.com"
    link = service.links.mint_link(address, Scope("newsletters")).url.rsplit("/", 1)[1]
    await service.suppress(address, Scope("newsletters"), "unsubscribe", "link", "recipient")
    await page.goto(f"{base}/u/{link}?lang={language}")
    assert await page.locator("input[name=action][value=come-back]").count() == 1
    yield "link page with the offer"
    await page.locator("section.come-back button[type=submit]").click()
    await page.wait_for_load_state()
    yield "asked"
    await app[RETURN_MAILER].sent_all()
    body = email.message_from_bytes(relay.envelopes[-1].original_content).get_payload(decode=True).decode("utf-8")
    confirm = re.search(r"http://127\.0\.0\.1:8080(/return/\S+)", body).group(1)
    await page.goto(base + confirm)
    yield "confirmation page"
    await page.locator("button[type=submit]").click()
    await page.wait_for_load_state()
    assert await service.suppressed_scopes(address) == set()
    yield "subscribed again"
    await page.goto(base + confirm)
    await page.locator("button[type=submit]").click()
    await page.wait_for_load_state()
    yield "nothing more to change"
    token = confirm.split("?")[0].rsplit("/", 1)[1]
    answer = await page.goto(f"{base}/return/{token[:-3]}xyz?lang={language}")
    assert answer.status == 400
    yield "invalid or expired confirmation (400)"
