"""Smaller defects of the reader, each named after what broke: an address before "?" dropped
while the message was settled, an unreadable named address ignored, an xtext-encoded
Original-Recipient not decoded, every ARF feedback type suppressing as a complaint."""

from pathlib import Path

import pytest

from suppression.inbound.classify import AUTOMATIC, COMPLAINT, REQUEST, REVIEW, classify_message
from suppression.inbound.intent import find_intent
from suppression.links import mint_link
from suppression.tokens import verify_token

CORPUS = Path(__file__).parent / "corpus"
KEY = "corpus-signing-key-not-secret-0123456789"
OURS = frozenset({"plusinfo@plusnxt.com"})


def read(raw: bytes, mail_from: str = "jane@example.com"):
    return classify_message(raw, mail_from, OURS, lambda token: verify_token([KEY], token))


def message(body: str, subject: str = "Unsubscribe please") -> bytes:
    return (f"From: Jane <jane@example.com>\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: {subject}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


@pytest.mark.parametrize("punctuation", ["?", "!", "…", "？", "?!"])
def test_regression_an_address_before_sentence_punctuation_is_read(punctuation):
    decision = read(message(f"Please unsubscribe a1@example.com and b1@example.com{punctuation} thanks"))
    assert decision.kind in (REQUEST, REVIEW)
    assert "b1@example.com" in (decision.addresses if decision.kind == REQUEST else decision.found)
    assert "b1@example.com" in decision.found


def test_regression_an_address_with_a_quoted_local_part_is_the_one_named_not_the_senders():
    # Before: the quotes ended the run, the text named no one, and the sender was unsubscribed.
    decision = read(message('Please unsubscribe "zqx.target"@example.com from all your emails.'))
    assert decision.kind == REQUEST
    assert decision.addresses == ("zqx.target@example.com",) and decision.names_others
    assert "jane@example.com" not in decision.addresses


def test_regression_an_unreadable_named_address_sends_the_message_to_a_person():
    # Before: the readable one was honoured and the other ignored; no person saw it.
    decision = read(message("Please unsubscribe a1@example.com and b1@exa mple@com.x@y, thank you"))
    assert decision.kind == REVIEW
    assert any("not valid" in reason for reason in decision.reasons)
    assert decision.addresses == ()


def dsn(original_recipient: str, returned_to: str) -> bytes:
    link = mint_link(returned_to, base_url="https://x.example", secret_keys=[KEY], request_address="PLUSinfo@plusnxt.com")
    return (
        "From: MAILER-DAEMON@mx.example\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: Undelivered\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
        f"Original-Recipient: {original_recipient}\r\nFinal-Recipient: rfc822; elsewhere@example.org\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n\r\n"
        f"--b\r\nContent-Type: message/rfc822\r\n\r\nTo: {returned_to}\r\nList-Unsubscribe: <{link.url}>\r\n\r\nhi\r\n--b--\r\n"
    ).encode()


def test_regression_an_xtext_original_recipient_is_decoded():
    decision = read(dsn("rfc822;c2+2Bnews@example.com", "c2+news@example.com"), mail_from="")
    assert (decision.kind, decision.addresses) == ("bounce", ("c2+news@example.com",))


def arf(feedback_type: str) -> bytes:
    raw = (CORPUS / "arf_complaint.eml").read_bytes()
    assert b"Feedback-Type: abuse" in raw
    return raw.replace(b"Feedback-Type: abuse", f"Feedback-Type: {feedback_type}".encode())


def test_an_abuse_report_is_a_complaint():
    decision = read(arf("abuse"), mail_from="")
    assert (decision.kind, decision.addresses) == (COMPLAINT, ("angry@example.com",))


@pytest.mark.parametrize("feedback_type", ["not-spam", "virus", "fraud", "other", "auth-failure", "dmarc"])
def test_other_feedback_types_go_to_a_person_not_the_list(feedback_type):
    # RFC 5965 and the IANA registry: only "abuse" is a person saying "this is spam". A
    # mutation that read not-spam as abuse survived the suite before these.
    decision = read(arf(feedback_type), mail_from="")
    assert decision.kind == REVIEW and decision.addresses == ()
    assert any(f"feedback type {feedback_type}" in reason for reason in decision.reasons)


def test_a_report_without_a_feedback_type_goes_to_a_person():
    decision = read(arf("").replace(b"Feedback-Type: \n", b"").replace(b"Feedback-Type: \r\n", b""), mail_from="")
    assert decision.kind == REVIEW


def test_a_calendar_invitation_is_not_a_request():
    raw = (b"From: Sam <sam@agency.example.com>\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: Review of unsubscribe rates\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n"
           b"--c\r\nContent-Type: text/plain\r\n\r\nAgenda: unsubscribe rates, opt-out metrics. Please unsubscribe"
           b" inactive users from the list before the meeting.\r\n"
           b"--c\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n--c--\r\n")
    decision = read(raw, mail_from="sam@agency.example.com")
    assert decision.kind == REVIEW and "calendar invitation" in decision.reasons[0]


def test_a_bottom_posted_answer_below_the_quote_is_the_persons_own_words():
    raw = message("On Tue, 3 Nov 2026 at 10:12, PLUS <news@plusnxt.com> wrote:\r\n> Our autumn news\r\n"
                  "> To unsubscribe click here\r\n\r\nPlease take me off your list.\r\n\r\nJane", subject="Re: news")
    decision = read(raw)
    assert "Please take me off your list." in decision.words
    assert "autumn" not in decision.words and "click here" not in decision.words


# Mail written by helpers who had not seen the reader (two sets, 220 messages, now in the
# corpus's train split as batch_51): the reader had opted out people who wrote that the mail
# had stopped coming, or that they never asked to leave, and people who answered a word or two.
@pytest.mark.parametrize("subject, body", [
    ("Ya no recibo nada", "Nunca pedí que me eliminaran de la lista, pero ya no recibo sus correos. ¿Qué pasó?"),
    ("Keine Mails mehr erhalten", "Ich habe nie darum gebeten, entfernt zu werden, aber ich bekomme seit Mai keine Mails "
                                  "mehr. Können Sie das prüfen?"),
    ("Não recebo mais", "Nunca pedi para ser removido da lista, mas parei de receber os e-mails. Podem verificar?"),
    ("Geen mails meer", "Ik heb nooit gevraagd om verwijderd te worden, maar ik krijg geen nieuwsbrief meer."),
    ("Nieuwsbrief", "Sinds twee weken krijg ik geen nieuwsbrief meer. Kunnen jullie dat nakijken?"),
    ("收不到邮件", "我从来没有要求退订，为什么最近收不到你们的邮件了？"),
    ("Re: our news", "ja"),
    ("Re: pedido", "obrigada"),
    ("Re: お知らせ", "了解です"),
    ("Re: your order", "Thanks!"),
    # A short reply that says not to, or is no request at all (a review's).
    ("Re: our news", "Bitte nicht löschen"), ("Re: our news", "Non rimuovere"), ("Re: our news", "不要删除"),
    ("Re: our news", "返信不要です"), ("Re: our news", "不要客气"), ("Re: our news", "Stop by anytime"),
    ("Re: our news", "Thanks, TD"), ("Re: our news", "En arrêt maladie"),
])
def test_words_that_want_the_mail_or_say_too_little_go_to_a_person(subject, body):
    decision = read(message(body, subject=subject))
    assert decision.kind == REVIEW, decision.reasons


# Written to stay, or to have the mail back, and honoured as requests until 2026-12-06 (a probing
# helper's sixteen, then a set written by another that had not seen the reader: 31 of its 126
# such messages were taken as requests; docs/email.md has the figures).
@pytest.mark.parametrize("subject, body", [
    ("Subscription", "Keep me subscribed please, I read every issue."),
    ("Remove", "Please do not remove me from your list."),
    ("RE: unsubscribe", "Please cancel my unsubscribe request, I clicked it by mistake."),
    ("Newsletter", "Why was I unsubscribed? I never asked for that. Please put me back."),
    ("Lista", "Por favor, no me den de baja, mantenedme en la lista."),
    ("Liste", "Gardez-moi dans votre liste s'il vous plaît, et remettez-moi si vous m'avez retiré."),
    ("Verteiler", "Bitte löschen Sie mich auf keinen Fall aus dem Verteiler."),
    ("Lista", "Não me removam da lista, por favor."),
    ("Newsletter", "Perché sono stato disiscritto? Rimettetemi nella lista per favore."),
    ("Lijst", "Verwijder mij alstublieft niet, hou me op de mailinglijst."),
    ("配信", "配信停止はしないでください。元に戻してください。"),
    ("订阅", "请不要把我的邮箱从名单中删除，麻烦恢复我的订阅。"),
    # Asking to be added: "add me to your mailing list" suppressed its sender, the judge scoring
    # it 0.97-1.00 in English, German, Japanese and Chinese (2026-12-07, evening); asking for more
    # mail was never in the corpus. A do-not-contact list is no list to be added to. Batch S
    # (tests/corpus/reader/batch_s.jsonl, a helper's, read once and then written into these words; it now trains):
    # 6 of its 63 such messages were suppressed; tests/test_named.py holds it at none.
    ("Subscribe", "Please add me to your mailing list, I'd love to get your newsletter."),
    ("newsletter", "Hi, can you sign me up for the newsletter? Thanks, Bob"),
    ("Newsletter", "Bitte nehmen Sie mich in Ihren Verteiler auf."),
    ("Newsletter", "Pourriez-vous m'ajouter à votre liste de diffusion ?"),
    ("Boletín", "¿Podrían añadirme a su lista de correo? Gracias"),
    ("Newsletter", "Potete aggiungermi alla vostra newsletter? Grazie"),
    ("Newsletter", "Podem me adicionar à lista de e-mails? Obrigado"),
    ("Nieuwsbrief", "Kunnen jullie mij toevoegen aan de nieuwsbrief?"),
    ("メルマガ", "メールマガジンに登録してください。"),
    ("订阅", "请把我加入你们的邮件列表。"),
    ("Newsletter subscription", "I would like to be added to your mailing list so that I receive your newsletter."),
    ("Re: PLUS update", "A colleague forwarded this to me. How do I subscribe so I get my own copy?"),
    ("Inscription", "Je souhaiterais être ajoutée à votre liste de diffusion afin de recevoir votre newsletter."),
    ("Suscripción", "Les agradecería que me incluyeran en su lista de correo para recibir su boletín."),
    ("Iscrizione", "vorrei essere inserita nella vostra mailing list per ricevere la newsletter."),
    ("メールマガジン登録", "メールマガジンを受け取りたく、配信リストへの登録をお願いいたします。"),
])
def test_words_that_ask_to_stay_to_come_back_or_to_be_added_go_to_a_person(subject, body):
    decision = read(message(body, subject=subject))
    assert decision.kind == REVIEW, decision.reasons


@pytest.mark.parametrize("subject, body", [
    # Not asking to be added (the development split's, which the first words took for it).
    ("Sobre sus comunicaciones", "Mis circunstancias han cambiado, así que les agradecería mucho que dejaran de "
                                 "incluirme en sus envíos."),
    ("Fw: 講座のお知らせ", "私は貴センターの講座を受講したことも、メールマガジンに登録したこともありません。"
                        "登録されている私の情報を削除してください。"),
])
def test_words_near_being_added_that_ask_to_leave_are_no_words_that_want_the_mail(subject, body):
    assert find_intent(body).stays == ()


# Asking that someone else not be removed, the address named: the judge scored the first 1.00
# with no phrase to negate, and the friend was suppressed (a probing helper's, 2026-12-06).
@pytest.mark.parametrize("body", [
    "Don't remove bob@example.org from the list, he loves it. Thanks",
    "Please do not unsubscribe bob@example.org, he still reads every issue.",
    "Never take bob@example.org off your list, he reads it every week.",
    "Por favor no lo den de baja a bob@example.org, le encanta.",
    "Ne le désinscrivez pas, bob@example.org lit chaque numéro.",
    "Não o removam, bob@example.org adora a newsletter.",
    "Non lo rimuovete, bob@example.org legge ogni numero.",
    # The apostrophe phones and word processors write, and words between (a reviewing helper's).
    "Don\u2019t remove bob2@example.org from the list, he loves it",
    "Please do NOT under any circumstances remove bob@example.org from the list.",
    "Please don't remove him, he reads every issue.",
])
def test_asking_that_someone_not_be_removed_suppresses_no_one(body):
    decision = read(message(body, subject="Newsletter"))
    assert decision.kind == REVIEW and decision.addresses == (), decision.reasons


@pytest.mark.parametrize("body", [
    "Please unsubscribe me. No need to delete my account, just stop the newsletter.",
    "Stop emailing me. Don't drop me a reply, just take me off the list.",
    "You never remove anyone, so remove me now.",
])
def test_a_request_that_says_what_not_to_remove_is_still_one(body):
    # Honoured before the rule above, and again since it asks for someone else named.
    decision = read(message(body, subject="Newsletter"))
    assert decision.kind == REQUEST, decision.reasons


def test_a_curly_apostrophe_negates_as_a_straight_one():
    assert find_intent("Please don\u2019t unsubscribe me").negated == find_intent("Please don't unsubscribe me").negated != ()


def test_words_to_stay_are_read_within_their_clause():
    assert find_intent("Ich möchte auf keinen Fall weitere Mails, bitte abmelden.").stays == ()
    assert find_intent("Bitte auf keinen Fall aus dem Verteiler löschen.").stays != ()


@pytest.mark.parametrize("body", ["Cancel order 4411", "Stop SMS", "Enough said", "取消订单", "Remove the typo",
                                  "Enough: bob@example.org"])
def test_a_curt_word_among_others_is_for_the_judge_not_the_curt_rule(body):
    # Curt is a word alone ("Stopp!"), which is honoured whatever the judge scored; a curt word
    # beside others, or naming someone else, is the judge's to decide, and it is unsure of these.
    decision = read(message(body, subject="Re: our news"))
    assert decision.kind == REVIEW, decision.reasons


@pytest.mark.parametrize("body", ["Remover.", "Rimuovere.", "Basta.", "TD", "解除。", "不要です。", "Parem.",
                                  "Please stop", "unsubscribe me", "Stopp", "Entfernen", "Eliminar", "Remova",
                                  "Rimuovimi", "移除", "止めて", "Unsuscribe",
                                  # Words of the mail not coming, in a request all the same (a review's).
                                  "Wie bekomme ich keine E-Mails mehr von Ihnen?",
                                  "Ik krijg te veel mails, ik wil er geen meer. Graag afmelden.",
                                  "邮件里没有退订链接，请帮我退订。",
                                  "I don't get any value from these emails, please unsubscribe me.",
                                  "No recibo nada útil de ustedes, denme de baja por favor.",
                                  # "No more" is no word for staying (a reviewing helper's, 2026-12-06).
                                  "不要再发了，请退订", "别再发了，退订"])
def test_a_curt_request_is_still_one(body):
    decision = read(message(body, subject="Re: our news"))
    assert decision.kind == REQUEST and decision.addresses == ("jane@example.com",), decision.reasons


def test_own_words_longer_than_the_reader_decides_go_to_a_person():
    # The corpus's longest own words are about 1,100 characters; 200,000 of a stranger's cost
    # the phrase patterns 0.45 s of a reader's CPU each (tests/security/test_patterns.py).
    from suppression.inbound.classify import MAX_JUDGED

    asked = "Please unsubscribe me from all your emails.\n\n"
    filler = "We met at the fair last spring and talked about the weather there. " * (MAX_JUDGED // 60)
    longest = asked + filler[:MAX_JUDGED - len(asked) - len("Unsubscribe please\n")]
    decided = read(message(longest))
    assert decided.kind == REQUEST and decided.addresses == ("jane@example.com",), decided.reasons
    too_long = read(message(longest + " Thanks"))
    assert too_long.kind == REVIEW and too_long.addresses == ()
    assert too_long.reasons[0] == (f"the sender's own words are too long to decide alone ({MAX_JUDGED + 7:,}"
                                   f" characters; the reader decides up to {MAX_JUDGED:,})")
    # What asks is named for the person, at the start or at the end the desk does not show.
    at_the_end = read(message(filler * 3 + "\n\nPlease remove me from your list."))
    assert at_the_end.kind == REVIEW and at_the_end.reasons[-1].endswith(", remove me"), at_the_end.reasons
    assert "phrases that ask" not in " ".join(read(message(filler * 3, subject="Spring")).reasons)


def test_a_body_of_many_parts_is_read_up_to_its_limit_in_all():
    # Fifty text parts of 200,000 characters each were 10 MB for every pattern after (5 s a message).
    from suppression.inbound.decode import MAX_TEXT_CHARS

    part = "Content-Type: text/plain; charset=utf-8\r\n\r\n" + "from: x\r\n" * 25_000
    raw = ("From: Jane <jane@example.com>\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: hello\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + "".join(f"--b\r\n{part}\r\n" for _ in range(50))
           + "--b--\r\n").encode()
    decided = read(raw)
    assert decided.kind == REVIEW
    counted = int(decided.reasons[0].split("(")[1].split(" ")[0].replace(",", ""))
    assert 0 < counted <= MAX_TEXT_CHARS + len("hello\n")


def test_one_address_repeated_many_times_is_read_a_bounded_number_of_times(monkeypatch):
    # Before: the limit counted distinct addresses, so 28,000 lines of one address were each
    # read again (0.27 s of a 200 KB message; a stranger may send hundreds).
    import suppression.inbound.classify as classify

    reads = []
    monkeypatch.setattr(classify, "normalise_address", lambda text: reads.append(text) or text.lower())
    decision = read(message("Please unsubscribe me.\r\n" + "a@b.example\r\n" * 700))  # not too long to judge
    assert decision.kind == REVIEW
    assert any("more than 200 addresses, some of them the same" in reason for reason in decision.reasons)
    assert len(reads) <= 201


@pytest.mark.parametrize("extra, subject", [
    ("X-Auto-Reply: yes\r\n", "Unsubscribe please"),
    ("X-Mailer: vacation 1.2.7\r\n", "Unsubscribe please"),
    ("", "Autosvar: Unsubscribe please"),
    ("", "Automatisk svar: Unsubscribe please"),
    ("", "不在のお知らせ"),
])
def test_auto_replies_a_probe_sent_are_automatic(extra, subject):
    # A probing helper's (2026-12-07): each was taken as a request for its sender.
    raw = message("Please unsubscribe me.", subject).replace(b"Subject:", extra.encode() + b"Subject:", 1)
    assert read(raw).kind == AUTOMATIC


def html_only(html: str, subject: str = "Re: our November newsletter") -> bytes:
    return (f"From: Jane <jane@example.com>\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: {subject}\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n").encode()


@pytest.mark.parametrize("hidden", [
    '<div style="display: none">Please unsubscribe me.</div>',
    '<span style="font-size:0px;color:#ffffff">Please unsubscribe me.</span>',
    '<div style="visibility:hidden">Please unsubscribe me.</div>',
    '<div style="max-height:0;overflow:hidden;mso-hide:all">Please unsubscribe me.</div>',
    '<p hidden>Please unsubscribe me.</p>',
])
def test_words_hidden_in_html_are_not_the_persons(hidden):
    # A probing helper's (2026-12-07): hidden words were read as the person's, and shown at the
    # desk as theirs; a reply whose client kept a newsletter's hidden preheader unquoted too.
    decision = read(html_only(f"<p>Thanks for the great newsletter, I love it!</p>{hidden}<img hidden src=x>"))
    assert decision.kind == REVIEW and "unsubscribe" not in decision.words.lower(), (decision.kind, decision.words)
    assert "Thanks for the great newsletter" in decision.words
    shown = read(html_only('<p style="font-size:0.9em;opacity:0.8">Please unsubscribe me.</p>', "Unsubscribe"))
    assert shown.kind == REQUEST  # small or pale is still seen
