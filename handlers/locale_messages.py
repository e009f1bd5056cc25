"""The message ids the pages use, as Babel's extractors find them in the templates and handlers.

    python -m handlers.locale_messages    # prints them, one a line, for translators

The test of the translations compares every .po file with this list.
"""

from pathlib import Path

from babel.messages.extract import extract_from_dir

HANDLERS = Path(__file__).parent
METHODS = [("templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "", "trimmed": "true"}}


def message_ids() -> list[str]:
    """Every message id, in the order first found."""
    found = {}
    for _, _, message, _, _ in extract_from_dir(str(HANDLERS), METHODS, OPTIONS, keywords={"_": None, "N_": None}):
        if isinstance(message, str) and message:
            found.setdefault(message, None)
    return list(found)


if __name__ == "__main__":
    for message in message_ids():
        print(message)
