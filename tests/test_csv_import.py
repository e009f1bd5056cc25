"""Reading the suppression exports of the common email services, and refusing bad files by line."""

import io

import pytest

from suppression.config import DEFAULT_TOPICS
from suppression.csv_import import opened, read_import_rows
from suppression.errors import BadImport

EXPORTS = {
    "sendgrid_bounces": (
        "email,created,reason,status\n"
        "Bob@Example.com,1700000000,\"550 5.1.1 The email account does not exist\",5.1.1\n",
        "import",
    ),
    "sendgrid_spam_reports": ("email,created,ip\nbob@example.com,1700000000,192.0.2.1\n", "import"),
    "mailchimp_unsubscribed": (
        "\ufeffEmail Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,UNSUB_TIME,"
        "UNSUB_CAMPAIGN_TITLE,UNSUB_REASON\n"
        "bob@example.com,Bob,Jones,2,2023-01-01 10:00:00,2024-02-02 11:00:00,\"Spring, sale\","
        "\"No longer interested\"\n",
        "import",
    ),
    "mailgun_bounces": (
        "address,code,error,created_at\n"
        "bob@example.com,550,\"No such user\",\"Thu, 01 Feb 2024 10:00:00 UTC\"\n",
        "import",
    ),
    "postmark_suppressions": (
        "EmailAddress,SuppressionReason,Origin,CreatedAt\n"
        "bob@example.com,HardBounce,Recipient,2024-02-01T10:00:00Z\n",
        "bounce",
    ),
    "ses_suppressed_destinations": (
        "EmailAddress,Reason,LastUpdateTime\nbob@example.com,COMPLAINT,2024-02-01T10:00:00Z\n",
        "complaint",
    ),
    "plain_list_without_header": ("bob@example.com\n", "import"),
}


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_exports_of_common_services_are_read(name):
    text, reason = EXPORTS[name]
    rows = list(read_import_rows(io.StringIO(text, newline=""), DEFAULT_TOPICS))
    assert [(r.email, r.scope.stored, r.reason) for r in rows] == [("bob@example.com", "", reason)]


def test_our_own_export_round_trips_with_topics_and_reasons():
    text = (
        "email,topic,reason,source,since\n"
        "a@example.com,,unsubscribe,link,2026-01-01T00:00:00.000Z\n"
        "a@example.com,newsletters,bounce,email,2026-01-01T00:00:00.000Z\n"
    )
    rows = list(read_import_rows(io.StringIO(text), DEFAULT_TOPICS))
    assert [(r.email, r.scope.stored, r.reason, r.line) for r in rows] == [
        ("a@example.com", "", "unsubscribe", 2),
        ("a@example.com", "newsletters", "bounce", 3),
    ]


def test_reason_override_and_blank_lines():
    text = "email\n\nA@example.com\n,\nb@example.com\n"
    rows = list(read_import_rows(io.StringIO(text), DEFAULT_TOPICS, reason="bounce"))
    assert [(r.email, r.reason, r.line) for r in rows] == [
        ("a@example.com", "bounce", 3), ("b@example.com", "bounce", 5),
    ]


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("", 1, "empty"),
        ("name,phone\nBob,123\n", 1, "no address column"),
        ("email\nok@example.com\nnot-an-address\n", 3, "not an email address"),
        ("email,name\nok@example.com,a\n,Bob\n", 3, "address column is empty"),
        ("email,topic\nok@example.com,sports\n", 2, "unknown topic"),
        ('email\nok@example.com\n"unterminated\n', 3, "not valid CSV"),
        ("email\n" + "x" * 70_000 + "@example.com\n", 2, "not valid CSV"),
    ],
)
def test_bad_files_are_refused_with_the_line(text, line, says):
    with pytest.raises(BadImport) as error:
        list(read_import_rows(io.StringIO(text), DEFAULT_TOPICS))
    assert error.value.line == line
    assert says in str(error.value)
    assert str(error.value).startswith(f"line {line}:")


def test_invalid_rows_can_be_skipped_and_reported():
    seen = []
    text = "email\nok@example.com\nbroken\nfine@example.org\n"
    rows = list(read_import_rows(io.StringIO(text), DEFAULT_TOPICS, on_invalid=lambda *a: seen.append(a)))
    assert [r.email for r in rows] == ["ok@example.com", "fine@example.org"]
    assert [(line, text) for line, text, _ in seen] == [(3, "broken")]


def test_undecodable_bytes_are_refused_with_their_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"email\nok@example.com\nj\xe9r\xf4me@example.com\n")
    with opened(open(path, "rb")) as fh, pytest.raises(BadImport, match="UTF-8") as refused:
        list(read_import_rows(fh, DEFAULT_TOPICS))
    assert refused.value.line == 3


def test_a_bad_byte_far_into_a_file_is_refused_with_its_own_line(tmp_path):
    # Before: the file was decoded 8 KB at a time, and the error named the line where those
    # 8 KB began (2,395 for a byte on line 2,501).
    lines = [b"email"] + [f"user{n}@example.com".encode() for n in range(1, 3000)]
    lines[2500] = b"bad\xffuser@example.com"
    path = tmp_path / "late.csv"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    with opened(open(path, "rb")) as fh, pytest.raises(BadImport) as refused:
        list(read_import_rows(fh, DEFAULT_TOPICS))
    assert refused.value.line == 2501
    with opened(io.BytesIO("\ufeffemail\nJöhn@Bücher.de\n".encode())) as fh:  # still UTF-8, with a BOM
        assert [row.email for row in read_import_rows(fh, DEFAULT_TOPICS)] == ["jöhn@xn--bcher-kva.de"]
