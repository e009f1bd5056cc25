"""Writes the corpus of received mail (tests/corpus/*.eml) and its expected outcomes.

Run `python tests/corpus/build_corpus.py` to regenerate. The messages are written in the
shapes the common clients produce; the ones in legacy charsets are encoded here so their
bytes are exact. Tokens are minted with CORPUS_KEY, which the corpus tests configure.
"""

import base64
import quopri
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from suppression.model import ALL_EMAILS, Scope  # noqa: E402
from suppression.tokens import mint_token  # noqa: E402

HERE = Path(__file__).resolve().parent
CORPUS_KEY = "corpus-signing-key-not-secret-0123456789"
TO = "PLUSinfo@plusnxt.com"
DATE = "Mon, 01 Jan 2024 10:00:00 +0000"

ALIAS_TOKEN = mint_token([CORPUS_KEY], "jane.alias@example.net", Scope("newsletters"))
PROMO_TOKEN = mint_token([CORPUS_KEY], "promo.reader@example.com", Scope("promotions"))
FORWARD_TOKEN = mint_token([CORPUS_KEY], "old.box@example.org", ALL_EMAILS)
# Reports prove a recipient was ours by our link token in the message they return.
GONE_TOKEN = mint_token([CORPUS_KEY], "gone@example.com", Scope("newsletters"))
ANGRY_TOKEN = mint_token([CORPUS_KEY], "angry@example.com", Scope("promotions"))
ANGRY2_TOKEN = mint_token([CORPUS_KEY], "angry2@example.com", ALL_EMAILS)
FWD_TOKEN = mint_token([CORPUS_KEY], "fwd.user@example.com", ALL_EMAILS)
OTHER_TOKEN = mint_token([CORPUS_KEY], "attacker@example.com", ALL_EMAILS)
REDACTED_TOKEN = mint_token([CORPUS_KEY], "redacted.person@example.com", ALL_EMAILS)

NEWSLETTER_FOOTER = f"""You are receiving this because you subscribed to PLUS news.
To unsubscribe, click here: https://unsub.plusnxt.com/u/{ALIAS_TOKEN}
Manage your preferences or unsubscribe from all emails."""


def crlf(text: str) -> bytes:
    return text.lstrip("\n").replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def b64(text: str, charset: str) -> str:
    return base64.encodebytes(text.encode(charset)).decode("ascii")


def header_b(text: str, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


def qp(text: str, charset: str) -> str:
    return quopri.encodestring(text.replace("\n", "\r\n").encode(charset)).decode("ascii")


CASES: dict[str, tuple[bytes, dict]] = {}


def case(name: str, raw: bytes | str, kind: str, addresses=(), topic=None, mail_from=None, note=""):
    data = raw if isinstance(raw, bytes) else crlf(raw)
    CASES[name] = (data, {
        "kind": kind, "addresses": list(addresses), "topic": topic or "",
        "mail_from": mail_from if mail_from is not None else "sender", "note": note,
    })


# --- requests, honoured ---------------------------------------------------------------

case("plain_subject_unsubscribe", f"""
From: Jane Doe <jane@example.com>
To: {TO}
Subject: Unsubscribe
Date: {DATE}
Message-ID: <c1@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8

""", "request", ["jane@example.com"], note="subject alone, empty body")

case("gmail_reply_top_posted_with_token_in_quote", f"""
From: Jane Doe <jane@example.com>
To: {TO}
Subject: Re: Your weekly PLUS newsletter
Date: {DATE}
Message-ID: <CAGmail123@mail.gmail.com>
In-Reply-To: <news-42@plusnxt.com>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="000000000000a1b2c3"

--000000000000a1b2c3
Content-Type: text/plain; charset="UTF-8"

Please unsubscribe me from this.

On Mon, Jan 1, 2024 at 10:00 AM PLUS News <news@plusnxt.com> wrote:

> This week at PLUS: new products and offers.
>
> {NEWSLETTER_FOOTER.replace(chr(10), chr(10) + '> ')}

--000000000000a1b2c3
Content-Type: text/html; charset="UTF-8"

<div dir="ltr">Please unsubscribe me from this.</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, Jan 1, 2024 at 10:00 AM PLUS News &lt;news@plusnxt.com&gt; wrote:<br></div><blockquote class="gmail_quote">This week at PLUS.<br><a href="https://unsub.plusnxt.com/u/{ALIAS_TOKEN}">Unsubscribe</a></blockquote></div>

--000000000000a1b2c3--
""", "request", ["jane.alias@example.net"], "newsletters",
    note="forwarding mailbox: the token in the quoted footer names the subscribed address")

def gmail_reply(name: str, words: str, kind: str, addresses=(), topic=None, note=""):
    """A Gmail reply to our newsletter (its footer carries a newsletters link) with the person's words on top."""
    case(name, f"""
From: Jane Doe <jane@example.com>
To: {TO}
Subject: Re: Your weekly PLUS newsletter
Date: {DATE}
Message-ID: <{name}@mail.gmail.com>
MIME-Version: 1.0
Content-Type: text/plain; charset="UTF-8"

{words}

On Mon, Jan 1, 2024 at 10:00 AM PLUS News <news@plusnxt.com> wrote:

> This week at PLUS: new products and offers.
>
> {NEWSLETTER_FOOTER.replace(chr(10), chr(10) + '> ')}
""", kind, list(addresses), topic, note=note)


# The person's words decide the scope; a link quoted below them decides only whose address it is.
gmail_reply("reply_everything_under_a_topic_link", "Unsubscribe me from everything, please.", "request",
            ["jane.alias@example.net"], None, note="'everything' beats the newsletters link it quotes")
gmail_reply("reply_all_your_emails_under_a_topic_link", "Stop sending me all your emails.", "request",
            ["jane.alias@example.net"], None)
gmail_reply("reply_unclear_scope_under_a_topic_link", "Unsubscribe.", "request", ["jane.alias@example.net"], None,
            note="unclear words: all emails")
gmail_reply("reply_names_another_topic", "Please unsubscribe me from promotions.", "request",
            ["jane.alias@example.net"], "promotions")

# Inline quoting with no "On ... wrote:" header above it: the quoted phrase is not a request.
case("inline_quote_without_header", f"""
From: Jane Doe <jane@example.com>
To: {TO}
Subject: question
Date: {DATE}

> To unsubscribe from these emails, reply with unsubscribe.
Thanks, but where is my order?
""", "review")

# Auto-Submitted is the only sign of a machine: a plain subject, and a request phrase.
AUTO_BODY = f"""From: Jane Doe <jane@example.com>
To: {TO}
Subject: question
Date: {DATE}
Auto-Submitted: {{value}}

Please unsubscribe me.
"""
case("auto_submitted_generated_only_signal", AUTO_BODY.format(value="auto-generated"), "automatic")
case("auto_submitted_no_is_a_person", AUTO_BODY.format(value="no"), "request", ["jane@example.com"], mail_from="sender")


case("outlook_html_reply_remove_me", f"""
From: "Smith, Robert" <robert.smith@corp.example.com>
To: {TO}
Subject: RE: Spring offers
Date: {DATE}
Message-ID: <DM6PR01MB1234@DM6PR01MB1234.namprd01.prod.outlook.com>
Thread-Topic: Spring offers
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="_000_DM6PR01MB_"

--_000_DM6PR01MB_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Remove me from your list please.

Robert

________________________________
From: PLUS Offers <offers@plusnxt.com>
Sent: Monday, January 1, 2024 10:00 AM
To: Smith, Robert <robert.smith@corp.example.com>
Subject: Spring offers

Save 20% this spring. Unsubscribe: https://unsub.plusnxt.com/u/xyz

--_000_DM6PR01MB_
Content-Type: text/html; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

<html><head><meta http-equiv=3D"Content-Type" content=3D"text/html; charset=3Dus-ascii"></head>
<body><div>Remove me from your list please.</div><div>Robert</div>
<hr style=3D"display:inline-block;width:98%"><div id=3D"divRplyFwdMsg" dir=3D"ltr"><b>From:</b> PLUS Offers<br><b>Sent:</b> Monday</div>
<div>Save 20% this spring. <a href=3D"https://unsub.plusnxt.com/u/xyz">Unsubscribe</a></div></body></html>

--_000_DM6PR01MB_--
""", "request", ["robert.smith@corp.example.com"])

case("apple_mail_html_only_cited", f"""
From: Ann Lee <ann.lee@example.org>
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 7bit
Mime-Version: 1.0 (Mac OS X Mail 16.0)
Subject: Re: Product updates
Date: {DATE}
To: {TO}
Message-Id: <A1B2C3D4@example.org>

<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head><body style="overflow-wrap: break-word;">Unsubscribe please.<div><br><blockquote type="cite"><div>On 1 Jan 2024, at 10:00, PLUS &lt;updates@plusnxt.com&gt; wrote:</div><br><div>New in PLUS this month. Don't want these? Unsubscribe here.</div></blockquote></div><br></body></html>
""", "request", ["ann.lee@example.org"], note="HTML only; Apple's cited blockquote dropped")

case("names_another_address", """
From: IT Helpdesk <helpdesk@newcompany.example>
To: PLUSinfo@plusnxt.com
Subject: Remove former employee
Date: Mon, 01 Jan 2024 10:00:00 +0000
Content-Type: text/plain; charset=utf-8

Hello,

Please unsubscribe jane.doe@oldcompany.example.com, she no longer works here.

Kind regards,
Helpdesk
""", "request", ["jane.doe@oldcompany.example.com"])

case("names_two_addresses", """
From: Family Admin <admin@family.example>
To: plusinfo@PLUSNXT.COM
Subject: stop emails
Date: Mon, 01 Jan 2024 10:00:00 +0000
Content-Type: text/plain; charset=utf-8

Please remove kid.one@family.example and Kid.Two@Family.Example from all your lists.
""", "request", ["kid.one@family.example", "kid.two@family.example"])

case("mailto_from_gmail_button", f"""
From: Forwarding Box <forwarder@box.example>
To: {TO}
Subject: unsubscribe {PROMO_TOKEN}
Date: {DATE}
Content-Type: text/plain; charset="UTF-8"

This message was automatically generated by Gmail.
""", "request", ["promo.reader@example.com"], "promotions",
    note="our List-Unsubscribe mailto: the token binds address and topic")

case("mailto_with_auto_submitted", f"""
From: Some Provider <noreply-unsub@provider.example>
To: {TO}
Subject: unsubscribe {PROMO_TOKEN}
Auto-Submitted: auto-generated
Date: {DATE}
Content-Type: text/plain; charset="UTF-8"

""", "request", ["promo.reader@example.com"], "promotions",
    note="a provider's generated mailto request still counts: only our mailto carries the token")

case("forwarded_newsletter_with_request", f"""
From: Old Box Owner <new.box@example.org>
To: {TO}
Subject: Fwd: PLUS deals
Date: {DATE}
Content-Type: text/plain; charset=UTF-8

Please remove me, I no longer use this address.

---------- Forwarded message ---------
From: PLUS Deals <deals@plusnxt.com>
Date: Mon, Jan 1, 2024 at 9:00 AM
Subject: PLUS deals

Big deals. Unsubscribe: https://unsub.plusnxt.com/u/{FORWARD_TOKEN}
""", "request", ["old.box@example.org"], note="token in the forwarded part names the address")

case("es_latin1_quoted_printable", f"""
From: =?iso-8859-1?q?Jos=E9_Garc=EDa?= <jose@example.es>
To: {TO}
Subject: =?iso-8859-1?q?Bolet=EDn?=
Date: {DATE}
MIME-Version: 1.0
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

{qp("Quiero darme de baja de este boletín, por favor." + chr(10) + chr(10) + "El lun, 1 ene 2024 a las 10:00, PLUS <news@plusnxt.com> escribió:" + chr(10) + "> Novedades de este mes.", "iso-8859-1")}
""", "request", ["jose@example.es"])

case("fr_iphone", f"""
From: Claire Martin <claire@example.fr>
To: {TO}
Subject: =?utf-8?q?D=C3=A9sinscription?=
Date: {DATE}
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Merci de me désinscrire de votre liste.

Envoyé de mon iPhone

> Le 1 janv. 2024 à 10:00, PLUS <news@plusnxt.com> a écrit :
>
> Nos offres du mois.
""", "request", ["claire@example.fr"])

case("de_separable_verb", f"""
From: Max Mustermann <max@example.de>
To: {TO}
Subject: AW: Newsletter Januar
Date: {DATE}
Content-Type: text/plain; charset=utf-8

Bitte melden Sie mich vom Newsletter ab.

Mit freundlichen Grüßen
Max

Am Mo., 1. Jan. 2024 um 10:00 Uhr schrieb PLUS <news@plusnxt.com>:
> Neuigkeiten im Januar. Abmelden: https://unsub.plusnxt.com/u/x
""", "request", ["max@example.de"])

case("pt_descadastrar", f"""
From: Ana Souza <ana@example.com.br>
To: {TO}
Subject: Re: Novidades
Date: {DATE}
Content-Type: text/plain; charset=utf-8

Por favor, quero me descadastrar.

Em seg., 1 de jan. de 2024 às 10:00, PLUS <news@plusnxt.com> escreveu:
> Novidades do mês.
""", "request", ["ana@example.com.br"])

case("it_disiscrivermi", f"""
From: Luca Rossi <luca@example.it>
To: {TO}
Subject: Newsletter
Date: {DATE}
Content-Type: text/plain; charset=utf-8

Vorrei disiscrivermi dalla newsletter.

Inviato da iPhone

Il giorno lun 1 gen 2024 alle ore 10:00 PLUS <news@plusnxt.com> ha scritto:
> Le novità del mese.
""", "request", ["luca@example.it"])

case("nl_afmelden", f"""
From: Sanne de Vries <sanne@example.nl>
To: {TO}
Subject: Re: Nieuwsbrief
Date: {DATE}
Content-Type: text/plain; charset=utf-8

Graag afmelden voor de nieuwsbrief.

Op ma 1 jan. 2024 om 10:00 schreef PLUS <news@plusnxt.com>:
> Het nieuws van deze maand.
""", "request", ["sanne@example.nl"])

case("ja_iso2022jp", crlf(f"""
From: {header_b("山田太郎", "iso-2022-jp")} <taro@example.jp>
To: {TO}
Subject: {header_b("配信停止", "iso-2022-jp")}
Date: {DATE}
MIME-Version: 1.0
Content-Type: text/plain; charset=ISO-2022-JP
Content-Transfer-Encoding: 7bit

""") + "配信停止をお願いします。\r\n\r\n山田\r\n".encode("iso-2022-jp"), "request", ["taro@example.jp"])

case("zh_gb2312_base64", f"""
From: {header_b("王伟", "gb2312")} <wei@example.cn>
To: {TO}
Subject: {header_b("回复：每周新闻", "gb2312")}
Date: {DATE}
MIME-Version: 1.0
Content-Type: text/plain; charset="gb2312"
Content-Transfer-Encoding: base64

{b64("请帮我退订，谢谢。" + chr(10) + chr(10) + "发自我的iPhone" + chr(10) + chr(10) + "在 2024年1月1日，PLUS 写道：" + chr(10) + "> 本周新闻。点击退订。", "gb2312")}
""", "request", ["wei@example.cn"])

case("stop_only", f"""
From: Terse Person <terse@example.com>
To: {TO}
Subject: Re: Flash sale
Date: {DATE}
Content-Type: text/plain; charset=utf-8

STOP
""", "request", ["terse@example.com"])

case("smtputf8_sender", f"""
From: 用户 <用户@例子.广告>
To: {TO}
Subject: Unsubscribe
Date: {DATE}
Content-Type: text/plain; charset=utf-8

Please unsubscribe me.
""", "request", ["用户@xn--fsqu00a.xn--4rr70v"], note="SMTPUTF8 sender, IDN domain")

case("outlook_mobile_html", f"""
From: Kim Park <kim@example.com>
To: {TO}
Subject: opt out
Date: {DATE}
MIME-Version: 1.0
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: base64

{b64('<html><body><div dir="auto">Please opt out my address.</div><div dir="auto"><br></div><div>Get <a href="https://aka.ms/o0ukef">Outlook for iOS</a></div><hr><div id="divRplyFwdMsg"><b>From:</b> PLUS</div><div>unsubscribe link</div></body></html>', "utf-8")}
""", "request", ["kim@example.com"])

case("malformed_but_clear_subject", f"""
From: Broken Client <broken@example.com>
To: {TO}
Subject: unsubscribe
Content-Type: multipart/mixed; boundary="missing-end"

--missing-end
Content-Type: text/plain; charset=no-such-charset
Content-Transfer-Encoding: base64

!!!not base64!!!
""", "request", ["broken@example.com"], note="unknown charset, bad base64, unterminated multipart")

# --- not requests: left for review ----------------------------------------------------

case("gmail_reply_thanks_quoting_footer", f"""
From: Happy Reader <happy@example.com>
To: {TO}
Subject: Re: Your weekly PLUS newsletter
Date: {DATE}
Content-Type: text/plain; charset="UTF-8"

Thanks, great article about gardening!

On Mon, Jan 1, 2024 at 10:00 AM PLUS News <news@plusnxt.com> wrote:
> This week at PLUS.
> To unsubscribe, click here: https://unsub.plusnxt.com/u/{ALIAS_TOKEN}
""", "review", note="'unsubscribe' only in the quoted footer")

case("outlook_question_footer_below", f"""
From: Buyer <buyer@example.com>
To: {TO}
Subject: RE: Spring offers
Date: {DATE}
Content-Type: text/plain; charset="us-ascii"

Can you send me the price list for the garden chairs?

From: PLUS Offers <offers@plusnxt.com>
Sent: Monday, January 1, 2024 10:00 AM
To: Buyer <buyer@example.com>
Subject: Spring offers

Save 20%. Click here to unsubscribe.
""", "review")

case("negated_en", f"""
From: Fan <fan@example.com>
To: {TO}
Subject: Re: newsletter
Date: {DATE}
Content-Type: text/plain; charset=utf-8

Please do not unsubscribe me, I love these emails!
""", "review")

case("negated_es", f"""
From: Fan <fan.es@example.es>
To: {TO}
Subject: Boletín
Date: {DATE}
Content-Type: text/plain; charset=utf-8

No me den de baja, por favor. Me encanta el boletín.
""", "review")

case("negated_ja", f"""
From: Fan <fan@example.jp>
To: {TO}
Subject: =?utf-8?b?{base64.b64encode("ニュースレター".encode()).decode()}?=
Date: {DATE}
Content-Type: text/plain; charset=utf-8

配信停止しないでください。毎週楽しみにしています。
""", "review")

case("unrelated_question", f"""
From: Curious <curious@example.com>
To: {TO}
Subject: Opening hours
Date: {DATE}
Content-Type: text/plain; charset=utf-8

What are your opening hours on Saturday?
""", "review")

case("signature_mentions_unsubscribe", f"""
From: Busy Person <busy@example.com>
To: {TO}
Subject: Meeting
Date: {DATE}
Content-Type: text/plain; charset=utf-8

See you Monday at ten.

-- 
Busy Person | Example Ltd
Reply STOP to unsubscribe from my status updates.
""", "review", note="request words only in the signature")

case("reply_subject_has_unsubscribe", f"""
From: Reader <reader@example.com>
To: {TO}
Subject: Re: How to unsubscribe from paper statements
Date: {DATE}
Content-Type: text/plain; charset=utf-8

Great tips, thanks!
""", "review", note="the word is in the newsletter's subject, not the person's words")

case("malformed_no_request", b"From: \x80\x81 broken\r\nSubject: =?bad?Q?==?=\r\nContent-Type: multipart/alternative\r\n\r\n--\r\nrandom bytes \xff\xfe\r\n",
     "review", mail_from="sender", note="garbage headers, boundary missing")

case("empty_message", b"\r\n", "review", mail_from="sender")

# --- automatic mail: never a request ---------------------------------------------------

case("auto_submitted_out_of_office", f"""
From: Jane Doe <jane@example.com>
To: {TO}
Subject: Out of Office: Unsubscribe
Auto-Submitted: auto-replied
Date: {DATE}
Content-Type: text/plain; charset=utf-8

I am out of the office until Monday. To unsubscribe from my list of contacts, do nothing.
""", "automatic")

case("outlook_automatic_reply", f"""
From: Robert Smith <robert.smith@corp.example.com>
To: {TO}
Subject: Automatic reply: unsubscribe
X-Auto-Response-Suppress: All
X-MS-Exchange-Inbox-Rules-Loop: robert.smith@corp.example.com
Date: {DATE}
Content-Type: text/plain; charset=utf-8

I'm away until 15 January with no access to email. Please unsubscribe requests to my colleague.
""", "automatic")

case("x_autoreply", f"""
From: Vacation <vacation@example.com>
To: {TO}
Subject: Re: unsubscribe
X-Autoreply: yes
Date: {DATE}
Content-Type: text/plain; charset=utf-8

Unsubscribe? I'm on vacation.
""", "automatic")

case("precedence_bulk", f"""
From: Other Newsletter <news@other.example>
To: {TO}
Subject: Unsubscribe from nothing
Precedence: bulk
Date: {DATE}
Content-Type: text/plain; charset=utf-8

Unsubscribe here anytime.
""", "automatic")

case("incoming_list_mail", f"""
From: Some List <list@lists.example>
To: {TO}
Subject: [list] weekly digest
List-Id: <weekly.lists.example>
List-Unsubscribe: <mailto:leave@lists.example>
Date: {DATE}
Content-Type: text/plain; charset=utf-8

Unsubscribe: send mail to leave@lists.example
""", "automatic")

case("vacation_de", f"""
From: Max Mustermann <max@example.de>
To: {TO}
Subject: Abwesenheitsnotiz: Newsletter abmelden
Auto-Submitted: auto-replied
Date: {DATE}
Content-Type: text/plain; charset=utf-8

Ich bin bis zum 10. Januar nicht im Büro.
""", "automatic")

case("old_style_bounce_null_sender", f"""
From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
To: {TO}
Subject: Mail delivery failed: returning message to sender
Date: {DATE}
Content-Type: text/plain; charset=utf-8

This message was created automatically by mail delivery software.
A message that you sent could not be delivered. Unsubscribe the address gone@example.com.
""", "automatic", mail_from="")

case("dsn_transient_delay", f"""
From: Mail Delivery Subsystem <mailer-daemon@mx.example.com>
To: {TO}
Subject: Delivery Status Notification (Delay)
Date: {DATE}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn-delay"

--dsn-delay
Content-Type: text/plain; charset=us-ascii

Delivery to slow@example.com is delayed. We will keep trying.

--dsn-delay
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; slow@example.com
Action: delayed
Status: 4.4.1

--dsn-delay--
""", "automatic", mail_from="")

# --- bounces and complaints -------------------------------------------------------------

case("dsn_permanent_failure", f"""
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: {TO}
Subject: Delivery Status Notification (Failure)
Date: {DATE}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn-fail"

--dsn-fail
Content-Type: text/plain; charset=UTF-8

Address not found. Your message wasn't delivered to gone@example.com.

--dsn-fail
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com
Arrival-Date: {DATE}

Final-Recipient: rfc822; Gone@Example.com
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does not exist.

--dsn-fail
Content-Type: message/rfc822

From: PLUS <news@plusnxt.com>
To: gone@example.com
Subject: PLUS news
List-Unsubscribe: <https://unsub.plusnxt.com/u/{GONE_TOKEN}>,
 <mailto:PLUSinfo@plusnxt.com?subject=unsubscribe%20{GONE_TOKEN}>

Hello.

--dsn-fail--
""", "bounce", ["gone@example.com"], mail_from="")


def dsn(name: str, recipients: str, returned_headers: str, kind: str, addresses=()):
    case(name, f"""
From: Mail Delivery Subsystem <mailer-daemon@mx.example>
To: {TO}
Subject: Undelivered Mail Returned to Sender
Date: {DATE}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"

--dsn
Content-Type: text/plain

Your message could not be delivered.

--dsn
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example

{recipients}

--dsn
Content-Type: text/rfc822-headers

From: PLUS <news@plusnxt.com>
Subject: PLUS news
{returned_headers}

--dsn--
""", kind, list(addresses), mail_from="")


# Anyone can send a report naming anyone: without our token it suppresses nothing.
dsn("dsn_forged_without_token", """Final-Recipient: rfc822; victim@example.com
Action: failed
Status: 5.1.1""", "To: victim@example.com", "review")
# Our token, but for someone else: proves nothing about the address that failed.
dsn("dsn_token_for_another_address", """Final-Recipient: rfc822; victim@example.com
Action: failed
Status: 5.1.1""", f"To: victim@example.com\nList-Unsubscribe: <https://unsub.plusnxt.com/u/{OTHER_TOKEN}>", "review")
# Forwarded: the address we sent to is the original recipient (RFC 3464 §2.3.1).
dsn("dsn_forwarded_original_recipient", """Original-Recipient: rfc822; Fwd.User@example.com
Final-Recipient: rfc822; fwd.user@elsewhere.example
Action: failed
Status: 5.1.1""", f"To: fwd.user@example.com\nList-Unsubscribe: <https://unsub.plusnxt.com/u/{FWD_TOKEN}>",
    "bounce", ["fwd.user@example.com"])

case("arf_complaint", f"""
From: Feedback Loop <fbl@isp.example>
To: {TO}
Subject: FW: PLUS deals
Date: {DATE}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="arf"

--arf
Content-Type: text/plain; charset="US-ASCII"

This is an email abuse report for an email message received from IP 192.0.2.1.

--arf
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <bounces@plusnxt.com>
Original-Rcpt-To: <angry@example.com>
Arrival-Date: {DATE}

--arf
Content-Type: message/rfc822

From: PLUS <deals@plusnxt.com>
To: angry@example.com
Subject: PLUS deals
List-Unsubscribe: <https://unsub.plusnxt.com/u/{ANGRY_TOKEN}>

Deals.

--arf--
""", "complaint", ["angry@example.com"], mail_from="")

case("arf_recipient_from_original", f"""
From: Feedback Loop <fbl@isp.example>
To: {TO}
Subject: complaint
Date: {DATE}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="arf2"

--arf2
Content-Type: text/plain

Complaint.

--arf2
Content-Type: message/feedback-report

Feedback-Type: abuse
Version: 1

--arf2
Content-Type: text/rfc822-headers

From: PLUS <deals@plusnxt.com>
To: Angry Two <angry2@example.com>
Subject: PLUS deals
List-Unsubscribe: <https://unsub.plusnxt.com/u/{ANGRY2_TOKEN}>

--arf2--
""", "complaint", ["angry2@example.com"], mail_from="")


def arf(name: str, feedback: str, returned_headers: str, kind: str, addresses=()):
    case(name, f"""
From: Feedback Loop <fbl@isp.example>
To: {TO}
Subject: complaint
Date: {DATE}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="arf3"

--arf3
Content-Type: text/plain

Complaint.

--arf3
Content-Type: message/feedback-report

Feedback-Type: abuse
Version: 1
{feedback}

--arf3
Content-Type: text/rfc822-headers

From: PLUS <deals@plusnxt.com>
Subject: PLUS deals
{returned_headers}

--arf3--
""", kind, list(addresses), mail_from="")


arf("arf_forged_without_token", "Original-Rcpt-To: <victim@example.com>", "To: victim@example.com", "review")
# Providers redact the complainant, but keep our links: the token names whom we sent it to.
arf("arf_redacted_recipient", "", f"To: redacted@isp.example\nList-Unsubscribe: <https://unsub.plusnxt.com/u/{REDACTED_TOKEN}>",
    "complaint", ["redacted.person@example.com"])


def main() -> None:
    lines = ["# Expected outcome of each corpus message (written by build_corpus.py).", ""]
    for name, (raw, expected) in CASES.items():
        (HERE / f"{name}.eml").write_bytes(raw)
        lines.append(f"[{name}]")
        for key, value in expected.items():
            if isinstance(value, list):
                lines.append(f"{key} = [{', '.join(_toml(v) for v in value)}]")
            else:
                lines.append(f"{key} = {_toml(value)}")
        lines.append("")
    lines.append(f'[_keys]\nsigning_key = "{CORPUS_KEY}"\n')
    (HERE / "expected.toml").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {len(CASES)} messages to {HERE}")


def _toml(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


if __name__ == "__main__":
    main()
