"""Refusals, retractions and other channels, which a probing helper had honoured as requests
(2026-12-07): a short refusal under a subject that asks ("Unsubscribe" / "No thanks."), a
subject that runs on into a negated body ("Please do NOT" / "unsubscribe"), a request taken
back ("That wasn't me, ignore it", "just kidding"), and SMS only. Each now goes to a person;
the genuine requests beside them, some with negations of their own, are still decided alone.

The judge has since been trained on such mail (batches 53-55 of the reader's corpus, three
writers'). The corpus's test split holds as before (tests/test_judge.py); batch B, by a helper
who never saw the rules, and batch D, by another written for the retraining and read once,
measure the change and are never trained on (docs/email.md)."""

import json
from pathlib import Path

import numpy as np
import pytest

from suppression.inbound.classify import REQUEST, REVIEW, classify_message
from suppression.inbound.judge import DIMENSIONS, Judge
from suppression.tokens import verify_token
from tests.test_reader_defects import KEY, OURS, message, read

# Probability 0.5 for any words, from a threshold of 0: every message the rules leave to it is a request.
_TAKES_ALL = Judge(np.zeros(DIMENSIONS, dtype=np.float32), 0.0, 0.0, 0.0)

REFUSALS = Path(__file__).parent / "corpus" / "refusals"


@pytest.mark.parametrize("subject, body", [
    ("Unsubscribe", "No thanks."),
    ("Unsubscribe", "Please don't!"),
    ("Unsubscribe", "lol no"),
    ("Unsubscribe", "Not yet."),
    ("Abmelden", "Nein danke, bitte nicht."),
    ("Baja", "No, por favor."),
    ("Désinscription", "Non merci."),
    ("退订", "不要"),
    ("配信停止", "しないでください"),
])
def test_a_few_words_under_a_subject_that_asks_turning_it_down_go_to_a_person(subject, body):
    decision = read(message(body, subject))
    assert decision.kind == REVIEW and "turn it down" in decision.reasons[0], decision.reasons


@pytest.mark.parametrize("subject, body", [
    ("Please do NOT", "unsubscribe"),
    ("Never", "Stop."),
    ("Whatever you do, don't", "remove me"),
    ("No", "Baja"),
    ("请不要", "退订"),
    ("Ne pas", "désabonner"),
])
def test_a_subject_that_runs_on_into_the_body_negates_what_opens_it(subject, body):
    decision = read(message(body, subject))
    assert decision.kind == REVIEW and "negated" in decision.reasons[0], decision.reasons


@pytest.mark.parametrize("body", [
    "Someone asked you to unsubscribe me. That wasn't me, ignore it.",
    "Please unsubscribe me. Actually, forget it, I'll stay.",
    "Please unsubscribe me... just kidding!",
    "Please unsubscribe bob@example.com. Just kidding, he'd kill me.",
    "Oops, I clicked unsubscribe by mistake this morning.",
    "Please unsubscribe me. Actually never mind, keep me in.",
    "Please unsubscribe me. Wait, wrong button, sorry.",
    "Alguien pidió darme de baja. No fui yo, olvídenlo.",
    "Por error pulsé darme de baja. Quiero seguir recibiendo sus correos.",
    "Bitte keine SMS mehr schicken. Die E-Mails möchte ich aber weiter bekommen.",
    # A warning, not yet a request (batches 60-61's, which the judge took as requests 17 times).
    "Third email this week about dog food. Keep this up and I'll unsubscribe.",
    "Si je reçois encore une « vente flash » aujourd'hui, je me désabonne.",
    "Sollte sich das nicht bessern, werde ich mich abmelden. Ich bitte um Behebung.",
    "Imagens partidas outra vez. Estou quase a cancelar a subscrição, arranjem isto por favor.",
    "Se oggi mi arriva ancora un'altra offerta del giorno mi cancello.",
    "Als ik vandaag nog één dagdeal-mail krijg meld ik me af.",
    "Si me vuelven a mandar tres correos el mismo día, me doy de baja.",
    "再发每日特价邮件我就退订了，今天已经第三封了。",
    "毎日セールのメールが来ますが、これ以上続くようなら配信停止します。",
    # A reviewing helper's, which the first words missed.
    "One more email like this and I'm unsubscribing.",
    "Noch eine Mail heute und ich melde mich ab.",
    "Un mail de plus et je me désabonne.",
    "Se isso continuar, vou cancelar minha inscrição na newsletter.",
    "Nog zo'n mail vandaag en ik schrijf me uit.",
    "再收到一封这种邮件，我马上退订。",
    # Batches W, X and Y's last (2026-12-08): a warning with words between, and a request begun
    # and not made.
    "Sollte sich dies nicht kurzfristig ändern, werde ich mich von sämtlichen Mailings abmelden.",
    "Je voulais vous demander de me retirer de la liste, mais en fait je me suis trompé d'expéditeur.",
    "J'allais vous demander de me retirer de la liste, mais pas encore. J'attends de voir les soldes.",
    "...not yet, actually. I started writing this after the fourth email this week, then calmed down.",
    "I was going to ask you to remove me from the list, but not yet: the new format is much better.",
    "Ich wollte Sie bitten, mich abzumelden, aber noch nicht: der neue Newsletter gefällt mir.",
    # Batches AI, AL, AO and AR's (2026-12-08, second session): near leaving, and any condition
    # with the sender's own leaving, or asking for it, to come.
    "estoy a nada de darme de baja eh",
    "jsuis a deux doigts de me desabonner franchement, 3 mails par jour c abusé",
    "Se continuar chegando promoção todo santo dia eu vou descadastrar meu e-mail.",
    "Indien dit aanhoudt, zal ik mij ook voor de nieuwsbrief afmelden.",
    "Me llegan cuatro correos al día. Como siga así me doy de baja, y eso que compro en PLUS desde hace años.",
    "Qualora la situazione non venga corretta, procederò a revocare l'iscrizione alla Vostra newsletter.",
    "Should this continue, I will withdraw my consent to all marketing emails.",
    "If I receive another one with the wrong name, I shall be removing myself from your mailing list.",
    "Si ce problème n'est pas corrigé rapidement, je demanderai ma radiation de votre liste de diffusion.",
    "Caso a situação não seja corrigida, pedirei a remoção do meu endereço da vossa lista de correio.",
    "Qualora ciò dovesse ripetersi, chiederò la cancellazione del mio indirizzo da ogni Vostra lista.",
    "如果再次发生，我将要求把我的邮箱从邮件列表中删除。",
    # A reviewing helper's near variants.
    "Se continuar chegando promoção todo santo dia eu descadastro meu e-mail.",
    "Se continuar assim vou acabar me descadastrando.",
    "Should this continue, I will be withdrawing my consent to all marketing emails.",
    "If I receive another one with the wrong name I will be taking myself off your mailing list.",
    "jsuis a 2 doigts de me desabonner", "S'ils continuent, je me désabonne.", "If this continues Ill unsubscribe.",
    "If this doesn't stop I'll unsub.", "Otro correo más y me doy de baja.", "Bij de volgende mail meld ik me af.",
    "Na próxima, eu me descadastro.",
    # Batches AT and AU's: gone, and being made to ask.
    "Nog één zo'n mail en ik ben weg. Drie reclamemails op één dag, kom op.",
    "Je tiens à vous signaler que, si cette fréquence devait se maintenir, je me verrais contraint de demander ma "
    "radiation de votre liste de diffusion.",
    "Qualora tale frequenza non venisse ridotta, mi vedrò costretto a richiedere la cancellazione del mio indirizzo.",
    "If this keeps up, I'll be forced to unsubscribe.",
    # A second reviewing helper's: a condition after "and" or "but" is one too.
    "Bitte weniger Mails schicken, und wenn es so weitergeht, werde ich mich abmelden.",
    "Too many emails lately, and if the next one is another sale I will unsubscribe.",
    "You send far too much. But if nothing changes by Friday I will unsubscribe.",
    "Ricevo troppe email, ma se continuate così mi disiscriverò.",
    # Asked whether they want to leave, the answer is no.
    "U vraagt of ik me wil uitschrijven. Het antwoord is nee.",
])
def test_words_that_take_a_request_back_or_are_of_another_channel_go_to_a_person(body):
    """The judge, trained on such mail since (batches 53-55), sends them to a person; so do the
    words themselves, where a judge would take the message as a request."""
    assert read(message(body, "Hi")).kind == REVIEW
    decision = classify_message(message(body, "Hi"), "jane@example.com", OURS, lambda token: verify_token([KEY], token),
                                judge=_TAKES_ALL)
    assert decision.kind == REVIEW and any("take it back" in reason for reason in decision.reasons), decision.reasons


@pytest.mark.parametrize("subject, body", [
    # Batch U's two questions the judge took as requests (0.95, 0.94) and suppressed the asker.
    ("Qual o email registado?", "Boa tarde, tenho dois emails e não sei com qual me registei na newsletter. Conseguem "
                                "dizer-me qual está na vossa lista? Obrigado"),
    ("Trattamento dei dati per la newsletter", "Gentili Signori,\n\nin qualità di iscritta a PLUS News, vorrei sapere "
     "quali dati personali conservate in relazione alla newsletter, per quanto tempo e se vengono comunicati a terzi."),
    # The same questions in the other languages.
    ("Newsletter", "Which email address am I registered with? I have two."),
    ("Newsletter", "What personal data do you hold about me for the newsletter?"),
    ("Newsletter", "Mit welcher Adresse bin ich für den Newsletter angemeldet?"),
    ("Newsletter", "Quelles données personnelles conservez-vous sur moi ?"),
    ("Boletín", "¿Con qué correo estoy suscrito al boletín?"),
    ("Nieuwsbrief", "Met welk adres ben ik ingeschreven voor de nieuwsbrief?"),
    ("メルマガ", "どのアドレスで登録されているか教えてください。"),
    ("电子报", "请问我是用哪个邮箱订阅的？"),
    # A reviewing helper's rewording of batch U's, which the first words missed.
    ("Qual o email registado?", "Boa tarde, tenho dois emails e não sei em qual estou inscrito na newsletter. Conseguem "
                                "dizer-me qual deles recebe as vossas mensagens? Obrigado"),
    ("Dati", "Quali informazioni avete su di me e per quanto tempo le conservate?"),
    # A request to see what is kept, also where it names another address (ACCESS; batches AH and
    # AN's: judged 0.94, and the address suppressed).
    ("Auskunft nach Art. 15 DSGVO", "hiermit beantrage ich gemäß Art. 15 DSGVO Auskunft über alle personenbezogenen "
     "Daten, die Sie zu meiner Person gespeichert haben, auch zur Adresse t.berger@privatmail.example."),
    ("个人信息查询", "您好，请告知贵公司保存了我哪些个人信息，以及与我之前使用的邮箱 xu.wen@oldmail.example 相关的信息。"),
    ("Data", "This is a subject access request under the GDPR."),
])
def test_a_question_about_the_list_or_the_persons_data_goes_to_a_person(subject, body):
    """A person is owed an answer; the judge, which takes many such questions for requests, is not
    asked (QUESTIONS, suppression/inbound/intent.py)."""
    decision = classify_message(message(body, subject), "jane@example.com", OURS,
                                lambda token: verify_token([KEY], token), judge=_TAKES_ALL)
    assert decision.kind == REVIEW and any("ask a question" in reason for reason in decision.reasons), decision.reasons


@pytest.mark.parametrize("subject, body", [
    ("Newsletter", "Which email address am I registered with? Please unsubscribe it."),
    ("Datos", "¿Qué datos tienen de mí? Denme de baja, por favor."),
    ("Newsletter", "Mit welcher Adresse ich angemeldet bin, weiß ich nicht: bitte melden Sie mich ab."),
    # Spain's second person plural that wants something kept is no word that wants the mail.
    ("Baja", "Dadme de baja del boletín, por favor, pero no borréis mi cuenta de cliente."),
    # Words of condition that are none here (a reviewing helper's): "sonst" as "normally", "als" as
    # "as", "em todo caso", "si" inside a question, each after a word.
    ("Re: Newsletter", "Da ich die Mails sonst nie lese, melde ich mich hiermit ab."),
    ("Re: Nieuwsbrief", "Ik gebruik dit adres niet meer als privéadres, dus hierbij meld ik me af."),
    ("Re: Newsletter", "Em todo caso, vou me descadastrar. Obrigado."),
    ("Re: Boletín", "¿Pierdo mis puntos si me doy de baja? Da igual, quitadme de la lista."),
    # Another to leave too is no one wanting the mail.
    ("Unsubscribe", "Please remove me from your mailing list. I'd like my wife to get removed as well, we share "
     "this address."),
    ("Afmelden", "Graag wil ik me afmelden. Ik wil graag dat mijn vrouw ook geen nieuwsbrief meer krijgt."),
    # A warning, and the request made at once.
    ("Newsletter", "I will unsubscribe if this goes on. Actually, just remove me now."),
    ("Baja", "Como siga así me doy de baja, dije. Pues ya está: denme de baja."),
])
def test_a_question_beside_a_phrase_that_asks_leaves_the_request_to_the_words(subject, body):
    decision = classify_message(message(body, subject), "jane@example.com", OURS,
                                lambda token: verify_token([KEY], token), judge=_TAKES_ALL)
    assert decision.kind == REQUEST, decision.reasons


@pytest.mark.parametrize("subject, body", [
    ("Unsubscribe", "Thanks"),
    ("Unsubscribe", "Please remove me, I don't want these emails anymore."),
    ("Abmelden", "Nein danke, keine Mails mehr."),
    ("Basta email promozionali", "Per favore non inviatemi più email promozionali. Grazie."),
    ("Not interested", "Please unsubscribe me"),
    ("请勿再发邮件", "请把我的邮箱从你们的邮件列表中删除，谢谢。"),
    ("Newsletter", "If this is your marketing list, take me off it. If it's about my booking, ignore this."),
    ("Unsubscribe", "Not interested."),
    ("Unsubscribe", "Please do not contact me again."),
    ("Unsubscribe", "Not relevant."),
    ("Unsubscribe", "I never signed up for this."),
    ("Remove me", "Wrong person."),
    ("Hi", "I hit subscribe by mistake, please unsubscribe me."),
    ("Désinscription", "J'ai changé d'avis, merci de me désinscrire."),
    ("Publicidad no", "Darme de baja por favor."),
    ("退订", "误点了订阅，请帮我退订。"),
    ("Unsubscribe", "Please remove me from the weekly offers. I still want my invoices by email."),
    ("Remove me", "Please remove me from your mailing list, I do not want to receive any more newsletters."),
    # Polite conditions that ask, and a warning come true.
    ("Unsubscribe", "If possible, please unsubscribe me from all your emails."),
    ("Baja", "Si es posible, denme de baja de todos sus correos."),
    ("Unsubscribe", "I warned you last month. Now take me off your list."),
    ("Abmelden", "Wenn möglich, bitte melden Sie mich von allen Newslettern ab."),
    # A reviewing helper's, which the first words of warning sent to a person (50 of its 67): a
    # condition of another kind, and the leaving beside a request.
    ("Unsubscribe", "I've retired and I'm out of the industry now, so please remove me from your mailing list."),
    ("Unsubscribe", "I've been thinking about unsubscribing for a while. Please remove me now."),
    ("Unsubscribe", "Please remove me from this list. If I keep getting these I'll cancel my account as well."),
    ("Désabonnement", "Vos e-mails sont devenus si fréquents que je me désabonne. Merci de me retirer de la liste."),
    ("Baja", "Otra vez tres correos hoy y me doy de baja definitivamente. Por favor, quítenme de la lista."),
    ("Cancelamento", "A newsletter se repete todo dia, então cancelo a minha assinatura. Removam meu e-mail, por favor."),
    ("Afmelden", "Als het kan, meld ik me af. Haal mijn adres van de lijst, graag."),
    ("Abmelden", "Wenn nichts dagegen spricht, melde ich mich ab. Danke."),
    ("退订", "我已经不再需要这些信息，我就退订了，谢谢。"),
    # A request begun, then made (a second reviewing helper's, which the first words of a request
    # begun and not made sent to a person).
    ("Unsubscribe", "I wanted to ask you to remove me from the list, but the link in the footer gives an error. "
                    "Please remove me."),
    ("Abmelden", "Ich wollte Sie bitten, mich aus dem Verteiler zu nehmen, aber der Abmeldelink funktioniert nicht. "
                 "Bitte tragen Sie mich aus."),
    ("配信停止", "退職したら不要になるので、配信停止します。アドレスを削除してください。"),
])
def test_genuine_requests_beside_them_are_still_decided_alone(subject, body):
    decision = read(message(body, subject))
    assert decision.kind == REQUEST, decision.reasons


@pytest.mark.parametrize("subject, body", [
    # Decided alone until the judge trained on batches 62-63 (warnings the most, "se continuate
    # così..."), with 60-61 choosing its threshold (0.720 -> 0.897): judged 0.87 and 0.74 now. The
    # price of fewer wrong opt-outs (docs/email.md, "Warnings, trained"): a person decides them.
    ("Disiscrizione", "Se possibile, cancellatemi dalla vostra lista."),
    ("Unsubscribe", "I'm not a customer."),
])
def test_requests_the_judge_is_unsure_of_go_to_a_person_not_away(subject, body):
    decision = read(message(body, subject))
    assert decision.kind == REVIEW and "not sure" in decision.reasons[0], decision.reasons


def _tally(batch: str) -> tuple[int, int]:
    """(messages asking to stay taken as requests, requests decided alone) of a helper's batch."""
    wrong = alone = 0
    for n, mail in enumerate(json.loads((REFUSALS / batch).read_text(encoding="utf-8"))):
        sender = f"person{n}@example.org"
        raw = (f"From: <{sender}>\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: {mail['subject']}\r\n"
               f"Content-Type: text/plain; charset=utf-8\r\n\r\n{mail['body']}\r\n").encode()
        taken = read(raw, sender).kind == REQUEST
        wrong += taken and mail["label"] == "stay"
        alone += taken and mail["label"] == "request"
    return wrong, alone


@pytest.mark.parametrize("batch, most_wrong, fewest_alone", [
    # 135 asking to stay, 63 to leave: its messages never read (51, then 21 wrong before; 6 wrong and
    # 58 alone before batches 56-59 trained; 7 and 59 after, until batches 62-63 trained with 60-61
    # choosing the threshold)
    ("batch_b.json", 3, 58),
    # 120 and 90, written for this and read once (27 wrong with the judge before; 57 alone before
    # batches 56-59 trained; 9 and 62 after, until batches 62-63 trained: more go to a person)
    ("batch_d.json", 7, 53),
])
def test_the_helpers_batches_are_read_as_measured(batch, most_wrong, fewest_alone):
    wrong, alone = _tally(batch)
    assert wrong <= most_wrong and alone >= fewest_alone, (wrong, alone)
