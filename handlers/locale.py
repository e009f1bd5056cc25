"""Pages in the reader's language: gettext catalogues and the choice among them.

The translations are the standard gettext form, `handlers/locale/LANG/LC_MESSAGES/messages.po`,
read with Babel when an app is built, once a process unless the file changed (no compiled files
to keep in step): a company adds or corrects a language by editing a .po file. The language is
the `lang` the page was asked for (the switcher's links), else the best of `Accept-Language`,
else English.
"""

import functools
import gettext
import io
from collections.abc import Callable
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from markupsafe import Markup, escape

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT_LANGUAGE = "en"
# Each in its own name, as a switcher shows them.
LANGUAGES = {
    "en": "English", "es": "Español", "fr": "Français", "de": "Deutsch", "pt": "Português",
    "it": "Italiano", "nl": "Nederlands", "ja": "日本語", "zh": "中文",
}
_MAX_HEADER = 1000  # of Accept-Language read: real ones are a few dozen characters


def N_(message: str) -> str:
    """Marks a message for translation where it is defined; it is translated where it is shown."""
    return message


def choose_language(asked: str | None, accept_language: str | None) -> str:
    """`asked` if it is one of ours, else the best match of an Accept-Language header, else English."""
    if asked in LANGUAGES:
        return asked
    if not accept_language:  # a mail provider's one-click names none
        return DEFAULT_LANGUAGE
    ranked = []
    for position, item in enumerate((accept_language or "")[:_MAX_HEADER].split(",")[:50]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and quality > 0:
            ranked.append((-quality, position, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        primary = tag.split("-")[0]
        if primary in LANGUAGES:
            return primary
    return DEFAULT_LANGUAGE


class Catalogues:
    """The translations of every language, read once."""

    def __init__(self, folder: Path = LOCALE_DIR):
        self._translations: dict[str, gettext.NullTranslations] = {DEFAULT_LANGUAGE: gettext.NullTranslations()}
        for language in LANGUAGES:
            path = folder / language / "LC_MESSAGES" / "messages.po"
            if language != DEFAULT_LANGUAGE and path.exists():
                self._translations[language] = _read(path, language)

    def gettext(self, language: str) -> Callable[..., Markup]:
        """`_(message, **params)` for templates: the translation, escaped, with params filled in
        (escaped unless they are Markup already)."""
        translations = self._translations.get(language, self._translations[DEFAULT_LANGUAGE])

        def translate(message: str, **params) -> Markup:
            text = escape(translations.gettext(message))
            if not params:
                return text
            return Markup(str(text) % {name: escape(value) for name, value in params.items()})

        return translate

    def plain(self, language: str) -> Callable[..., str]:
        """`_(message, **params)` for plain text (a mail's body): the translation with params filled in, unescaped."""
        translations = self._translations.get(language, self._translations[DEFAULT_LANGUAGE])

        def translate(message: str, **params) -> str:
            text = translations.gettext(message)
            return text % params if params else text

        return translate


def _read(path: Path, language: str) -> gettext.GNUTranslations:
    stat = path.stat()
    return _compiled(path, language, (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns))


# Read and compiled once a process: each app built read all nine again, 27-43 ms (a test process
# builds hundreds). Keyed by what changes when the file does (its change time too, which no
# tool sets back), so an edited or replaced file is read again.
@functools.lru_cache(maxsize=64)
def _compiled(path: Path, language: str, version: tuple[int, int, int, int]) -> gettext.GNUTranslations:
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy and empty entries are left out: English shows instead
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)
