"""Pages in the reader's language (CONTRACT §3) and the preference centre, over real HTTP."""

import json
import os
import re

import pytest
from babel.messages.pofile import read_po

from handlers.locale import LANGUAGES, LOCALE_DIR, Catalogues, choose_language
from handlers.locale_messages import message_ids
from handlers.state import SERVICE
from suppression.model import ALL_EMAILS, Scope
from tests.support.http import bearer

PLACEHOLDER = re.compile(r"%\(\w+\)s")


@pytest.mark.parametrize("language", [code for code in LANGUAGES if code != "en"])
def test_every_message_is_translated_in_every_language(language):
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=language)
    for message in message_ids():
        entry = catalog.get(message)
        assert entry is not None and entry.string and not entry.fuzzy, (language, message)
        assert sorted(PLACEHOLDER.findall(entry.string)) == sorted(PLACEHOLDER.findall(message)), (language, message)
    assert not catalog.fuzzy


def test_a_catalogue_edited_on_disk_is_read_again(tmp_path):
    # Each process reads a catalogue once and keeps it (an app is built often in a test process);
    # a company that corrects a translation gets it with its next start, or the next app built:
    # even a file of the same size whose modification time was set back (as `cp -p` leaves it),
    # put in place as an editor saves it (a new file renamed over the old).
    po = tmp_path / "fr" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    header = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'

    def translated(text: str) -> str:
        saved = po.with_suffix(".new")
        saved.write_text(header + f'msgid "Unsubscribed"\nmsgstr "{text}"\n', encoding="utf-8")
        os.utime(saved, ns=(0, 0))
        os.replace(saved, po)
        return str(Catalogues(tmp_path).gettext("fr")("Unsubscribed"))

    assert translated("Désinscrit A") == "Désinscrit A"
    assert translated("Désinscrit B") == "Désinscrit B"
    assert translated("Vous êtes désinscrit") == "Vous êtes désinscrit"


@pytest.mark.parametrize("asked, header, chosen", [
    (None, "fr-CH, fr;q=0.9, en;q=0.8", "fr"), (None, "pt-BR", "pt"), (None, "zh-Hant-TW", "zh"),
    (None, "sv, da;q=0.9", "en"), (None, "de;q=0.2, ja;q=0.9", "ja"), (None, "", "en"), (None, "*", "en"),
    (None, "nl;q=0", "en"), ("it", "fr", "it"), ("xx", "es", "es"), (None, "q=junk;;,,", "en"),
])
def test_the_language_is_the_asked_one_else_the_best_accepted_else_english(asked, header, chosen):
    assert choose_language(asked, header) == chosen


def path_of(service, email="jane@example.com", topic="newsletters") -> str:
    return "/u/" + service.links.mint_link(email, Scope.of_topic(topic)).url.rsplit("/", 1)[1]


async def test_the_page_speaks_the_readers_language_with_a_switcher(client):
    service = client.app[SERVICE]
    french = await client.get(path_of(service), headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    html = await french.text()
    assert '<html lang="fr">' in html and french.headers["Content-Language"] == "fr"
    assert "Quels e-mails devons-nous cesser de vous envoyer ?" in html
    assert french.headers["Vary"] == "Accept-Language"
    assert '<a href="?lang=fr" lang="fr" hreflang="fr" aria-current="page">Français</a>' in html
    assert all(f'href="?lang={code}"' in html for code in LANGUAGES)
    asked = await (await client.get(path_of(service) + "?lang=ja", headers={"Accept-Language": "fr"})).text()
    assert '<html lang="ja">' in asked and "どのメールの配信を停止しますか？" in asked
    fallback = await (await client.get(path_of(service), headers={"Accept-Language": "sv"})).text()
    assert '<html lang="en">' in fallback and "Which emails should we stop sending you?" in fallback


async def test_error_pages_and_one_click_speak_it_too(client):
    bad = await client.get("/u/not-a-token", headers={"Accept-Language": "de"})
    html = await bad.text()
    assert bad.status == 400 and '<html lang="de">' in html and "Dieser Abmeldelink ist ungültig" in html
    done = await client.post(path_of(client.app[SERVICE]), data={"List-Unsubscribe": "One-Click"},
                             headers={"Accept-Language": "es"})
    assert done.status == 200 and "Su solicitud se ha registrado" in await done.text()


async def test_one_submit_applies_every_checked_topic_and_one_undo_lifts_them(client, admin_key):
    service = client.app[SERVICE]
    path = path_of(service)
    page = await (await client.get(path)).text()
    assert 'value="newsletters" checked>' in page and 'value="promotions">' in page  # the link's topic first
    form = [("action", "unsubscribe"), ("scope", "newsletters"), ("scope", "promotions"),
            ("why", "too-many"), ("why_text", "Three a day is too many.")]
    done = await client.post(path, data=form)
    html = await done.text()
    assert "We will no longer send you: Email newsletters, Promotions and offers." in html
    assert await service.suppressed_scopes("jane@example.com") == {Scope("newsletters"), Scope("promotions")}
    again = await (await client.get(path)).text()
    assert 'value="promotions" checked disabled>' in again  # shown as it is now
    history = await (await client.get("/v1/suppressions/jane@example.com/history", headers=bearer(admin_key))).json()
    assert [(c["topic"], c["why"], c["why_text"]) for c in history["history"]] == [
        ("newsletters", "too-many", "Three a day is too many."), ("promotions", "too-many", "Three a day is too many.")]
    metrics = await (await client.get("/metrics")).text()
    assert 'suppression_leaving_reasons_total{reason="too-many"} 1.0' in metrics
    undo = re.findall(r'name="undo" value="([^"]+)"', html)
    assert len(undo) == 2
    undone = await client.post(path, data=[("action", "resubscribe")] + [("undo", t) for t in undo])
    assert "You will receive these emails at" in await undone.text()
    assert await service.suppressed_scopes("jane@example.com") == set()


async def test_all_emails_covers_the_topics_and_a_choice_is_needed(client):
    service = client.app[SERVICE]
    path = path_of(service)
    both = await client.post(path, data=[("action", "unsubscribe"), ("scope", "promotions"), ("scope", "all")])
    assert "We will no longer send you: All emails from PLUS." in await both.text()
    assert await service.suppressed_scopes("jane@example.com") == {ALL_EMAILS}
    everything = await (await client.get(path)).text()
    assert "You are unsubscribed from all emails" in everything and "<form" not in everything
    other = path_of(service, "bob@example.com")
    nothing = await client.post(other, data={"action": "unsubscribe"})
    assert nothing.status == 400 and "Choose at least one kind of email." in await nothing.text()
    unknown = await client.post(other, data=[("action", "unsubscribe"), ("scope", "newsletters"), ("scope", "sports")])
    assert unknown.status == 400 and await service.suppressed_scopes("bob@example.com") == set()


async def test_the_reason_is_never_required_and_free_text_goes_with_an_erasure(client, admin_key):
    service = client.app[SERVICE]
    await client.post(path_of(service), data={"action": "unsubscribe", "scope": "newsletters"})
    await client.post(path_of(service, "ann@example.com"), data={
        "action": "unsubscribe", "scope": "newsletters", "why": "other", "why_text": "I am ann@example.com, stop."})
    assert [c.detail for c in await service.store.changes_of("jane@example.com")] == [None]
    await client.post("/v1/subjects/ann@example.com/erase", headers=bearer(admin_key))
    _, history = await service.rights.history("ann@example.com")
    assert [json.loads(c.detail) for c in history if c.action == "suppress"] == [{"why": "other"}]
