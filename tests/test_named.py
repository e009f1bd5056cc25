"""Whose address a request names (suppression/inbound/named.py): an address a person only
mentions (a colleague to write to, the address invoices go to, a signature's) is not one they ask
to remove. A probing helper's honest mail switched off those people, not the sender (2026-12-07).

Three batches written for this by helpers who saw no code, each in nine languages: N, which the
rules were written from; M, read once when they were done (its errors written into rules since);
and O, written after those, read once. Two more, S and T, ask to be added to the list (or to a
do-not-mail list): the words that want the mail (suppression/inbound/intent.py) were written from
S's errors, and T was read once after them. Both are measured here, never
trained on (the judge's corpus is tests/corpus/reader/)."""

from pathlib import Path

import pytest

from suppression.inbound import evaluate
from suppression.inbound.classify import REQUEST, REVIEW, classify_message
from suppression.inbound.corpus import read_batch
from suppression.inbound.named import named_addresses, sender_meant
from suppression.tokens import mint_token, verify_token
from tests.test_reader_defects import KEY, OURS, message
from tests.test_reader_refusals import _TAKES_ALL

NAMED = Path(__file__).parent / "corpus" / "named"


def read(raw: bytes, addresses_judge=None):
    """With a judge that takes every message the rules leave to it as a request: the words decide
    (and the addresses' model, the shipped one unless `addresses_judge` is given)."""
    return classify_message(raw, "jane@example.com", OURS, lambda token: verify_token([KEY], token), judge=_TAKES_ALL,
                            addresses_judge=addresses_judge)


@pytest.mark.parametrize("body", [
    # The probing helper's, each of which suppressed the address it names and not the sender.
    "Please unsubscribe me.\n\nThanks,\nRobin Example\nSales Manager, ACME\nsales@acme.example | +1 555 0100",
    "I no longer work at ACME. Please remove me from your list and contact jane.doe@acme.example instead.",
    "Remove me please. Keep sending to robin.work2@work.example though.",
    "Bitte abmelden. Ab sofort ist mein Kollege peter@firma.example Ihr Ansprechpartner.",
    "Abmelden bitte. Rechnungen weiterhin an buchhaltung@firma.example.",
    "Merci de me désabonner. Mon assistante (assistante@groupe.example) trie mon courrier.",
    "Dadme de baja, gracias. El correo general es hola@empresa.example.",
    "退订。发票照常发到 finance@trading.example。",
    "販促メールの配信を止めてください。なお、発注用の order@bakery.example はそのままでお願いします。",
    "配信停止をお願いします。\n\n森 優子\n森設計事務所\nsekkei@mori.example\n東京都渋谷区神宮前1-2-3",
    "Bitte aus der Liste nehmen. Ich hatte schon an support@PLUSNXT.com geschrieben.",  # an address of ours
    # A reviewing helper's: the clause of "keep that one" read for the wrong address, or only
    # for the first place an address is written.
    "Please remove info@acme.example from your list. Orders still go to info@shop.example, keep that one.",
    "Please remove jimbob@acme.example. Keep sending orders to bob@acme.example.",
    "Please remove Info@Acme.example. Please keep sending invoices to INFO@acme.example.",
    # A second reviewing helper's: a confirmation, a new address, from now on, a copy, whom to
    # write to, and signatures with a telephone, a title or a disclaimer beside the address.
    "Unsubscribe this address please, and send the confirmation to priv@home.example.",
    "Bitte diese Adresse abmelden. Ab sofort bitte nur noch an hans.neu@firma.example schreiben.",
    "Unsubscribe please (cc'ing my manager boss@acme.example).",
    "Désinscription svp. Pour toute question, contactez notre service client : sav@boutique.example",
    "Quero cancelar a inscrição. Meu novo e-mail é joao.novo@mail.example.",
    "请退订。以后有事请联系我的同事李明 liming@gongsi.example。",
    "Unsubscribe\n\nThanks,\nRobin Example <robin@acme.example>",
    "Bitte abmelden.\n\nKarl Schmidt\nTel. +49 30 123456 | E-Mail: karl@firma.example",
    "Unsubscribe\n\nRobin Example\nHead of Sales | ACME Ltd.\nrobin@acme.example",
    "Unsubscribe\n\nRobin Example\nrobin@acme.example\nThis message is confidential. If you received it in error, "
    "please delete it and tell the sender.",
    # Batch M's last wrong opt-outs (its rules since are written from them): one to leave alone,
    # to write to, to add to the list, or a signature above a line about printing.
    "unsub me from THIS address pls. i still use accounts@ortizbuild.example for our account so dont mess with that one",
    "Some of what you send looks like it was meant for grace.kim@kimfamily.example, not me. Please take this address "
    "off your lists.",
    "Could you add my daughter Rachel to your mailing list please, rachel.simms@simmsfarm.example. Thanks",
    "Ich möchte Ihre Aussendungen nicht mehr erhalten. Rückfragen richten Sie bitte an mein Sekretariat "
    "(sekretariat.albers@uni.example).",
    "Pourriez-vous ajouter mon associé, thomas.henry@morel-vins.example, à votre liste de diffusion ?",
    "ni idea de cómo acabé en su lista, creo que fue mi amigo (alvaro.pena@correo.example) que me metió. Sáquenme porfa",
    "Favor não me enviar mais emails promocionais.\n\nAtt,\nAna Paula Rocha\nCompras | Tecsul Ltda.\n"
    "compras@tecsul.example | (11) 4000-0000\nAntes de imprimir, pense no meio ambiente.",
    "Graag mij uitschrijven. Mijn mail gaat ook naar g.hoekstra@werkplaats.example, daar hoeven jullie niks mee.",
    "ニュースレターの配信を停止してください。請求書は今まで通り seikyu@inoue-studio.example 宛てにお送りください。",
    "退订。账号是用公司邮箱 finance@sun-build.example 注册的,那个不用管,就是别再往我这个私人邮箱发了",
    # An address to stay as it is, or fine to go on mailing (batches M and N with the judge of
    # batches 56-59).
    "Graag afmelden. Mijn vrouw (linda@boer.example) wil de nieuwsbrief wel blijven ontvangen.",
    "afmelden pls. account staat op naam van admin@vos.example, dat blijft zo, maar hier wil ik niks meer",
    "Baja de esta cuenta. La del trabajo (cblanco@arq.example) la quiero mantener tal cual.",
    "descadastrar por favor. a conta é da empresa (financeiro@araujo.example), isso fica como está",
    "個人用のこのアドレスは解除してください。会社の kaori@inoue.example には引き続き送ってもらって構いません。",
    # A dot right before the words that ask for the sender ends the sentence before them, as it
    # did before those sentences were found once (a reviewing helper's: the first version read the
    # neighbour's address as asked for).
    "Your last mail showed every recipient, I could read my neighbour's peter.lang@postfach-nord.example in the "
    "To line.Unsubscribe me now.",
])
def test_an_address_only_mentioned_sends_the_request_to_a_person(body):
    decision = read(message(body, "Unsubscribe"))
    assert decision.kind == REVIEW, decision.reasons
    assert decision.addresses == () and len(decision.found) >= 1
    assert any(why in reason for reason in decision.reasons
               for why in ("own address", "signature", "another use", "of ours")), decision.reasons


@pytest.mark.parametrize("body, named", [
    ("Please unsubscribe jane@example.com, she no longer works here.", ["jane@example.com"]),
    ("Please remove these addresses:\njane@example.com\nbob@example.com\n\nThanks,\nPeter Smith\nIT desk",
     ["jane@example.com", "bob@example.com"]),
    ("Bitte tragen Sie die Adresse ilse.maurer@example.net aus, meine Mutter möchte keine Mails mehr.",
     ["ilse.maurer@example.net"]),
    ("下記の社員は退職済みです。\n\ns.inoue@fujita.example\ny.kimura@fujita.example\n\n上記2件を配信リストから削除してください。",
     ["s.inoue@fujita.example", "y.kimura@fujita.example"]),
    ("Merci de retirer ces adresses de vos envois :\n– t.garnier@agence.example\n– lea.bonnet@agence.example\n\n"
     "Bonne journée,\nSandrine Morel\nOffice manager", ["t.garnier@agence.example", "lea.bonnet@agence.example"]),
    # A reviewing helper's: the address's own words, a greeting, "cancel my husband's", English
    # "me remove", and words a request says anyway, read as another use or as the sender's.
    ("Please unsubscribe orders@acme.example from your newsletter.", ["orders@acme.example"]),
    ("Please unsubscribe invoices@acme.example from your newsletter.", ["invoices@acme.example"]),
    ("Please unsubscribe sales@orders.example from your newsletter.", ["sales@orders.example"]),
    ("Hi,\nPlease remove jane.old@other.example\nThanks", ["jane.old@other.example"]),
    ("Bonjour,\nMerci de supprimer jane@other.example\nCordialement", ["jane@other.example"]),
    ("Good morning,\nCould you remove\n\njane.old@other.example\nbob.old@other.example\n\nMany thanks\nPeter",
     ["jane.old@other.example", "bob.old@other.example"]),
    ("Can you help me remove my old address jane@other.example from your list?", ["jane@other.example"]),
    ("Bitte tragen Sie jörg@müller.example aus. Rechnungen weiter an uns.", ["jörg@xn--mller-kva.example"]),
    # ("... and send me a confirmation" goes to a person: a confirmation's address is a mention.)
    ("Please remove old.address@mail.example. I don't want these emails at that address anymore.",
     ["old.address@mail.example"]),
    ("Je ne veux plus recevoir vos mails sur mon ancienne adresse vieux@mail.example, merci de la supprimer.",
     ["vieux@mail.example"]),
    ("Não quero mais receber e-mails no meu endereço antigo antigo@correio.example, removam por favor.",
     ["antigo@correio.example"]),
    ("这个邮箱 old@mail.example 我不想再收到你们的邮件了，请退订。", ["old@mail.example"]),
    # Mail still arriving at an old address, forwarded here: that address is the one asked about
    # (the development split's; forwarding and "still" were first read as another use).
    ("These are still being forwarded to me from my old work address, p.nguyen@oldfirm.example. Could you please "
     "delete that address from your lists?", ["p.nguyen@oldfirm.example"]),
    ("An seine Adresse klaus.becker@example.org kommen weiterhin Ihre Newsletter. Bitte löschen Sie diese Adresse.",
     ["klaus.becker@example.org"]),
    ("Deze nieuwsbrief komt binnen op mijn oude adres, s.mulder@student.example, dat wordt doorgestuurd. Kunnen "
     "jullie dat adres uit de lijst halen?", ["s.mulder@student.example"]),
    # Not words of another use: "as it is" gives a reason, "how is it" asks; keeping data, or
    # mail, is what a request refuses; "you may stop it" is polite (a reviewing helper's, sent to
    # a person by the first "keep" words, 2026-12-07).
    ("Please remove old@mail.example as it is no longer mine.", ["old@mail.example"]),
    ("Com'è possibile che vecchio@mail.example riceva ancora le vostre mail? Cancellatelo.", ["vecchio@mail.example"]),
    ("Löschen Sie bitte h.braun@gmx.example aus Ihrer Datenbank, Sie haben kein Recht, diese Daten zu behalten.",
     ["h.braun@gmx.example"]),
    ("Quiten contabilidad@taller.example de su lista, no queremos mantener suscripciones en esa cuenta.",
     ["contabilidad@taller.example"]),
    ("Por favor, removam o e-mail carlos.silva@empresa.example da lista, não vamos manter essa conta.",
     ["carlos.silva@empresa.example"]),
    ("Wilt u info@bakkerij.example van de lijst halen, anders blijft die inbox vollopen.", ["info@bakkerij.example"]),
    ("tanaka@old-company.example は配信停止していただいて構いません。", ["tanaka@old-company.example"]),
    ("请不要再继续发邮件到 wang@old.example，这个邮箱已经不用了，请退订。", ["wang@old.example"]),
    # Two reviewing helpers' requests (2026-12-07, twentieth session), which the words first written
    # from batches 64-65 for an address to keep ("except", "but not", "außer", "sauf", "bleibt",
    # "保留", "别动", "除了", "以外", "anche questo", "こちらも", "may go on") sent to a person, 40 of
    # 44; and the phrases they were narrowed to ("laten staan", "残して", "请保留", "把我退订", "ich
    # möchte aus Ihrem Newsletter"), 22 of 45. Neither was kept (docs/email.md).
    ("Ich möchte aus Ihrem Newsletter folgende Adressen austragen lassen:\na.klein@firma.example\n"
     "b.gross@firma.example", ["a.klein@firma.example", "b.gross@firma.example"]),
    ("退職者のアドレスを残しておく必要はありませんので、s.inoue@fujita.example を配信リストから削除してください。",
     ["s.inoue@fujita.example"]),
    ("Please remove bob@acme.example, he gets nothing from you except spam.", ["bob@acme.example"]),
    ("I clicked the unsubscribe link for old@mail.example but not a thing changed, please remove it.",
     ["old@mail.example"]),
    ("Bitte löschen Sie max@firma.example, da kommt außer Werbung nichts an.", ["max@firma.example"]),
    ("alt@firma.example bleibt im Verteiler, obwohl ich ihn abgemeldet habe. Bitte löschen.", ["alt@firma.example"]),
    ("Meine Frau erika@familie.example bekommt Ihre Werbung. Ich möchte, dass sie da raus ist.",
     ["erika@familie.example"]),
    ("J'ai désinscrit paul@societe.example la semaine dernière mais pas de changement, merci de le supprimer.",
     ["paul@societe.example"]),
    ("No pueden seguir enviando publicidad a rosa@empresa.example, se dio de baja hace meses. Elimínenla.",
     ["rosa@empresa.example"]),
    ("Já pedi para descadastrar joao@empresa.example mas não adiantou, por favor removam.", ["joao@empresa.example"]),
    ("Cancellate luca@azienda.example, per favore. Anche questa settimana ha ricevuto tre email.",
     ["luca@azienda.example"]),
    ("Op oud@mail.example krijg ik nog steeds mails, kunt u dat laten stoppen?", ["oud@mail.example"]),
    ("tanaka@old.example は退職者のアドレスで、広告以外届かないので配信停止してください。", ["tanaka@old.example"]),
    ("父のアドレス isamu@hikari.example にまだメールが届いています。こちらも困っております。削除をお願いします。",
     ["isamu@hikari.example"]),
    ("请退订 zhao@old.example，除了广告你们什么都不发。", ["zhao@old.example"]),
    ("请别动不动就给 zhao@old.example 发广告，请删除这个邮箱。", ["zhao@old.example"]),
    # "this address" is the one just named (a first version of "this address too" sent these to a person)
    ("Mein Mann ist im Februar verstorben. An seine Adresse werner@postfach.example kommen weiterhin Ihre "
     "Newsletter.\nBitte löschen Sie diese Adresse aus Ihrem Verteiler.", ["werner@postfach.example"]),
    ("父のアドレス isamu.sato@hikari-mail.example 宛てに、今もメールマガジンが届いております。お手数ですが、"
     "こちらのアドレスを配信リストから削除していただけますでしょうか。", ["isamu.sato@hikari-mail.example"]),
])
def test_addresses_named_to_be_removed_are_still_removed(body, named):
    decision = read(message(body, "Unsubscribe"))
    assert decision.kind == REQUEST and list(decision.addresses) == named, decision.reasons


@pytest.mark.parametrize("body, named", [
    # Six of the reviewers' requests above that the addresses' model (asked_about.py) is not sure
    # of, below its threshold of 0.37: the cost of its wrong opt-outs on Z, AA and AB taken from
    # 33 to 3 (docs/email.md). A person decides them; the open model takes them as before, so
    # that is where they go.
    ("Please cancel my husband's subscription, his address is gerald@family.example. He passed away.",
     ["gerald@family.example"]),
    ("I'd like to unsubscribe my old work address j.smith@oldjob.example.", ["j.smith@oldjob.example"]),
    ("请把我退订。我订阅时用的邮箱是 xiaoming@qq.example。", ["xiaoming@qq.example"]),
    ("请删除 wang@old.example，不要再保留它。", ["wang@old.example"]),
    # Two more since the model reads no punctuation (which took the contract's own "Please
    # unsubscribe jane@example.com." alone, judged 0.26 before, and the plain requests below).
    ("Conformément au RGPD, veuillez supprimer marc.dupont@orange.example de votre fichier et ne pas conserver "
     "mes données.", ["marc.dupont@orange.example"]),
    ("Na mijn afmelding hebben jullie oud@mail.example gewoon laten staan. Graag alsnog verwijderen.",
     ["oud@mail.example"]),
])
def test_requests_whose_address_the_model_is_not_sure_of_go_to_a_person(body, named):
    decision = read(message(body, "Unsubscribe"))
    assert decision.kind == REVIEW and "not sure the words ask to remove" in decision.reasons[-1], decision.reasons
    opened = read(message(body, "Unsubscribe"), addresses_judge=_TAKES_ALL)
    assert opened.kind == REQUEST and list(opened.addresses) == named, opened.reasons


@pytest.mark.parametrize("body, alone", [
    ("Please remove anna@example.org from your list.", True), ("Unsubscribe anna@example.org please", True),
    ("Remove anna@example.org", True), ("Please take anna@example.org off your mailing list. Thanks", True),
    ("Bitte anna@example.org abmelden.", True), ("Bitte entfernen Sie anna@example.org aus Ihrem Verteiler.", True),
    ("Merci de désinscrire anna@example.org.", True), ("Veuillez supprimer anna@example.org de votre liste.", True),
    ("Por favor, den de baja anna@example.org.", True), ("Eliminen anna@example.org de su lista, por favor.", True),
    ("Removam anna@example.org da lista, por favor.", True), ("Graag anna@example.org afmelden.", True),
    ("anna@example.org の配信を停止してください。", True), ("请把 anna@example.org 从邮件列表中删除。", True),
    ("My mother passed away. Please remove her address anna@example.org.", True),
    ("Please stop sending emails to anna@example.org.", True),
    # The addresses' model, reading punctuation, judged an address that ends a bare sentence low
    # ("Please unsubscribe anna@example.org." 0.26, "请退订 anna@example.org。" 0.13) and left
    # these four to a person. It reads no punctuation now (docs/email.md). Trained on every
    # sentence alone as well, it had taken them alone too, but suppressed more addresses to keep.
    ("Please unsubscribe anna@example.org.", True), ("hi\nPlease unsubscribe anna@example.org.", True),
    ("Per favore cancellate anna@example.org.", True), ("请退订 anna@example.org。", True),
])
def test_plain_requests_naming_an_address_are_decided_alone_but_a_few_the_model_is_not_sure_of(body, alone):
    decision = read(message(body, "Re: PLUS News"))  # a reply's subject is not read: the body alone
    if alone:
        assert decision.kind == REQUEST and decision.addresses == ("anna@example.org",), decision.reasons
    else:
        assert decision.kind == REVIEW and "not sure the words ask to remove anna@" in decision.reasons[-1], decision.reasons
        assert read(message(body, "Re: PLUS News"), addresses_judge=_TAKES_ALL).addresses == ("anna@example.org",)


@pytest.mark.parametrize("body, kept", [
    # Requests for the sender's own address beside one to keep, in the words of batches 64 and
    # 65 (which the addresses' model trains on): each rule let the kept address go with the
    # sender's before it.
    ("Désinscrivez-moi, mais pas mon mari : marc.duval@foyer.example veut continuer à recevoir vos offres.",
     "marc.duval@foyer.example"),
    # (German "aber nicht info@…" is a word of the address to keep since 2026-12-08: tested below)
    # (its "请保留" is a word of another use since 2026-12-08: below, without it)
    ("请帮我退订。不过我太太的邮箱 lin.jing@jia.example 她还想收你们的优惠信息。", "lin.jing@jia.example"),
    ("停止してください。※ ryo.kato@hikari.example は息子です。そちらは止めないで。", "ryo.kato@hikari.example"),
])
def test_an_address_named_to_keep_beside_a_request_goes_to_a_person(body, kept):
    decision = read(message(body, "Unsubscribe"))
    assert decision.kind == REVIEW and kept in decision.reasons[-1], decision.reasons
    opened = read(message(body, "Unsubscribe"), addresses_judge=_TAKES_ALL)
    assert opened.kind == REQUEST and kept in opened.addresses, opened.reasons  # suppressed, without the model


@pytest.mark.parametrize("body", [
    # The sender paired with the address they name. Honoured for the named address alone, the
    # sender stayed on the list and no one was asked: 21 of batches 64, M and N's 44 such requests.
    "Please unsubscribe both me and my wife, anna@example.org. We get everything twice.",
    "Remove this address and anna@example.org, please.",
    "Unsubscribe me and anna@example.org too, thanks.",
    "Bitte melden Sie mich und meine Frau (anna@example.org) ab.",
    "Merci de me désabonner ainsi que ma fille : anna@example.org.",
    "Dadme de baja a mí y a mi mujer, anna@example.org.",
    "Cancellate me e mia moglie anna@example.org, grazie.",
    "Por favor, retirem o meu endereço e o da minha esposa, anna@example.org.",
    "Graag dit adres en anna@example.org afmelden.",
    "このアドレスと anna@example.org の配信を停止してください。",
    "请把我和我太太(anna@example.org)都退订。",
    # A reviewing helper's, honoured for anna@ alone by the first version of the words.
    "Please remove me & anna@example.org.", "Remove anna@example.org, and the address I’m writing from.",
    "anna@example.org and I would both like to be removed.", "Unsubscribe anna@example.org, plus my address.",
    "Bitte anna@example.org austragen, und auch diese Adresse.", "Désinscrivez anna@example.org. La mienne aussi, merci.",
    "Per favore cancellate anna@example.org. Anche il mio indirizzo, grazie.", "Graag anna@example.org afmelden, en ook dit adres.",
    "anna@example.org とこのアドレスの両方を配信停止してください。", "请把 anna@example.org 和我本人的邮箱都退订。",
    # The sender and a relative as one subject: as often both as the relative alone.
    "Mon mari et moi ne voulons plus rien : supprimez aussi anna@example.org.",
    # A second reviewing helper's: at the very end, and across a line break.
    "Please remove anna@example.org and me", "My wife and\nI no longer want it: remove anna@example.org as well.",
])
def test_a_request_for_the_sender_beside_a_named_address_goes_to_a_person(body):
    # With the addresses' model opened, the pairing alone sends it to a person: a person adds the
    # sender's own address, where "me and" or "ik en" may also say something else.
    decision = read(message(body, "Unsubscribe"), addresses_judge=_TAKES_ALL)
    assert decision.kind == REVIEW and "the sender's own address too" in decision.reasons[-1], decision.reasons
    assert decision.found == ("anna@example.org", "jane@example.com")  # the desk offers both
    shipped = read(message(body, "Unsubscribe"))  # also where the addresses' model doubts anna@
    assert shipped.kind == REVIEW and shipped.found == ("anna@example.org", "jane@example.com"), shipped.reasons


@pytest.mark.parametrize("body", [
    # First-person words beside a request for someone else's address pair no one with it.
    "My mother passed away. Please remove her address anna@example.org from your list.",
    "We share a computer. Please remove anna@example.org, which is my wife's.",
    "Mi madre falleció. Por favor, eliminen su dirección anna@example.org.",
    "Bitte entfernen Sie die Adresse meiner verstorbenen Mutter, anna@example.org.",
    "请删除我母亲的邮箱 anna@example.org，她已经去世了。",
    # "esse e-mail" is not "esse e" (this one and): a first version sent these to a person
    "Meu filho recebe propaganda em anna@example.org. Tirem esse e-mail da lista.",
    "Mia figlia riceve le vostre offerte su anna@example.org. Cancellate questa e-mail, grazie.",
    # Words the first version read as a pairing (a reviewing helper's): "mich und", "both my",
    # "this and", "esta y", "questa mail e", "este e-mail e", "本也" (of 基本也), "me and".
    "Ich bedanke mich und bitte Sie, anna@example.org aus dem Verteiler zu nehmen.",
    "Please remove both my children's address anna@example.org from your list.",
    "I received this and other mails at anna@example.org. Please remove that address.",
    "No envíen esta y otras promociones a anna@example.org, por favor. Denla de baja.",
    "Ho ricevuto questa mail e altre su anna@example.org: cancellate quell'indirizzo, grazie.",
    "Recebi este e-mail e outros em anna@example.org. Removam esse endereço, por favor.",
    "请删除 anna@example.org，这个邮箱基本也不用了。",
    "Please remove anna@example.org and email me to confirm it is done.",
])
def test_first_person_words_beside_a_request_for_another_address_leave_it_decided_alone(body):
    decision = read(message(body, "Unsubscribe"))
    assert decision.kind == REQUEST and decision.addresses == ("anna@example.org",), decision.reasons


@pytest.mark.parametrize("body, reason", [
    # "Only this address" beside an old one: "this" is the sender's as often as the old one's, and
    # the old one was suppressed in 4 of 5 languages a reviewing helper tried (2026-12-07).
    ("Your mail used to come to old@example.org; please unsubscribe only this address.", "one address only"),
    ("Früher haben Sie mir an alt@example.org geschrieben. Bitte melden Sie nur diese Adresse ab.", "one address only"),
    ("Vous m'écriviez avant à ancien@example.org. Désinscrivez seulement cette adresse-ci.", "one address only"),
    ("Antes me escribían a viejo@example.org. Den de baja solo esta dirección.", "one address only"),
    ("Prima mi scrivevate a vecchio@example.org. Cancellate solo questo indirizzo.", "one address only"),
    ("Antes vocês escreviam para antigo@example.org. Removam só este endereço.", "one address only"),
    ("Vroeger mailden jullie naar oud@example.org. Meld alleen dit adres af.", "one address only"),
    ("以前は old@example.org に届いていました。このアドレスだけ配信停止してください。", "one address only"),
    ("以前你们发到 old@example.org。只退订这个邮箱就好。", "one address only"),
    # A corrected typo suppressed both spellings.
    ("Please unsubscribe k.mueller@example.de - sorry, I mean k.mueller@example.com.", "another use ('I mean')"),
    ("Bitte k.mueller@example.de abmelden, ich meinte k.mueller@example.com.", "another use"),
    ("Bitte k.mueller@example.de abmelden - sorry, ich meine k.mueller@example.com.", "another use"),
    # The mail comes to the sender's address now: batch AB's, whose old address was suppressed,
    # and the same in other words (2026-12-08; batch AF's two wrong opt-outs, never read, went to a
    # person with these words).
    ("以前は yumi.s@daigaku-mail.example に送られてきていましたが、今はこちらに届いています。"
     "こちらのアドレスの配信を停止してください。", "comes to the sender's own address now"),
    ("You used to send your offers to old.me@isp.example, now they come to this address. Please stop them.",
     "comes to the sender's own address now"),
    ("Früher ging der Newsletter an alt@firma.example, jetzt kommt er hier an. Bitte abbestellen.",
     "comes to the sender's own address now"),
    ("以前发到 old@qq.example，现在发到这个邮箱了。请退订。", "comes to the sender's own address now"),
    # Batches AH, AK, AM and AN's (2026-12-08), each of which suppressed the old address: stop it
    # here, at this address, to this one (HERE), and the mail come here now said another way.
    ("Hi, you used to send to old.me@isp.example, now it all comes to this address. Please stop it here.",
     "comes to the sender's own address now"),
    ("This mail was forwarded from my old address old.me@isp.example. Please stop sending to this one.",
     "where it is read"),
    ("Diese Mail wurde von meiner alten Adresse alt@firma.example weitergeleitet. Bitte an diese hier nichts mehr "
     "schicken.", "where it is read"),
    ("Ce mail m'a été transféré de mon ancienne adresse ancien@isp.example. Merci de ne plus envoyer sur celle ci.",
     "where it is read"),
    ("Vocês mandavam pro antigo@isp.example e agora tá chegando nesse aqui. Quero parar de receber aqui.",
     "where it is read"),
    # "This address" before any other is named: nothing named to point back to (THIS_ADDRESS).
    ("Baja para esta direccion por favor. viejo@trabajo.example lo dejais como esta.", "this address before"),
    ("Bitte diese Adresse abmelden. sabine@familie.example bleibt drin, die will das noch.", "this address before"),
    ("このアドレス停止で。ryo@shoten.example は消さないで", "this address before"),
    ("请将本邮箱以及我园前台邮箱 qiantai@kids.example 一并从营销邮件列表中移除。", "this address before"),
    ("Nous ne souhaitons plus recevoir vos emails, ni sur cette adresse ni sur celles des enfants : "
     "chloe@maison.example.", "this address before"),
    # The address written from, and "my this address", wherever they stand (SENDER_TOO).
    ("Questa mail mi arriva dal mio vecchio indirizzo vecchio@uni.example. Per favore non mandatela più a questo, "
     "cioè quello da cui vi sto scrivendo.", "the sender's own address too"),
    ("家族共用の family@umi.example と、私のこのアドレス、両方とも配信停止にしてください。", "the sender's own address too"),
    ("麻烦把我们家公用的 sunjia@dongfang.example 和我这个邮箱都退订了。", "the sender's own address too"),
    ("Por favor den de baja admin@taller.example, y también esta misma.", "the sender's own address too"),
    ("Beide adressen eruit aub: deze en m.peters@werk.example. Dank", "the sender's own address too"),
    ("Ich bitte um Austragung meiner Adresse sowie der Adresse unserer Praxis (empfang@praxis.example).",
     "the sender's own address too"),
    ("Dag, gelieve mij uit te schrijven en ook het adres van mijn zoon, jens@schelde.example.",
     "the sender's own address too"),
    ("Solo aquí, no en d.armas@estudio.example. Baja de esta dirección, gracias.", "one address only"),
    ("Só neste endereço, não no rcarvalho@empresa.example. Deixem de enviar para aqui, obrigado.", "one address only"),
    # Batches AP and AQ's: "and this address" after the one named, and more ways to stop it here.
    # A second reviewing helper's: mail addressed to someone else, "not me" in the next sentence.
    ("Please unsubscribe. Your mails are addressed to max.muster@example.org. That isn't me.", "another use"),
    ("Hören Sie endlich auf, an dieter@berg.example UND an diese Adresse hier zu schicken. Beide löschen.",
     "the sender's own address too"),
    ("Smettetela di mandare pubblicità a salvatore@etna.example e pure a questo indirizzo.", "the sender's own address too"),
    ("Voor de derde keer: stop met mailen naar henk@dijk.example en naar dit adres.", "the sender's own address too"),
    # Batch AS's: the sender's own added at the end.
    ("Bitte auch die Adresse von meiner Tochter rausnehmen, lena@netzpost.example. Und mich bitte auch gleich.",
     "the sender's own address too"),
    ("息子のアドレス（sota@mailbox.example）にも届いているので止めてください。ついでに私のも止めてもらえますか。",
     "the sender's own address too"),
    ("我儿子的邮箱 xiaoyu@youxiang.example 也在收这个，麻烦取消掉。顺便把我的也取消了吧。", "the sender's own address too"),
    ("我已经说过两次了！liu@shanshui.example 和这个邮箱，两个都别再发了。", "the sender's own address too"),
    ("Please stop mailing bob@old.example and this address.", "the sender's own address too"),
    ("Ce mail m'a été transféré depuis mon ancienne adresse ancien@vieux.example. Ne l'envoyez plus à celle-ci, merci.",
     "where it is read"),
    ("Das hier wurde von meiner alten Adresse alt@altpost.example weitergeleitet. An diese hier bitte nix mehr schicken.",
     "where it is read"),
    ("Antes enviavam para antigo@velho.example, agora chega tudo a este endereço. Por favor parem aqui.",
     "comes to the sender's own address now"),
    # A reviewing helper's: a sentence's end between "this address" and the one named, a line
    # break inside "this address", and more ways to stop it here.
    ("Dad de baja esta dirección. viejo@trabajo.example no lo toquéis.", "this address before"),
    ("Bitte löschen Sie diese Adresse! sabine@familie.example bleibt drin.", "this address before"),
    ("Unsubscribe this address. bob@work.example can keep getting them.", "this address before"),
    ("Bitte diese\nAdresse abmelden. sabine@familie.example bleibt drin, die will das noch.", "this address before"),
    ("This mail was forwarded from my old address old@isp.example. Please don't send to this one anymore.",
     "where it is read"),
    ("This mail was forwarded from my old address old@isp.example. Please stop sending them to this inbox.",
     "where it is read"),
    ("Diese Mail wurde von meiner alten Adresse alt@firma.example weitergeleitet. Bitte nichts mehr an diese hier "
     "schicken.", "where it is read"),
    ("Este correo me llega reenviado de mi dirección antigua viejo@isp.example. Dejad de enviar a esta, por favor.",
     "where it is read"),
    ("Questa mail mi arriva inoltrata dal vecchio indirizzo vecchio@isp.example. Non mandatela più qui.",
     "where it is read"),
    ("Este e-mail vem encaminhado do meu endereço antigo antigo@isp.example. Parem de mandar pra cá.",
     "where it is read"),
    ("このメールは旧アドレス old@isp.example から転送されています。こちらには送らないでください。", "where it is read"),
])
def test_only_this_address_beside_another_and_a_corrected_typo_go_to_a_person(body, reason):
    decision = read(message(body, "Unsubscribe"), addresses_judge=_TAKES_ALL)
    assert decision.kind == REVIEW and reason in decision.reasons[-1], decision.reasons
    if "another use" not in reason:  # the desk offers the sender's address beside the old one
        assert "jane@example.com" in decision.found and len(decision.found) == 2, decision.found


@pytest.mark.parametrize("body", [
    # A second reviewing helper's: everyday words the first versions read as a pairing, as "only
    # this address" or as a correction (with the addresses' model opened, the words decide).
    "Please remove anna@example.org, you send me too many emails.",
    "My aunt anna@example.org says she wrote to me and asked: please remove her address.",
    "请删除 anna@example.org，她在日本地址也换了。",
    "Merci de supprimer anna@example.org pour que cette adresse ne reçoive plus rien.",
    "Please delete anna@example.org, not just my account.",
    "I signed up with a typo: anna@example.org. Can you delete that one?",
    "Supprimez anna@example.org. Je veux dire que c'est urgent.",
    "Den de baja a anna@example.org, y a mi hermana tampoco le manden nada.",
    "Now that my mother has passed, please remove anna@example.org.",
    # "This address" right beside the one named, or after it, is that one (dozens of the writers'
    # requests for a late parent's address).
    "Please remove this address: anna@example.org.",
    "Mein Vater ist verstorben. An seine Adresse anna@example.org kommen weiterhin Ihre Newsletter. Bitte löschen Sie "
    "diese Adresse aus Ihrem Verteiler.",
    "我父亲上个月去世了，他的邮箱 anna@example.org 还一直在收你们的邮件。麻烦把这个邮箱从订阅列表里删掉。",
    "Mijn moeder is overleden. Haar e-mailadres anna@example.org ontvangt nog uw nieuwsbrief. Wilt u dit adres verwijderen?",
    # A reviewing helper's: "here is the address".
    "Hier die Adresse zum Abmelden: anna@example.org. Danke!",
    # A second's: "my no-longer-used", "this person", "and asked me too".
    "私のもう使っていないアドレス anna@example.org への配信を停止してください。",
    "Por favor dejen de enviar correos a esta persona: anna@example.org, ya falleció.",
    "Bitte melden Sie meinen verstorbenen Vater anna@example.org ab. Er hat es mehrfach versucht, und mich auch gebeten.",
])
def test_everyday_words_are_no_pairing_no_only_this_and_no_correction(body):
    decision = read(message(body, "Unsubscribe"), addresses_judge=_TAKES_ALL)
    assert decision.kind == REQUEST and decision.addresses == ("anna@example.org",), decision.reasons


def test_not_only_this_address_asks_for_both_not_for_one():
    text = "Bitte entfernen Sie nicht nur diese Adresse, sondern auch anna@example.org."
    _, _, places, _ = named_addresses(text, frozenset())
    meant = sender_meant(text, places)
    assert meant is not None and "the sender's own address too" in meant, meant


@pytest.mark.parametrize("body, kind", [
    # Beside our link's token, an address named for no other use may be the one asked about: the
    # token's address (jane) was suppressed for "... anna@... only, not me" (a reviewing helper's).
    ("Please unsubscribe anna@example.org only, not me.", REVIEW),
    ("Please unsubscribe my wife, anna@example.org.", REVIEW),
    # Words that an address stays, or is not the sender's, are as often of the token's own: a first
    # version let the token decide, and suppressed jane for these (a second reviewing helper's).
    ("Please unsubscribe my old address old.me@example.org, this one stays.", REVIEW),
    ("Borren mi dirección antigua viejo@example.org, la nueva se queda.", REVIEW),
    ("Please unsubscribe tom.b@example.org, which is not my email address - it was my dad's.", REVIEW),
    ("Please remove my dad's old address dad.old@example.org, his new one is fine.", REVIEW),
    ("Dadme de baja; ana@casa.example se queda.", REVIEW),
    # Named for another use, or in the signature: the token decides, as before.
    ("Please unsubscribe me.\n\nJane\njane.doe@work.example | +1 555 0100", REQUEST),
    ("Please unsubscribe me. Write to my colleague bob@example.org instead.", REQUEST),
])
def test_an_address_named_beside_a_link_token_for_no_other_use_goes_to_a_person(body, kind):
    token = mint_token([KEY], "jane@example.com")
    raw = (f"From: Jane <jane@example.com>\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: Re: PLUS News\r\n"
           f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n\r\n> Unsubscribe: https://plusnxt.com/u/{token}\r\n").encode()
    decision = classify_message(raw, "jane@example.com", OURS, lambda candidate: verify_token([KEY], candidate))
    assert decision.kind == kind, decision.reasons
    if kind == REQUEST:
        assert decision.addresses == ("jane@example.com",)
    else:
        assert "beside the one its link proves" in decision.reasons[-1]


@pytest.mark.parametrize("batch, most_wrong, fewest_alone", [
    # 90 mentioning others: 40 of them switched the others off before. 4 wrong and 59 alone until
    # the judge trained on batches 62-63 (2026-12-07, twentieth session): 5 and 61. N, M, O, 64
    # and 65 now train the addresses' model (suppression/inbound/corpus.py, ADDRESS_BATCHES): none
    # wrong since; what they measure is that model on what it was trained on.
    ("batch_n.jsonl", 0, 61),
    # Read once, when the first rules were done: 48 wrong before, 16 after; 12 with addresses of
    # our own domain as only mentioned, a rule M's errors showed; 10 with the second review's;
    # none once its last ten were written into rules (2026-12-07, evening): no longer unseen.
    # 37 of its requests decided alone before. With the judge trained on batches 56-59 (2026-12-07,
    # night), 3 wrong: two addresses to stay as they are ("dat blijft zo", "isso fica como está",
    # now words of another use, each as narrow), and one a colleague forwarded mail from, still
    # wrong. N went from 4 to 5 wrong with that judge, and back to 4 with the words. 34 alone
    # until batches 62-63 trained, 33 since.
    ("batch_m.jsonl", 0, 33),
    # Written after those rules by a helper who saw no code, read once: 7 wrong with the rules
    # before them, 5 after; 34 decided alone either way. With the judge trained on batches 56-59:
    # 5 wrong, 37 alone. With the judge trained on batches 62-63: 8 wrong (three requests near
    # the threshold for named addresses that went to a person before), 39 alone. Those three were
    # read (for words of an address to keep, not kept: docs/email.md): no longer unseen. Z is.
    ("batch_o.jsonl", 0, 39),
    # Batch S (asking to be added, 63, or to be put on a do-not-mail list, 27: 6 of the 63
    # suppressed when first read, none once the words that want the mail were written from its
    # errors) now trains the judge: tests/corpus/reader/batch_s.jsonl.
    # The same kinds, written after those words by another helper and read once: 10 of its 63
    # suppressed before them, 5 after; its do-not-mail requests decided alone 24 before, 22 after.
    # With the judge trained on batches 56-59 and S: 2 suppressed, 23 alone; trained on 62-63: 1, 20.
    # That one, read (2026-12-08), was Spain's second person plural: "¿Podéis añadirla? No quitéis
    # la otra" (WANTS_MORE since): none.
    ("batch_t.jsonl", 0, 20),
    # Mail about the newsletter that does not ask to leave (117: to subscribe, to come back,
    # missing issues, more mail, its content, complaints of those who keep it, questions about the
    # list) beside 63 requests that talk as much of it; a third helper's, written with 56 and 57
    # and never trained on. Read once with the judge before them: 8 suppressed, 31 alone; after: 3,
    # 30; trained on 62-63: 3, 29. Read for its wrong opt-outs (2026-12-08): one was an address
    # written with no space in Chinese, read with the words around it; two were questions about the
    # list and the data kept (QUESTIONS, suppression/inbound/intent.py): none since.
    ("batch_u.jsonl", 0, 29),
    # 63 of those kinds, 63 taking a request back or about another channel only, and 54 requests in
    # the same words; a fourth helper's, written after U, read once each way: 8 suppressed and 34
    # alone with the judge before batches 56-59, 2 and 34 after; 0 and 31 trained on 62-63.
    ("batch_v.jsonl", 0, 31),
    # Mail full of the words of leaving that does not ask yet (117 each: questions about leaving,
    # a subject that asks over a body that refuses, warnings, someone else's leaving) beside 63
    # requests in the same words; three helpers' (2026-12-07, night). 60 and 61, read once: 11 and
    # 6 suppressed, 15 of the 17 warnings ("si je reçois encore une vente flash, je me désabonne");
    # warnings are now doubts (WARNINGS, suppression/inbound/intent.py): 2 and 3. They now choose
    # the judge's thresholds (tests/corpus/reader/, the development split). W, never read: 12
    # suppressed before those words, 10 after; 31 alone either way. (Broader words took W to 8,
    # and sent a reviewing helper's requests to a person, 50 of 67.) Trained on 60 and 61, the
    # judge took W to 7 but one message of the frozen test split as a request: not kept. Trained
    # on batches 62-63 (two more writers', warnings the most), with 60-61 choosing its
    # thresholds (0.897 and 0.916, from 0.720 and 0.915): W 2, 31 alone.
    # Four of W's and three of Y's went to a person since the words that pair the sender with a
    # named address (SENDER_TOO): each asks for the sender's own address too, which their labels
    # leave out: "merci de me désinscrire de PLUS News, ainsi que mon ancienne adresse …", "quero
    # cancelar a newsletter. E por favor removam também o meu outro email …", "cancellatemi dalla
    # newsletter, sia questo indirizzo sia il mio vecchio …", "请帮我退订电子报。另外我以前的邮箱 … 也一起退掉",
    # "bitte diese Adresse und zusätzlich k.hoffmann@… austragen", "sia questo indirizzo sia
    # marco.bellini@…", "このアドレスと、会社のアドレス…の両方".
    # Read for their wrong opt-outs (2026-12-08): W's "Sollte sich dies nicht kurzfristig ändern,
    # werde ich mich von sämtlichen Mailings abmelden" (a warning), X's "Je voulais vous demander de
    # me retirer de la liste, mais … Gardez-moi" and Y's "J'allais vous demander de me retirer de la
    # liste, mais pas encore" and "...not yet, actually" (a request begun and not made): none since.
    # W's "Se eu cancelar a subscrição das promoções, deixo também de receber a newsletter?" is left:
    # words for such a question sent two requests of Y and one of the development split to a person.
    # (28 alone since the judge was retrained with the words of 2026-12-08's second session; X 22.)
    ("batch_w.jsonl", 1, 28),
    # X and Y, two more writers' of 62-63's kinds (45 warnings, 27 requests taken back, 27
    # refusals under a subject that asks, 18 questions, 63 requests in the same words), never
    # read: 3 and 4 suppressed, 19 and 28 alone with the judge before 62-63 trained; 1 and 2, 21 and
    # 33 after.
    ("batch_x.jsonl", 0, 22),
    # (Y 29 alone since "nog één en ik ben weg" is a warning: "Ik zei: nog één en ik ben weg. Nou,
    # hier is 'ie. Meld me af." goes to a person, its "meld me af" in no phrase list.)
    ("batch_y.jsonl", 0, 29),
    # AI, a new writer's of W, X and Y's kinds (45 warnings, 27 requests taken back, 27 refusals
    # under a subject that asks, 18 questions about leaving, 63 requests in the same words),
    # measured once those words were final and never read: 4 wrong opt-outs before them and 4
    # after, each a warning; 27 decided alone either way. Read for them (2026-12-08, second
    # session): "estoy a nada de darme de baja", "Indien dit aanhoudt, zal ik mij … afmelden".
    ("batch_ai.jsonl", 0, 27),
    # AL, AO and AR, three more writers' of AI's kinds (2026-12-08, second session), each written
    # while the words before it were made, measured once and then read: AL 3 wrong opt-outs at
    # the session's start, 2 with the words from AH and AI; AO 4, then 2 with the words from
    # AJ, AK and AL (a condition with the sender's own leaving to come, WARNINGS); AR 6, then 6
    # with the words from AM, AN and AO: its warnings asked for the removal to come ("je
    # demanderai ma radiation", "chiederò la cancellazione"), and one "the answer is no".
    ("batch_al.jsonl", 0, 31),
    ("batch_ao.jsonl", 0, 17),
    ("batch_ar.jsonl", 0, 33),
    # AT and AU, two more writers' of those kinds, measured once with AR's words: 1 and 4 wrong
    # opt-outs at the session's start, 1 and 2 after, then read ("Nog één zo'n mail en ik ben weg",
    # "je me verrais contraint de demander ma radiation"); 33 and 28 decided alone throughout.
    ("batch_at.jsonl", 0, 33),
    ("batch_au.jsonl", 0, 28),
    # AW, one more, measured once with AT and AU's words and never read: 3 wrong opt-outs at the
    # session's start, 0 after; 25 decided alone either way.
    ("batch_aw.jsonl", 0, 25),
    # 64 and 65, two writers' of messages that all name another address (63 requests to remove
    # it, 72 to remove only the sender's own beside it, often "keep that one", 45 asking nothing):
    # read, for words of an address to keep (two versions, each taken apart by a reviewing helper;
    # none kept, docs/email.md): 11 and 6 wrong with the judge before 62-63, 12 and 11 after; 32
    # and 31 alone before, 34 and 31 after. Z, a third writer's of those kinds, never read: 8
    # wrong and 17 alone before 62-63, 10 and 19 after. The addresses' model (asked_about.py)
    # trains on 64 and 65: none wrong, 34 and 31 alone. Z chose its regularisation and threshold
    # (suppression/inbound/train.py): 1 wrong, 17 alone; 0 and 17 once it read no punctuation.
    ("batch_64.jsonl", 0, 34),
    ("batch_65.jsonl", 0, 31),
    ("batch_z.jsonl", 0, 17),
    # AA and AB, two more writers' of Z's kinds, written while the addresses' model was built and
    # never read: 8 and 15 wrong, 32 and 29 alone without the model; 1 and 3 wrong, 31 and 28
    # alone with it reading punctuation; 0 and 3, 28 and 28 reading none (docs/email.md).
    ("batch_aa.jsonl", 0, 28),
    # Read for their wrong opt-outs (2026-12-08): two of AB's three were addresses said to stay,
    # "inkoop@… blijft staan", "caigou@… 保留", words of another use since; the third, "以前は x@… に
    # …今はこちらに届いています", the mail come to the sender's address now (NOW_HERE).
    ("batch_ab.jsonl", 0, 28),
    # AC and AD, two more writers' (2026-12-08): 72 requests for the sender's own address beside
    # named ones, 72 for the named only, 36 asking nothing. AD was read to write the pairing words
    # (SENDER_TOO); AC never: 24 alone and 30 partly honoured before them, 23 and 13 after. AD's
    # one wrong opt-out was older: "este correo me llega dirigido a manuel.prieto@…, que no es mi
    # dirección", which asks nothing, suppressed manuel.prieto@…; words of an address not the
    # sender's since.
    ("batch_ac.jsonl", 0, 23),
    ("batch_ad.jsonl", 0, 31),
    # AE, a third writer's of AC's make, written once the words were final and read once, never
    # its messages: 14 partly honoured before them, 3 after; 14 and 13 requests for named
    # addresses only decided alone. Its one wrong opt-out, older than the words, went to a person
    # once an address written with no space in Chinese or Japanese was read alone (its message unread).
    ("batch_ae.jsonl", 0, 13),
    # AF and AG, two more writers' (2026-12-08), each naming another address in all 180: 54 to
    # remove it, 72 asking for the sender's own beside one said to stay ("hier afmelden, x@…
    # niet", "x@… va benissimo"), 54 asking nothing (mail addressed to someone else, questions).
    # Before this session's words: AF 2 wrong opt-outs, AG 6, each of AG's a request for the
    # sender's own that suppressed the one to keep. AG, 5 with the words written from AB and AD,
    # was then read for more words (0 since); AF, never read: 2 with those, 0 once the mail said to
    # come to the sender's address now was read (NOW_HERE, from AB's last), 8 alone throughout.
    ("batch_af.jsonl", 0, 8),
    ("batch_ag.jsonl", 0, 20),
    # AH, a third writer's to the same brief, never read: measured when the words were final and
    # after a second review narrowed them: 5 wrong opt-outs before this session's words and 5 after
    # (18 decided alone before, 17, then 18). The words mend what they were written from; a new
    # writer's phrasings are mostly others. Read for them (2026-12-08, second session): "now it all
    # comes to this address", "please stop sending to this one", a request to see what is kept,
    # a daughter to get the promotions too, "三次了！x@…" read as one address.
    ("batch_ah.jsonl", 0, 19),
    # AJ, AK, AM, AN, AP and AQ, six more writers' to the same brief (2026-12-08, second session),
    # in three rounds: each round measured once, with the words of the round before, then read
    # for the next. AJ and AK 2 and 6 wrong opt-outs at the session's start, 2 and 6 with AH's
    # words; AM and AN 8 and 5, then 3 and 3 with AJ and AK's ("this address" before any other
    # is named, THIS_ADDRESS; mail for someone else, "not me" in the next sentence); AP and AQ 1
    # and 5, then 0 and 3 with AM and AN's (the address written from, "my this address", "only
    # here"). Decided alone: unchanged by each round.
    ("batch_aj.jsonl", 0, 24),
    ("batch_ak.jsonl", 0, 21),
    ("batch_am.jsonl", 0, 24),
    ("batch_an.jsonl", 0, 16),
    ("batch_ap.jsonl", 0, 15),
    ("batch_aq.jsonl", 0, 20),
    # AS, a seventh writer's, measured once with AP and AQ's words: 0 wrong opt-outs and 3 partly
    # honoured at the session's start and after, then read ("und mich bitte auch gleich", "ついでに
    # 私のも", "顺便把我的也取消"); 21 decided alone throughout.
    ("batch_as.jsonl", 0, 21),
    # AV and AX, two more writers', measured once with AS's words and never read: 5 and 6 wrong
    # opt-outs (and AX 3 partly honoured) at the session's start, 2 and 0 (AX 2 partly) after;
    # 31 and 20 decided alone either way.
    ("batch_av.jsonl", 2, 31),
    ("batch_ax.jsonl", 0, 20),
])
def test_the_helpers_batches_are_read_as_measured(batch, most_wrong, fewest_alone):
    outcomes = [evaluate.outcome(record, evaluate.read(record)) for record in read_batch(NAMED / batch)]
    assert outcomes.count(evaluate.WRONG) <= most_wrong and outcomes.count(evaluate.AUTO) >= fewest_alone, (
        outcomes.count(evaluate.WRONG), outcomes.count(evaluate.AUTO))
    assert outcomes.count(evaluate.PARTLY) <= PARTLY.get(batch, 0), outcomes.count(evaluate.PARTLY)


# A request for the sender's own address and another's ("unsubscribe both me and greg.hall@...",
# "meldet mich UND meinen Mann ab: thomas@...") was honoured for the named address alone, the
# sender left subscribed: M 10, N 9, 64 2, AA 3, AB 2, until the words that pair them
# (SENDER_TOO, suppression/inbound/named.py) sent them to a person (2026-12-08). Written from M,
# N and 64's, AA's three and AD's 27, read for it; of AB's two, one is caught unread, and 17 of
# AC's 30 (21 by a broader first version, which a reviewing helper's requests for named
# addresses alone showed misfiring on "Ich bedanke mich und", "esta y otras", "基本也"). AC's 13
# and AD's 2 are 11 and 1 since "this address" before any other is named went to a person.
PARTLY = {"batch_ab.jsonl": 1, "batch_ac.jsonl": 11, "batch_ad.jsonl": 1, "batch_ae.jsonl": 3, "batch_af.jsonl": 3,
          "batch_ag.jsonl": 1, "batch_ax.jsonl": 2}


def test_a_lone_surrogate_beside_a_named_address_is_read_not_a_message_that_could_not_be_read():
    # UTF-7's "+2D0-" decodes to a lone surrogate. Past the 3,000 characters the judge reads, it
    # stood only in what the addresses' model reads, whose hashing raised UnicodeEncodeError: the
    # request went to a person as "could not be read" (a reviewing helper's).
    body = ("Please unsubscribe anna@example.com, it is my late mother's address. " + "She loved your shop. " * 160
            + "Again: anna@example.com +2D0-")
    raw = (f"From: <p@example.com>\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: Unsubscribe\r\n"
           f"Content-Type: text/plain; charset=utf-7\r\n\r\n{body}\r\n").encode()
    decision = classify_message(raw, "p@example.com", OURS, lambda token: verify_token([KEY], token))
    assert decision.kind == REQUEST and decision.addresses == ("anna@example.com",), decision.reasons


def test_an_address_written_only_inside_another_goes_to_a_person():
    # Its only place is inside a quoted local part, so no words of its own were read: the model
    # scored a single feature, 0.997, and it was suppressed (a reviewing helper's).
    decision = read(message('Unsubscribe "my wife anna@example.com wants to stay"@example.org', "Unsubscribe"))
    assert decision.kind == REVIEW and "anna@example.com (judged 0.00)" in decision.reasons[-1], decision.reasons


@pytest.mark.parametrize("body, named, guessed", [
    # Chinese and Japanese write an address with no space around it: batch U's "已经把news@plusnxt.com
    # 加到联系人了" was read as the address "已经把news@plusnxt.com加到联系人了还是这样" and suppressed.
    ("你们的邮件最近老是进垃圾箱，已经把news@plusnxt.com加到联系人了还是这样", ["news@plusnxt.com"], True),
    ("请退订zhang.wei@example.cn谢谢", ["zhang.wei@example.cn"], True),
    ("メールはtaro@example.jpに届いています", ["taro@example.jp"], True),
    # Fullwidth "!" and "?" and the ellipsis before the "@" end a sentence (batch AH: "已经说了三次了！
    # zhang.wei@…" was read, and suppressed, as one address).
    ("已经说了三次了！zhang.wei@home-net.example 和 zhangjia@home-net.example 两个邮箱都给我删掉",
     ["zhang.wei@home-net.example", "zhangjia@home-net.example"], False),
    ("请删掉……a.b@x.example 谢谢", ["a.b@x.example"], False),

    ("kim@example.kr입니다", ["kim@example.kr"], True),
    # Two in one run (a reviewing helper's: the first version read only the first).
    ("我换邮箱了wang.new@163.example以后用这个old.wang@qq.example请退订", ["wang.new@163.example", "old.wang@qq.example"], True),
    ("请把我爸爸的邮箱wang.jian@163.example和我妈妈的li.mei@126.example都退订", ["wang.jian@163.example", "li.mei@126.example"],
     True),
    # An address of another script keeps its letters, and so does a domain whose last label is one
    # ("info@shop.example.中国" was cut to "info@shop.example." by the first version).
    ("用户@例子.广告 请退订", ["用户@xn--fsqu00a.xn--4rr70v"], False), ("bitte x@例子.com abmelden", ["x@xn--fsqu00a.com"], False),
    ("请退订 info@shop.example.中国", ["info@shop.example.xn--fiqs8s"], False),
    ("配信停止してください info@example.みんな", ["info@example.xn--q9jyb4c"], False),
    # Typographic quotes and dashes end an address.
    ("请退订“zhang@example.com”谢谢", ["zhang@example.com"], False),
])
def test_an_address_written_without_spaces_in_chinese_or_japanese_is_the_address_alone(body, named, guessed):
    found, _, _, guesses = named_addresses(body, ())
    assert found == named and bool(guesses) == guessed, (found, guesses)


@pytest.mark.parametrize("body, named", [
    # An ellipsis inside an address of Latin letters is the address written short, not the end of a
    # sentence: "k@example.com" is someone else (a second reviewing helper's; it was suppressed).
    ("Please unsubscribe m…k@example.com from your list, thanks.", "m…k@example.com"),
    ("Bitte meinen Mann abmelden: pe…ter@example.com", "pe…ter@example.com"),
])
def test_an_ellipsis_inside_an_address_of_latin_letters_keeps_it_whole(body, named):
    found, _, _, _ = named_addresses(body, ())
    assert found == [named], found


@pytest.mark.parametrize("body", [
    # After the "@", they stay in what is read: no valid address, so a person reads "…never mind,
    # keep it", "? no, not that one" (a reviewing helper's; with them cut, each was suppressed).
    "请退订 old@x.example…算了，还是留着吧。", "退订 old@x.example？不对，不是这个，是我现在用的这个。",
    "退订 zhang@x.example！li@y.example 不要退。",
])
def test_an_address_run_on_into_fullwidth_punctuation_goes_to_a_person(body):
    decision = read(message(body, "退订"))
    assert decision.kind == REVIEW and "not valid" in decision.reasons[-1], decision.reasons


@pytest.mark.parametrize("body", [
    "请退订zhang.wei@example.cn谢谢",
    "我换邮箱了wang.new@163.example以后用这个old.wang@qq.example请退订",
    # "王wei@…" may be one address of both scripts: where it starts is a guess too.
    "连络人 王wei@example.cn 请退订",
])
def test_an_address_cut_from_the_words_around_it_is_left_to_a_person(body):
    decision = read(message(body, "退订"), addresses_judge=_TAKES_ALL)
    assert decision.kind == REVIEW and "where each ends is a guess" in decision.reasons[-1], decision.reasons


def test_an_address_of_ours_written_without_spaces_is_no_request_to_remove_it():
    decision = read(message("你们的邮件最近老是进垃圾箱，已经把news@plusnxt.com加到联系人了还是这样，是你们那边出什么问题了吗？不想错过活动信息",
                            ""))
    assert decision.kind != REQUEST, decision


@pytest.mark.parametrize("body, named", [
    # Batch AB's and AD's last wrong opt-outs (read for them, 2026-12-08): the address named beside
    # the request is to stay, or is not the sender's at all; each suppressed the named address.
    ("Dit adres afmelden; inkoop@jacobsadvies.example blijft staan.", "inkoop@jacobsadvies.example"),
    ("这个邮箱退订;caigou@minda-maoyi.example 保留。", "caigou@minda-maoyi.example"),
    ("请帮我退订。不过我太太的邮箱 lin.jing@jia.example 请保留,她还想收你们的优惠信息。", "lin.jing@jia.example"),
    ("Este correo me llega dirigido a manuel.prieto@ejemplo-correo.example, que no es mi dirección. No sé si es un "
     "error de su base de datos pero se lo comento para que lo revisen.", "manuel.prieto@ejemplo-correo.example"),
    # The same in the other languages' words.
    ("Bitte mich abmelden, info@buero.example bleibt.", "info@buero.example"),
    ("Denme de baja a mí; ana@casa.example se queda.", "ana@casa.example"),
    ("Cancellatemi pure, ma luca@casa.example resta.", "luca@casa.example"),
    ("Me descadastrem, mas joao@casa.example pode ficar.", "joao@casa.example"),
    ("このアドレスの配信を止めてください。taro@kaisha.example は止めないで。", "taro@kaisha.example"),
    ("This email was addressed to mark@example.org, which isn't me.", "mark@example.org"),
    ("Diese Mail war an birgit@example.de adressiert, das bin nicht ich.", "birgit@example.de"),
    # Batch AG's, read for the words said right after the address.
    ("Non mandatela più a questo indirizzo. Su sara.c@personale.example va benissimo, lì la leggo ancora.",
     "sara.c@personale.example"),
    ("Bitte nicht mehr an diese Adresse. An claudia@privatmail.example können Sie gern weiter schicken, die lese ich "
     "noch.", "claudia@privatmail.example"),
    ("Graag niet meer naar dit adres sturen. Op anouk.m@prive-mail.example is prima, die lees ik nog wel.",
     "anouk.m@prive-mail.example"),
    ("Vi prego di togliere questo indirizzo dalla newsletter, non paolo.gallo@privato.example che uso ancora.",
     "paolo.gallo@privato.example"),
    ("Hier afmelden, ruud.h@prive.example niet", "ruud.h@prive.example"),
    # A reviewing helper's: a particle, "no need to unsubscribe it", a curly apostrophe, "这不是我的".
    ("这个邮箱退订，caigou@minda.example 保留吧。", "caigou@minda.example"),
    ("这个邮箱退订。caigou@minda.example 不用退订。", "caigou@minda.example"),
    ("This newsletter was addressed to mark.t@example.org, which isn’t me. Please remove it from your list.",
     "mark.t@example.org"),
    ("这封邮件是发给 li.mei@126.example 的，这不是我的邮箱，请退订。", "li.mei@126.example"),
])
def test_an_address_said_to_stay_or_not_to_be_the_senders_goes_to_a_person(body, named):
    decision = read(message(body, "Unsubscribe"))
    assert decision.kind == REVIEW and f"{named} is named for another use" in decision.reasons[-1], decision.reasons


@pytest.mark.parametrize("body, named", [
    # "keeps arriving at", "no longer mine": the named address is the one to remove (the first is
    # batch AA's, the second the training split's; each went to a person with a first version).
    ("Ik beheer nog haar mailbox en zie dat uw nieuwsbrief blijft binnenkomen op truus@thuismail.example. Wilt u dit "
     "adres uit uw bestand verwijderen?", "truus@thuismail.example"),
    ("Este correo me está llegando a mi antigua cuenta, pnavarro@antiguo.example, que ya no es mía. Por favor, "
     "eliminen esa dirección.", "pnavarro@antiguo.example"),
    ("old.me@oldjob.example isn't my address any more, please remove it.", "old.me@oldjob.example"),
    # A reviewing helper's, each sent to a person by the first version's words read anywhere in the
    # address's clause: they count only right after it now (KEPT), or not of an address no longer used.
    ("Please remove old.jane@formerjob.example from your list, the newsletter is fine but that mailbox is no longer "
     "monitored.", "old.jane@formerjob.example"),
    ("Please take jane.b@oldisp.example off your mailing list, it isn't mine since the ISP recycled it.",
     "jane.b@oldisp.example"),
    ("Please stop sending to j.b@oldisp.example, which is not my address now that I moved.", "j.b@oldisp.example"),
    ("Merci de désinscrire pierre.martin@orange.example, c'est bien mon ancienne adresse.",
     "pierre.martin@orange.example"),
    ("Veuillez retirer pmartin@wanadoo.example de votre liste, je ne la lis pas, elle est bien trop encombrée.",
     "pmartin@wanadoo.example"),
    ("Bitte tragen Sie auch meine alte Adresse k.mueller@altfirma.example aus, da die Post dort sonst ungelesen liegen "
     "bleibt.", "k.mueller@altfirma.example"),
    ("Bitte k.mueller@altfirma.example abmelden, Ihr Newsletter ist gut, aber ich lese ihn dort nicht.",
     "k.mueller@altfirma.example"),
    ("Borren de su lista pgarcia@viejo.example, que no es mía desde que cambié de proveedor.", "pgarcia@viejo.example"),
    ("Potete cancellare anche l'indirizzo di mio figlio, luca.rossi@libero.example, va bene?",
     "luca.rossi@libero.example"),
    ("Togliete mrossi@tiscali.example dalla lista, è l'unico indirizzo che mi resta da sistemare.",
     "mrossi@tiscali.example"),
    ("Removam joaosilva@sapo.example da lista, por favor: ainda uso o Gmail, mas esse não.", "joaosilva@sapo.example"),
    ("Graag oud@home.example uitschrijven, omdat de mail daar anders ongelezen blijft.", "oud@home.example"),
    ("まだ読んでいないメールがたまる一方なので、tanaka@old.example への配信を停止してください。", "tanaka@old.example"),
    ("请退订 wang.li@oldcorp.example，不用保留。", "wang.li@oldcorp.example"),
    ("我还在用你们的APP，但请退订邮件 wangli@qq.example。", "wangli@qq.example"),
    # A second reviewing helper's: "not my address" of a relative's, and a new subject after the
    # address ("this one stays"), each sent to a person by the second version.
    ("Please unsubscribe tom.b@example.org, which is not my email address - it was my dad's.", "tom.b@example.org"),
    ("Bitte melden Sie tom.b@example.org ab, das ist nicht meine Adresse, sondern die meines verstorbenen Vaters.",
     "tom.b@example.org"),
    ("Please remove my mother's address maria.g@example.org, it isn't mine.", "maria.g@example.org"),
    ("请把我爸爸的邮箱 laowang@acme.example 退订，这不是我的邮箱。", "laowang@acme.example"),
    ("Please unsubscribe my old address old.me@example.org, this one stays.", "old.me@example.org"),
    ("Borren mi dirección antigua viejo@example.org, la nueva se queda.", "viejo@example.org"),
    ("Please remove my dad's old address dad.old@example.org, his new one is fine.", "dad.old@example.org"),
])
def test_an_address_that_keeps_getting_mail_or_is_no_longer_the_senders_is_still_removed(body, named):
    decision = read(message(body, "Unsubscribe"))
    assert decision.kind == REQUEST and decision.addresses == (named,), decision.reasons
