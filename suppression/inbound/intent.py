"""What the person asks for, in their own words: an unsubscribe request, in common languages.

A phrase counts unless its own clause negates it ("please do not unsubscribe me").
"""

import functools
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from suppression.model import ALL_EMAILS, Scope

_I = re.IGNORECASE

REQUEST_PHRASES = {
    "en": [
        r"\bun-?\s?subscribe\b", r"\bunsubscribing\b", r"\bunsub\b", r"\bremove me\b",
        r"\bremove (my|this|the) (e-?mail|address|name)\b", r"\btake me off\b", r"\bopt(ing)?[- ]?out\b",
        r"\b(delete|remove|drop) (me|my (e-?mail|address)) from\b", r"\bcancel my subscription\b",
        r"\bno (more|longer want)\b.{0,30}\b(e-?mails?|messages|newsletters?|mail)\b",
        r"\bstop (sending|e-?mailing|mailing|contacting|spamming)\b",
        r"\bstop (the |these |your |all )?(e-?mails?|newsletters?|messages|mail)\b",
        r"\b(remove|delete|take)\b[^.!?\n]{0,160}\b(from|off) (your|the|all|this|my)\b[^.!?\n]{0,20}"
        r"\b(lists?|mailings?|database|newsletters?)\b",
        r"\b(don'?t|do not|please stop) (send|e-?mail|mail)(ing)? me\b",
        # A line of "stop" alone. Not \W*, which crosses newlines: on a text of blank lines
        # every line start rescanned the rest (quadratic; 200,000 newlines took minutes).
        r"^[^\w\n]*stop[^\w\n]*$",
        # A line of one imperative: "Remove.", "Unsubscribe please", "opt out".
        r"^[^\w\n]*(remove|unsubscribe|opt[- ]?out|stop)( me)?( now)?( please| pls| thanks?( you)?)?[^\w\n]*$",
        # A closing "Stop." after a complaint: "Why do I keep getting these? Stop."
        r"[.!?]\s+stop[.!]*\s*$",
        r"\b(no longer|don'?t|do not|never) (want|wish|need|care) to (receive|get|be (sent|e-?mailed|contacted))\b",
        r"\bunsubscribed\b", r"\bopt me out\b", r"\b(be|get|been) removed from\b",
        r"\bcease (all |any )?(communications?|e-?mails?|mailings?|contacting me)\b",
        r"\b(keep|still) (getting|receiving) (your |these |this |all these )?(e-?mails?|mails?|messages|newsletters?|spam)\b",
    ],
    "es": [
        r"\bdar(me|nos|lo|la)? de baja\b", r"\bdarse de baja\b", r"\bbaja\b", r"\bdesuscrib", r"\bdesinscrib",
        r"\bcancelar (mi |la )?suscripci[oó]n\b", r"\bno (quiero|deseo) (seguir )?recibir\b",
        r"\beliminar(me)? de (la|su|vuestra|sus) lista", r"\bdejen de enviar",
        r"\belimin\w* (mi|mis) (direcci[oó]n|correo|datos|e-?mail)", r"\bya me di de baja\b",
    ],
    "fr": [
        r"d[ée]sinscri", r"d[ée]sabonn", r"\bne (plus|veux plus|souhaite plus) recevoir\b",
        r"\b(retirez|supprimez|enlevez)[- ]moi\b", r"\bme (retirer|supprimer) de\b", r"\barr[êe]tez de m'envoyer",
        r"\b(supprime[rz]?|retire[rz]?|enleve[rz]?) (mon|mes) (adresse|e-?mail|courriel|coordonn[ée]es)",
    ],
    "de": [
        r"abmelden", r"abbestell", r"austragen", r"\babmeldung\b", r"\bkeine (e-?mails?|newsletter|werbung|nachrichten) mehr\b",
        r"\bl[öo]schen sie mich\b", r"\bnehmen sie mich aus\b",
        # Separable verbs: "melden Sie mich (vom Newsletter) ab", "tragen Sie mich aus".
        r"\bmelden sie mich\b[^.!?\n]{0,40}\bab\b", r"\btragen sie mich\b[^.!?\n]{0,40}\baus\b",
        # The objection of GDPR Art. 21 to advertising, and complaints after unsubscribing.
        r"\bwiderspreche\b", r"\babgemeldet\b", r"\bl[öo]schen sie (bitte )?mein",
        r"\bh[öo]ren sie (bitte )?auf\b[^.!?\n]{0,40}\b(mails?|e-?mails?|schicken|senden|werbung)\b",
    ],
    "pt": [
        r"descadastr", r"desinscrev", r"\bcancelar (a |minha )?(inscri[çc][ãa]o|subscri[çc][ãa]o|assinatura)\b",
        r"\bn[ãa]o quero (mais )?receber\b", r"\bremover (o )?meu (e-?mail|endere[çc]o)\b", r"\bsair da lista\b",
        r"\bparem de (me )?enviar\b",
        r"\bremov\w* (o )?meu (e-?mail|endere[çc]o|cadastro)", r"\bexclus[ãa]o d[oe] meu",
        r"\bexclu(a|am|ir) (o )?meu",
    ],
    "it": [
        r"disiscriv", r"\bdisiscrizione\b", r"\bcancellatemi\b", r"\bcancellami\b", r"\bannullare l'iscrizione\b",
        r"\bnon (voglio|desidero) pi[uù] ricevere\b", r"\brimuovetemi\b", r"\brimuovermi\b",
        r"\bcancellarmi\b", r"\bdisiscritt[oa]\b", r"\bsmettete di (inviar|mandar)mi\b",
        r"\brimuov\w* (il )?mio (indirizzo|e-?mail)",
    ],
    "nl": [
        r"\bafmelden\b", r"\buitschrijven\b", r"\bschrijf (mij|me) uit\b", r"\bverwijder (mij|me)\b",
        r"\bgeen (e-?mails?|nieuwsbrief|nieuwsbrieven|berichten) meer\b",
        r"\bhaal (mij|me)\b[^.!?\n]{0,30}\b(van|uit) (de|uw|jullie) (mailing)?lijst", r"\bafgemeld\b",
        r"\bstop met (het )?(sturen|mailen|e-?mailen)", r"\bverwijder (mijn|me|mij)\b",
    ],
    "ja": [r"配信停止", r"配信を停止", r"購読解除", r"購読を解除", r"登録解除", r"登録を解除", r"配信を(止め|やめ)", r"送らないで",
           r"(配信|メール)は?不要"],
    "zh": [r"退订", r"退訂", r"取消订阅", r"取消訂閱", r"不要再(发|發)", r"停止(发送|發送)", r"别再(发|發)",
           r"(从|從).{0,10}(列表|名单|名單).{0,4}(删除|刪除|移除)", r"不想再?(收到|接收)"],
}


def phrases_pattern(phrases: list[str]) -> str:
    """One alternation of every phrase, in their order, with the leading \\b of each run of
    phrases that starts with one written once: `\\b(?:a|b)` matches exactly what `\\ba|\\bb`
    does, but inside a word (most places in a text) it fails once instead of once a phrase,
    which halves the reading of own words (tests/test_phrasings.py holds the two equal)."""
    parts = []
    for bounded, run in itertools.groupby(phrases, key=_bounded):
        if bounded:
            parts.append(r"\b(?:" + "|".join(f"(?:{phrase[2:]})" for phrase in run) + ")")
        else:
            parts.extend(f"(?:{phrase})" for phrase in run)
    return "|".join(parts)


def _bounded(phrase: str) -> bool:
    """Whether the phrase starts with \\b and has no | outside its groups (`\\ba|b` is not
    `\\b(?:a|b)`)."""
    return phrase.startswith(r"\b") and "(?#" not in phrase and not _top_level_bars(phrase)


def alternatives(pattern: str) -> list[str]:
    """The pattern's alternatives, as Python reads its top: `a|(b|c)|d` is a, (b|c) and d."""
    assert "(?#" not in pattern  # a comment's brackets are not groups
    assert not re.match(r"\(\?[aiLmsux]+\)", pattern)  # a flag of the whole pattern is not one choice's
    cuts = [-1, *_top_level_bars(pattern), len(pattern)]
    return [pattern[start + 1:end] for start, end in itertools.pairwise(cuts)]


# The characters a choice written in Japanese or Chinese starts with (kana, CJK ideographs).
_CJK_FIRST = "\u3040-\u30ff\u3400-\u9fff"


def words_pattern(choices: list[str]) -> str:
    """One alternation of `choices` read at one look a place of the text: those that start with
    \\b as one run (phrases_pattern), then the others, each of which must start with a kana or an
    ideograph, behind one look at that character. Python's engine otherwise tries every choice
    at every place. Moving the second kind after the first changes no match: where a choice of
    one kind can start, a Latin letter or a CJK character, no choice of the other can."""
    bounded = [choice for choice in choices if _bounded(choice)]
    others = [choice for choice in choices if not _bounded(choice)]
    for choice in others:
        first = choice.lstrip("(")[:1]
        if not ("\u3040" <= first <= "\u30ff" or "\u3400" <= first <= "\u9fff"):
            raise ValueError(f"a choice without \\b must start with a kana or an ideograph: {choice}")
    written = [phrases_pattern(bounded)] if bounded else []
    if others:
        written.append(f"(?=[{_CJK_FIRST}])(?:" + "|".join(f"(?:{choice})" for choice in others) + ")")
    return "|".join(written)


def _top_level_bars(pattern: str) -> list[int]:
    """Where the pattern has a | outside its groups and classes."""
    bars, depth, in_class, escaped, opened = [], 0, False, False, -1
    for at, char in enumerate(pattern):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            # A ] first in a class (after [ or [^) is a character of it, not its end.
            in_class = char != "]" or at == opened + 1 or (at == opened + 2 and pattern[opened + 1] == "^")
        elif char == "[":
            in_class, opened = True, at
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            bars.append(at)
    return bars


# One pass over the text for every phrase of every language.
_PHRASES = re.compile(phrases_pattern([p for ps in REQUEST_PHRASES.values() for p in ps]), _I | re.MULTILINE)

_CLAUSE_END = re.compile(r"[.!?;,:。！？；，、\n]")
# A negation within the three words before a phrase, in its clause. "No thanks" is no negation.
_NEGATION_BEFORE = re.compile(
    r"(\bnot\b|\bdon'?t\b|\bdo not\b|\bnever\b|\bwon'?t\b|\bno need to\b|\bdidn'?t\b|"
    r"\bno\b(?!\s*(thanks|thank|more|longer|gracias|merci|danke|obrigad|grazie|bedankt))|"
    r"\bnunca\b|\bne\b|\bn'|\bpas\b|\bnicht\b|\bkein|\bn[ãa]o\b|\bnon\b|\bniet\b|"
    r"不要|别|別|不|请勿|請勿|勿)\s*(\S+\s+){0,3}$",
    _I,
)
# A negation inside a separable verb: "melden Sie mich nicht ab". Only German's and Dutch's: in
# the other languages' phrases a negation is the phrase's own ("do not want to receive").
_NEGATION_INSIDE = re.compile(r"\b(nicht|niet)\b", _I)
_NEGATION_AT_END = re.compile(
    r"(\bnot|\bdon'?t|\bdo not|\bnever|\bwon'?t|\bno|\bnunca|\bne pas|\bpas|\bnicht|\bn[ãa]o|\bnon|\bniet|"
    r"请不要|請不要|别|別|请勿|請勿)\W*$", _I)
_NEGATION_AFTER = re.compile(r"^\s*(\S+\s+)?(pas\b|nicht\b|しないで|しない|ないで|不要)", _I)


# Words that say the person wants the mail: that it stopped coming ("ya no recibo sus correos",
# "ich bekomme keine Mails mehr", "收不到"), that they never asked to leave ("nooit gevraagd",
# "从来没有要求"), or that they are still interested. Read as a request, they opted out people
# who wrote to get the mail back. The present tense of receiving, not "want to receive".
_MAIL = r"(e-?mails?|mails?|newsletters?|messages|offers|courriels|correos|boletin(es)?|boletín|mensagens|mensajes|ofertas|nieuwsbrief|nieuwsbrieven|lettres?)"
STAYS = (
    r"\b(never|didn'?t|did not|haven'?t|have not) (ask|request)(ed)? to be (removed|unsubscribed|taken off)\b|"
    r"\b(no longer|stopped|have not been|haven'?t been|am not|i'?m not) (getting|receiving) "
    r"((your|the|any) )?" + _MAIL + r"\b|"
    r"\bi (don'?t|do not|no longer) (get|receive) (your|the|any) " + _MAIL + r"\b|\bstill interested\b|"
    r"\bnunca (ped[ií]|solicit[ée]|he pedido) (que me (eliminaran|borraran|dieran de baja)|(la|darme de) baja)|"
    r"\bya no (recibo|me llegan?) (sus |los |las |el |la |ning[úu]n )?" + _MAIL + r"|\b(dejé|he dejado) de recibir\b|"
    r"\bsigo interesad[oa]\b|"
    r"\bjamais demand[ée] (à|d'|de) (être|me) (d[ée]sinscri|retir|supprim|d[ée]sabonn)|"
    r"\bje ne re[çc]ois plus (vos |les |la |le |de |d'|aucun )?" + _MAIL + r"|\btoujours int[ée]ress[ée]|"
    r"\b(nie|nicht) darum gebeten,? (entfernt|abgemeldet|ausgetragen|gel[öo]scht)|"
    r"\b(ich (bekomme|erhalte|kriege)|(?<!wie )(bekomme|erhalte|kriege) ich)\b(?![^.!?,\n]{0,15}\b(lieber|gerne?)\b)"
    r"[^.!?,\n]{0,40}\bkeine?\b[^.!?,\n]{0,30}\bmehr\b|\b(weiterhin|noch) interessiert\b|"
    r"\bnunca pedi (para|pra) (ser|me) (removid|descadastr|exclu[íi]d|retirad)|\b(parei|deixei) de receber\b|"
    r"\bn[ãa]o (recebo|estou recebendo|tenho recebido) (mais )?(os |as |a |o |nenhum |nenhuma )?" + _MAIL + r"|"
    r"\bcontinuo interessad[oa]\b|"
    r"\b(mai|non ho mai) chiesto di (essere|venire) (rimoss|cancellat|disiscritt|tolt)|\bnon ricevo (più|piu)\b|"
    r"\bsmesso di ricevere\b|\bancora interessat[oa]\b|"
    r"\b(nooit|niet)( om)? gevraagd( om)? (te worden )?(verwijderd|afgemeld|uitgeschreven)|"
    r"\b(ik (krijg|ontvang)|(?<!hoe )(krijg|ontvang) ik)\b(?![^.!?,\n]{0,15}\b(liever|graag)\b)[^.!?,\n]{0,30}\bgeen\b"
    r"[^.!?,\n]{0,30}\bmeer\b|"
    r"\bnog steeds ge[ïi]nteresseerd\b|"
    r"届きません|受け取れな|受信できな|"
    r"收不到|(从来|從來)?(没有|沒有|从未|從未)(要求|申请|申請)(退订|退訂|取消订阅|取消訂閱)|"
    # Asking that someone else not be removed, by address or as him or her: "don't remove bob@...
    # from the list, he loves it" was a request for bob (the judge scored it 1.00, with no phrase
    # to negate). Not "no need to delete my account, just stop": a request says that too.
    r"\b(do not|don'?t|never|no need to)( [^\s.!?;,]+){0,4} (remove|unsubscribe|delete|drop|take)\b"
    r"([^.!?;,\n]{0,60}@| (him|her|them)\b)|"
    r"\bno (?P<es>(lo|la|los|las|le|les) )?(eliminen|borren|quiten|den de baja|desuscriban)\b"
    r"(?(es)|[^.!?;,\n]{0,60}@)|"
    r"\bne (?P<fr>(le|la|les) )?(supprimez|retirez|d[ée]sinscrivez|d[ée]sabonnez) pas\b(?(fr)|[^.!?;,\n]{0,60}@)|"
    r"\bn[ãa]o (?P<pt>(o|a|os|as) )?(removam|remova|excluam|exclua|descadastrem|descadastre)\b"
    r"(?(pt)|[^.!?;,\n]{0,60}@)|"
    r"\bnon (?P<it>(lo|la|li|le) )?(rimuovete|rimuovere|cancellate|disiscrivete|disiscrivere)\b"
    r"(?(it)|[^.!?;,\n]{0,60}@)"
)
_STAYS = re.compile(words_pattern(alternatives(STAYS)), _I)


# A relative, in the words of each language (WANTS_MORE here; named.py's SENDER_TOO).
KIN = {
    "en": r"(wife|husband|son|daughter|partner|mother|mom|mum|father|dad|brother|sister)",
    "de": r"(frau|mann|sohn|tochter|mutter|vater|partner|partnerin|bruder|schwester)",
    "fr": r"(mari|femme|[ée]pou(x|se)|fils|fille|m[èe]re|p[èe]re|conjoint|conjointe|compagnon|compagne|fr[èe]re|s(œ|oe)ur)",
    "es": r"(esposa|esposo|mujer|marido|hij[oa]|madre|padre|novi[oa]|pareja|herman[oa])",
    "it": r"(moglie|marito|figli[oa]|madre|padre|compagn[oa]|fratello|sorella)",
    "pt": r"(esposa|esposo|mulher|marido|filh[oa]|m[ãa]e|pai|namorad[oa]|irm[ãa]o?)",
    "nl": r"(vrouw|man|zoon|dochter|moeder|vader|partner|broer|zus)",
}


# Words that ask to stay, or to have the mail back: "keep me subscribed", "why was I
# unsubscribed", "cancel my unsubscribe", "please don't remove me". Not "continue to receive":
# a request often says it of the mail it keeps ("stop the offers, I'll keep the invoices"). Only
# those not negated in their own clause count. A probing helper's messages asking to stay were
# honoured as requests (2026-12-06): the judge scored "keep me subscribed" 0.93.
WANTS_MORE = (
    # Stay, or be kept, on the list.
    r"\bkeep me (subscribed|on (the|your|this) (mailing |e-?mail )?list)\b|\b(stay|remain) (subscribed|on (the|your) list)\b|"
    r"\bmant[eé]n(game|ganme|erme|gan)? (en (la|su|vuestra) lista|suscrit[oa]|mi suscripci[oó]n)\b|"
    r"\bseguir (suscrit[oa]|en (la|su|vuestra) lista)\b|"
    r"\bgarde[rz]?[- ]moi (dans|sur) (la|votre|vos) (liste|fichier)|\bgardez[- ]moi(?=\s*([,.!;]|$))|\brester (abonn[ée]e?|inscrit[e]?|sur (la|votre) liste)\b|"
    r"\b(behalten sie mich|lassen sie mich)\b[^.!?\n]{0,30}\b(verteiler|liste|newsletter)|"
    r"\b(im|auf dem) (verteiler|newsletter) (bleiben|lassen)\b|\b(angemeldet|abonniert) bleiben\b|"
    r"\bmantenham?(-me| me)? na (lista|newsletter)|\bme mantenham\b|\bcontinuar (inscrit|cadastrad|na lista)\w*|"
    r"\btenetemi (nella|in) (lista|mailing)|\b(restare|rimanere) (iscritt[oa]|nella lista)\b|"
    r"\bhou (me|mij) (aub |alstublieft )?op de (mailing)?lijst|\b(ingeschreven|aangemeld) blijven\b|"
    r"\bop de (mailing)?lijst (blijven|houden)\b|"
    r"(リスト|配信|購読|登録)(に|を|は)?(残して|続けて|そのままに)|"
    r"(保留|继续保留|繼續保留)(我的)?(订阅|訂閱|邮箱|郵箱)|"
    # Be added, or subscribe: "add me to your mailing list" was read as a request to leave (the
    # judge scored it 1.00) in English, German, Japanese and Chinese. The list is named right
    # after the verb, so "add me to your do-not-contact list" is no such words.
    # One choice a language, so that a place where none can start is passed over soon (each
    # choice is tried at every word: a body of "a@" repeated took a fifth longer with them apart).
    r"\b((add|put) me (to|on|onto|in)|(be|get) added to) (your|the) (mailing |e-?mail |newsletter )?"
    r"(list|newsletter|mailing)\b|"
    r"\b(sign me up|subscribe me (to|for)|i('d| would) like to subscribe|how (do|can) i (subscribe|sign up))\b|"
    r"\bin (ihren|den) (e-?mail-?|mail)?(verteiler|newsletter|mailingliste) auf\b|"
    r"\b((ajoutez|inscrivez)[- ]moi\b|m['’](ajouter|inscrire) (à|a|dans) (votre|la|vos) (liste|newsletter|lettre)"
    r"|m['’]abonner\b|[êe]tre ajout[ée]e?s? (à|a) (votre|la|vos)\b)|"
    r"\b(a([ñn]([áa]d(a|an|e|i)me|adirme)|gr([ée]g(a|ue|uen)me|egarme))|suscr([íi]b(a|an|e)me|ibirme)|darme de alta"
    r"|me incluy(eran|an|a|era))\b|"
    r"\b(aggiung(etemi|ermi)|iscriv(etemi|ermi)|essere (inserit|aggiunt|iscritt)[oaie])\b|"
    r"\b(me (adicion(ar|em|e)|inscrev(er|am)|cadastr(ar|em))|(adicionar|inscrever|cadastrar)-me"
    r"|ser (adicionad|inclu[íi]d|inscrit|cadastrad)[oa]s?)\b|"
    r"\b((mij|me) (toevoegen|aanmelden|inschrijven)|toegevoegd (te )?worden)\b|"
    r"(リスト|メルマガ|メールマガジン|ニュースレター)(へ|に)の?登録を?(お願い|希望|したい|して(ください|下さい|ほしい|いただけ))"
    r"|登録して(ください|下さい|ほしい|いただけ)|登録したい|購読したい|"
    r"(将|把)我(的邮箱)?加(入|到)(你们的|您的|贵司的)?(邮件|郵件|订阅|訂閱)?(列表|名单|名單)|我(想|要)(订阅|訂閱)|"
    # Someone else to get the mail too ("gostaria que minha filha tambem recebesse as promoções. o email
    # dela é camila@…": batch AH, judged 0.96, and camila@… suppressed): a relative by name (KIN),
    # and the mail to get, not its end ("I'd like my wife to get removed as well", "dat mijn vrouw ook
    # geen nieuwsbrief meer krijgt" ask to leave: a reviewing helper's).
    rf"\b(i'?d like|i would like|i want|we'?d like) (my|our) {KIN['en']} (to )?(also |too )?(receive|get)\b"
    r"(?! (removed|taken off|unsubscribed|off|no|nothing)\b)|"
    rf"\b(sign|subscribe|add) (my|our) {KIN['en']} (up|too|as well|to (the|your) (list|newsletter|mailing))\b|"
    rf"\b(m[öo]chte|w[üu]rde gerne?|h[äa]tte gerne?),? dass (meine?|unsere?) {KIN['de']} (auch|ebenfalls) "
    r"(?:(?!\b(keine?n?|nicht|nichts)\b)[^.!?\n]){0,40}\b(erh[äa]lt|bekommt|empf[äa]ngt|bekommen|erhalten)\b|"
    rf"\b(meine?|unsere?) {KIN['de']} (bitte )?(auch|ebenfalls) (anmelden|eintragen|aufnehmen)\b|"
    rf"\b(j'aimerais|je voudrais|je souhaite|je souhaiterais|nous voudrions) que (ma|mon|notre) {KIN['fr']} "
    rf"(re[çc]oive|puisse recevoir|soit inscrite?)|\b(inscrire|ajouter) (aussi )?(ma|mon) {KIN['fr']}\b|"
    rf"\b(me gustar[íi]a|quisiera|quiero|querr[íi]a) que (mi|nuestra|nuestro) {KIN['es']} (tambi[ée]n )?"
    r"(reciba|recibiera)\b|"
    rf"\b(vorrei|mi piacerebbe|desidero|vorremmo) che (mia|mio|nostra|nostro) {KIN['it']} (anche |pure )?"
    r"(ricev|fosse iscritt)\w*|"
    rf"\b(gostaria|queria|quero|gostar[íi]amos) que (a |o )?(minha|meu|nossa|nosso) {KIN['pt']} (tamb[ée]m )?"
    rf"(receb(a|esse)|fosse (inscrit|cadastrad))\w*|\bincluir (a |o )?(minha|meu) {KIN['pt']}\b|"
    rf"\b(zou graag willen|wil graag|willen graag) dat (mijn|onze?) {KIN['nl']} (ook )?"
    r"(?:(?!\b(geen|niet|niets|niks)\b)[^.!?\n]){0,30}\b(ontvangt|krijgt)\b|"
    r"(娘|息子|妻|夫|主人|家内|母|父|家族)(に|へ)も[^。！？\n]{0,20}(届け|送って|配信して|受け取)|"
    r"(让|讓|给|給)(我)?(女儿|女兒|儿子|兒子|老婆|妻子|老公|丈夫|妈妈|媽媽|爸爸|家人)也(订阅|訂閱|收到|接收)|"
    # Put back, subscribe again, or cancel a leaving.
    r"\b(put|add|sign) me (back|up again)\b|\bre-?(subscribe|add|sign up) me\b|"
    r"\bwhy (was i|have i been|did you) (unsubscribed|removed|unsubscribe|remove)\b|"
    r"\b(cancel|undo|withdraw|reverse|disregard|ignore) my (earlier |previous |last )?"
    r"(unsubscribe|unsubscription|opt-?out)( request)?\b|"
    r"\bvuelv(an|as) a (suscribirme|a[ñn]adirme|darme de alta|incluirme)\b|\bvolver a suscribirme\b|"
    r"\b(a[ñn][áa]danme|agr[ée]guenme|incl[úu]yanme) de nuevo\b|\bpor qu[ée] me (dieron|han dado) de baja\b|"
    r"\bremett(ez|re)[- ]moi\b|\br[ée]inscri(vez|re)[- ]moi\b|\br[ée]abonn(ez|er)[- ]moi\b|"
    r"\bpourquoi (ai-je [ée]t[ée]|m'avez-vous) (d[ée]sinscrit|d[ée]sabonn|retir|supprim)\w*|"
    r"\bwieder (an|auf|ein)(melden|nehmen|tragen)\b|\btragen sie mich (bitte )?wieder ein\b|"
    r"\bwarum (wurde ich|bin ich|haben sie mich) (abgemeldet|ausgetragen|entfernt|gel[öo]scht)\b|"
    r"\b(coloquem|adicionem|incluam|cadastrem|ponham)(-me| me)? (de novo|novamente)\b|\bvoltar (para|[àa]) lista\b|"
    r"\bpor que (fui|me) (removid|descadastr|exclu)\w*|"
    r"\b(rimettetemi|reiscrivetemi|reinseritemi)\b|\biscrivetemi di nuovo\b|"
    r"\bperch[ée] (sono stat[oa]|mi avete) (disiscritt|cancellat|rimoss|tolt)\w*|"
    r"\bzet (me|mij) (weer|terug)\b|\b(weer|opnieuw) (aanmelden|inschrijven|toevoegen)\b|"
    r"\bwaarom ben ik (afgemeld|uitgeschreven|verwijderd)\b|"
    r"元に戻して|再登録|(配信|購読)を?再開|なぜ.{0,6}(配信停止|解除)|"
    r"(恢复|恢復)(我的)?(订阅|訂閱)|重新(订阅|訂閱|加入|添加)|(为什么|為什麼).{0,8}(退订|退訂|取消订阅|取消訂閱)|"
    # Do not remove me.
    r"\bno me (den de baja|eliminen|borren|quiten|saquen|excluyan)\b|"
    # Spain's second person plural, and the other address kept (batch T: "me gustaría recibirlo
    # también en esta dirección del trabajo. ¿Podéis añadirla? No quitéis la otra" was suppressed)
    r"\bno (me (quit|borr|elimin|saqu)[ée]is|(quit|borr|elimin|saqu)[ée]is (la otra|el otro|mi (direcci[óo]n|correo)))\b|"
    r"\b(pod[ée]is|pueden|podr[íi]an) a[ñn]adir(la|me)\b|\ba[ñn]adid(la|me)\b|"
    r"\brecibirl[oa] tambi[ée]n\b|\b(add|include) this (e-?mail )?address (too|as well)\b|"
    r"\bn[ãa]o me (removam|remova|tirem|descadastrem|excluam|exclua)\b|\bn[ãa]o (retirem|removam|apaguem|excluam) o meu\b|"
    r"\bne me (d[ée]sabonnez|d[ée]sinscrivez|retirez|supprimez|rayez) pas\b|\bn'arr[êe]tez pas\b|"
    r"\b(entfernen|l[öo]schen|abmelden|austragen|streichen) sie mich (bitte )?nicht\b|"
    r"\bmich (bitte )?nicht (abmelden|austragen|entfernen|l[öo]schen|streichen)\b|"
    r"\b(auf keinen fall|keinesfalls)\b[^.!?,\n]{0,40}\b(l[öo]schen|entfernen|austragen|abmelden)\b|"
    r"\b(l[öo]schen|entfernen|austragen|abmelden)\b[^.!?,\n]{0,30}\b(auf keinen fall|keinesfalls)\b|"
    r"\bnon (cancellatemi|rimuovetemi|mi (cancellate|rimuovete|disiscrivete|togliete))\b|"
    r"\b(verwijder|schrijf|schrap) (mij|me|mijn adres) (alstublieft |aub |vooral )?niet\b|"
    r"\bniet (afmelden|uitschrijven|verwijderen)\b|"
    r"(削除|解除|停止|退会|配信停止)(は)?しないで|"
    # Not "不要再" / "别再" ("no more"): "不要再发了，请退订" asks to leave.
    r"(不要|别|別)(?!再)(把我)?[^，。！？,.!?\n]{0,15}(删除|刪除|移除|退订|退訂)"
)
_WANTS_MORE = re.compile(words_pattern(alternatives(WANTS_MORE)), _I)


# Words that take a request back, say it was someone else's, call the leaving a slip or a joke,
# or let the email go on while something else stops: "someone asked you to unsubscribe me",
# "unsubscribe me... just kidding", "I clicked unsubscribe by mistake", "the emails can keep
# coming". A probing helper's messages of these kinds were honoured as requests (2026-12-07):
# the judge scored them 0.97-1.00 on the phrase that asks. A person decides whatever else they
# say. Each choice is one a request does not make: "ignore this", "forget it", "changed my mind",
# "by mistake" alone and "SMS only" are said in requests too, and were taken out.
DOUBTS = (
    # Asked whether they want to leave, the answer is no ("U vraagt of ik me wil uitschrijven. Het
    # antwoord is nee.": batch AR).
    r"\bthe answer is no\b|\b(die|meine) antwort (ist|lautet) nein\b|\b(la|ma) r[ée]ponse est non\b|"
    r"\b(la|mi) respuesta es no\b|\b(la|mia) risposta [èe] no\b|\b(a|minha) resposta [ée] n[ãa]o\b|"
    r"\b(het|mijn) antwoord is nee\b|答えは(いいえ|ノー)|(答案|回答|答复)是不|"
    # Someone else asked, and this one takes it back.
    r"\b(someone|somebody) (else )?(has )?(asked|requested|wanted|tried) (you )?to (unsubscribe|remove) me\b|"
    r"\balguien (pidi[óo]|solicit[óo]) (darme de baja|mi baja|que me (dieran|den) de baja)|"
    r"\bquelqu'un a demand[ée] (à me d[ée]sinscrire|ma d[ée]sinscription|mon d[ée]sabonnement)|"
    r"\b(jemand|irgendjemand) (hat|wollte) mich ab(gemeldet|melden|zumelden)|"
    r"\bqualcuno ha chiesto (di disiscrivermi|la mia disiscrizione|di cancellarmi)|"
    r"\biemand (heeft|wilde) (mij|me) (af(gemeld|melden)|laten afmelden|uitschrijven)|"
    r"\balgu[ée]m (pediu|solicitou) (o meu descadastro|para me descadastrar|a minha remo[çc][ãa]o)|"
    r"誰かが[^。！？\n]{0,10}(配信停止|解除)|有人(帮我|替我|冒充我)?(申请)?(退订|退訂)|"
    # My last message is withdrawn. Not "ignore this" or "forget it": a request says them too, of
    # the rest ("if it's about my booking, ignore this"; "the link fails, forget it, remove me").
    r"\b(ignore|disregard|forget) my (last|earlier|previous) (e-?mail|message|request)\b|"
    r"\boubliez mon (dernier |pr[ée]c[ée]dent )?(message|mail|courriel)|"
    r"\bvergessen sie meine (letzte )?(mail|nachricht)\b|\bdimenticate (il mio|la mia) (ultim|precedent)|"
    r"\bvergeet mijn (vorige|laatste) (mail|bericht)\b|\besque[çc](a|am) a minha (última )?mensagem\b|"
    r"当我没说|當我沒說|"
    # Joking.
    r"\bjust (kidding|joking)\b|\b(i was|i'?m) (just )?(kidding|joking)\b|\b(era|es|fue) (solo )?(una )?broma\b|"
    r"\bbromeaba\b|\bje plaisant(e|ais)\b|\bc'[ée]tait une blague\b|\b(nur|bloß|war) (ein )?(spa(ß|ss)|scherz)\b|"
    r"\bscherz(avo|ando)\b|\bgrapje\b|\b(é|era|foi) (s[óo] )?(uma )?brincadeira\b|\b(estava|estou) brincando\b|"
    r"冗談(です|でした|だよ)|(开|開)玩笑的|"
    # The leaving itself was a slip: not "subscribed by mistake", which asks to leave.
    r"\b(clicked|pressed|hit|tapped) (on )?(the |your )?unsubscribe\b[^.!?\n]{0,30}\b(by (mistake|accident)|accidentally)\b|"
    r"\b(accidentally|mistakenly) (clicked|pressed|hit|tapped) (on )?(the |your )?unsubscribe|"
    r"\b(accidentally|mistakenly) unsubscribed\b|\bunsubscribed (myself )?(by (mistake|accident)|accidentally)\b|"
    r"\bme di de baja (por error|sin querer)\b|\b(por error|sin querer) me di de baja\b|"
    r"\bd[ée]sinscrit(e)? par erreur\b|\b(versehentlich|aus versehen) abgemeldet\b|"
    r"\bdisiscritt[oa] per (errore|sbaglio)\b|\bper (ongeluk|vergissing) afgemeld\b|"
    r"\bdescadastrei (por engano|sem querer)\b|\bpuls[ée] (en )?(el (bot[óo]n|enlace) de )?(darme de )?baja (por error|sin querer)\b|"
    r"\b(por error|sin querer) puls[ée] (en )?(el (bot[óo]n|enlace) de )?(darme de )?baja\b|"
    r"(間違えて|誤って)(配信停止|解除)|(误点|誤點|不小心点|不小心點)(了)?(退订|退訂)|"
    # Staying after all, or a leaving revoked, or a wrong button.
    # Not "keep it coming", "ich bleibe", "ik blijf", "me quedo": a request says them of the rest.
    r"\bi'?ll (stay|keep reading)\b|\bkeep me in\b(?! (the loop|mind|touch))|\b(widerrufe ich meine|meine) abmeldung\b|"
    r"\bwrong button\b|\bfalsche[nr]? (knopf|button)\b|\bmauvais bouton\b|\bbot[óo]n equivocado\b|"
    r"\bme equivoqu[ée] de bot[óo]n\b|\btasto sbagliato\b|\bverkeerde knop\b|\bbot[ãa]o errado\b|押し間違え|按错|按錯|"
    r"(停止|解除)(の|を)?(依頼|申請|申し込み)?を?取り消|"
    # Another channel: the text messages go, the email may stay ("the emails can keep coming").
    r"\b(e-?mails?|newsletters?) (can|may) (keep coming|continue|stay)\b|\bstill want (the|your|my) (e-?mails?|newsletters?)\b|"
    r"\bcontinuez (les|vos) (e-?mails?|mails|courriels|newsletters?)\b|"
    r"\blos correos s[íi]\b|\b(los correos|el bolet[íi]n) (pueden|puede) seguir\b|"
    r"\b(e-?mails?|mails|newsletter) (m[öo]chte|will) ich (aber )?(weiter|weiterhin)\b|"
    r"\be-?mail invece continuate\b|"
    r"\be-?mails? (mogen|kunnen) (blijven|gewoon)\b|\bmailen is prima\b|"
    r"\bos e-?mails? podem continuar\b|"
    r"邮件联系就行|郵件聯繫就行"
)
_DOUBTS = re.compile(words_pattern(alternatives(DOUBTS)), _I)
# A warning, not a request yet: once more, or if it goes on, the sender will leave ("Keep this up
# and I'll unsubscribe", "si je reçois encore une vente flash, je me désabonne", "再发我就退订").
# Only a condition of the mail coming again or going on: "if", "si", "als", "wenn" alone open
# polite requests too ("Als het kan, meld ik me af", "Wenn es recht ist, melde ich mich ab"), and
# "thinking about unsubscribing" is often said before "remove me now" (a reviewing helper's 67
# requests: the first version of these words sent 50 to a person).
WARNINGS = (
    r"\b(one more|any more of (these|this|them)|keep (this|that|it) up|do (that|this|it) again)\b[^.!?\n]{0,40}\band "
    r"(i'?m out|i('ll| will| am going to|'m going to|'m| am)?( have to| be)? (unsubscrib(e|ing)|opt(ing)? out))\b|"
    r"\bif (this|that|it) (continues|keeps (up|happening|coming)|goes on|doesn'?t stop|does not stop|happens again)\b"
    r"[^.!?\n]{0,20}\bi('ll| will| am going to|'m going to| am|'m)( have to| be)? (unsubscrib(e|ing)|opt(ing)? out)\b|"
    r"\b(close to|tempted to|on the verge of|this close to|one step from) (unsubscrib(e|ing)|opt(ing)? out)\b|"
    r"\bif (you|they) (keep|continue|don'?t stop|do not stop)\b[^.!?\n]{0,60}\bi('ll| will| am going to|'m going to)"
    r"( have to| just)? (unsubscribe|opt out)\b|"
    # Near leaving ("estoy a nada de darme de baja", "jsuis a deux doigts de me desabonner": batch AI)
    r"\b([àa] ((deux|2) doigts|un doigt|deux pas)|sur le point|pas loin) de me d[ée](sabonner|sinscrire)\b|"
    r"\ba (nada|punto|un paso|poco) de (darme de baja|desuscribirme|borrarme)\b|"
    r"\b(a un passo dal|sul punto di|sto per) (disiscrivermi|cancellarmi)\b|"
    r"\b(kurz davor|nahe dran|drauf und dran),? mich (abzumelden|auszutragen)\b|"
    r"\b(op het punt|bijna zover|het scheelt weinig of ik) (om )?(me|mij) (af te melden|uit te schrijven)\b|"
    r"(配信停止|解除|退会)(寸前|の一歩手前)|(差点|差一点|快要)(就)?(退订|退訂|取消订阅|取消訂閱)|"
    r"\b(encore une?|une? [^.!?\n]{0,30} de plus)\b[^.!?\n]{0,40}\bet (je )?(me d[ée]sabonne|me d[ée]sinscris)\b|"
    r"\b(si (ça|cela) continue|si je re[çc]ois encore)\b[^.!?\n]{0,60}\bje (me d[ée]sabonne|me d[ée]sinscris|"
    r"me d[ée]sinscrirai|me d[ée]sabonnerai|vais (devoir )?me d[ée](sabonner|sinscrire))\b|"
    r"\b(un correo m[áa]s|uno m[áa]s|si (esto )?sigue(n)? as[íi]|si (me )?vuelve(n)? a)\b[^.!?\n]{0,60}"
    r"\bme (doy|dar[ée]|voy a dar) de baja\b|"
    r"\b(un'altra|ancora una?|se continua(te)?)\b[^.!?\n]{0,60}\b(e )?mi (cancello|disiscrivo|tolgo)\b|"
    r"\b(mais uma?|se (isso )?continuar(em)?|se (chegar|vier) mais)\b[^.!?\n]{0,60}\b((e )?(eu )?(cancelo|saio)|"
    r"vou (me )?(cancelar|descadastrar|sair)|me descadastro)\b|\b(quase a|prestes a) (cancelar|me descadastrar)\b|"
    r"\b(nog [ée][ée]n|nog zo'?n|(als|indien|wanneer) (dit|dat|het) (zo doorgaat|aanhoudt))\b[^.!?\n]{0,60}"
    r"\b(meld ik (me|mij) af|schrijf ik (me|mij) uit|en ik (meld|schrijf) (me|mij) (af|uit)|"
    r"(zal|ga) ik (me|mij)\b[^.!?\n]{0,40}\b(afmelden|uitschrijven))\b|"
    r"\b(noch (eine?|so eine?|einmal)|sollte sich (das|dies|daran) nicht|wenn das so weitergeht)\b[^.!?\n]{0,60}"
    r"\b(und ich (melde mich|bin raus)|melde ich mich|werde ich mich\b[^.!?\n]{0,40}\b(ab|aus)(melden|tragen)|"
    r"trage ich mich aus)\b|"
    r"再(发|發|收到|这样|這樣|来|來|有)[^。！？\n]{0,20}我(就|会|會|马上|馬上|立刻)(要)?(退订|退訂|取消订阅|取消訂閱)|"
    r"(これ以上続く(よう)?なら|次に[^。！？\n]{0,20}(来|き)たら)[^。！？\n]{0,10}(配信(を)?停止|解除|退会)(します|する)"
)
_WARNINGS = re.compile(words_pattern(alternatives(WARNINGS)), _I)
# Any condition, then the sender's own leaving to come, or asking for it, in one sentence: each
# language's words of condition and of its first person's future are few, where the warnings' own
# are many ("Como siga así me doy de baja", "Qualora la situazione non venga corretta, procederò a
# revocare l'iscrizione", "If I receive another one…, I shall be removing myself", "je demanderai ma
# radiation", "我将要求…删除": batches AL and AR). Read in two passes (the leaving to come, then a
# condition in the words before it), as one pattern with a gap between they took 400 ms on 10,000
# characters of "if " (a reviewing helper's).
LEAVING_LATER = (
    # Being made to leave ("je me verrais contraint de demander ma radiation", "mi vedrò costretto a
    # richiedere la cancellazione": batch AU), or being gone ("Nog één zo'n mail en ik ben weg": AT);
    # then leaving, or asking for it, in each language's first person to come.
    r"\bi('ll| will| shall| would)( be| feel)? (forced|compelled|obliged) to\b[^.!?\n]{0,40}"
    r"\b(unsubscrib\w*|remov\w*|opt out|cancel\w*)|\bi'?m (out|gone)(?=\s*([.!,;]|$))|"
    r"\bsehe ich mich (gezwungen|genötigt)\b[^.!?\n]{0,40}\b(abzumelden|auszutragen|l[öo]schung|abmeldung)|"
    r"\bje me verrai(s)? (contraint|oblig[ée])e? de\b[^.!?\n]{0,40}\b(radiation|d[ée]sabonn\w*|d[ée]sinscri\w*|"
    r"suppression|retir\w*)|"
    r"\bme ver[ée] (obligad|forzad)[oa] a\b[^.!?\n]{0,40}\b(baja|cancel\w*|borr\w*)|\bme (voy|largo)(?=\s*([.!,;]|$))|"
    r"\bmi vedr[òo] (costrett|obbligat)[oa] a\b[^.!?\n]{0,40}\b(cancellazione|disiscri\w*|cancell\w*|rimozione)|"
    r"\b(ver-me-ei|vou me ver) (obrigad|for[çc]ad)[oa] a\b[^.!?\n]{0,40}\b(remo\w*|cancel\w*|descadastr\w*)|"
    r"\bzie ik (mij|me) genoodzaakt\b[^.!?\n]{0,40}\b(af te melden|uit te schrijven|verwijder\w*)|"
    r"\bik ben (weg|vertrokken)(?=\s*([.!,;]|$))|"
    r"\bi('?ll| will| shall| am going to|'m going to|'m gonna)( just| simply| have to| be forced to| definitely)?"
    r"( be)? (unsubscrib(e|ing)|unsub|opt(ing)? out|cancel(l?ing)?|withdraw(ing)? (my )?consent|"
    r"tak(e|ing) myself off|(ask(ing)?|request(ing)?|remov(e|ing)|demand(ing)?)\b[^.!?\n]{0,40}"
    r"\b(remov\w*|unsubscri\w*|off (the|your) (mailing )?list|delet\w*|myself))\b|"
    r"\bwerde ich\b[^.!?\n]{0,40}\b(abmelden|abbestellen|austragen|k[üu]ndigen|l[öo]schung|abmeldung|austragung|einwilligung)\b|"
    r"\bwiderrufe ich\b[^.!?\n]{0,40}\beinwilligung\b|\b(melde|trage) ich mich\b[^.!?\n]{0,20}\b(ab|aus)\b|"
    r"\bje (me )?(d[ée]sabonnerai|d[ée]sinscrirai|r[ée]silierai|retirerai mon consentement)\b|"
    r"\bje vais (devoir |finir par )?(me d[ée]sabonner|me d[ée]sinscrire|r[ée]silier|retirer mon consentement)\b|"
    r"\bje me (d[ée]sabonne|d[ée]sinscris)\b|"
    r"\bje (demanderai|vais demander|exigerai)\b[^.!?\n]{0,30}\b(radiation|suppression|d[ée]sinscription|d[ée]sabonnement|retir\w*)\b|"
    r"\bme (dar[ée]|voy a dar|doy) de baja\b|\bcancelar[ée]\b|\bme (borrar[ée]|desuscribir[ée]|borro|desuscribo)\b|"
    r"\bvoy a (cancelar|borrarme|desuscribirme|darme de baja)\b|\bretirar[ée] mi consentimiento\b|"
    r"\b(pedir[ée]|voy a pedir|exigir[ée]|solicitar[ée])\b[^.!?\n]{0,30}\b(baja|eliminaci[óo]n|borr\w*)\b|"
    r"\b(mi )?(cancellerò|disiscriverò|toglierò|revocherò)\b|\bmi (cancello|disiscrivo|tolgo)\b|"
    r"\bprocederò\b[^.!?\n]{0,40}\b(revoc|disiscri|cancell)\w*|"
    r"\b(chieder[òo]|pretender[òo])\b[^.!?\n]{0,30}\b(cancellazione|rimozione|disiscrizione|cancell\w*)|"
    r"\b(vou|irei) (acabar )?(me )?(cancelar|descadastrar|sair|desinscrever|cancelando|descadastrando)\b|"
    r"\b(cancelarei|(me )?descadastrarei|retirarei o (meu )?consentimento)\b|\b(eu )?(cancelo|me descadastro|descadastro)\b|"
    r"\b(pedirei|vou pedir|exigirei|solicitarei)\b[^.!?\n]{0,30}\b(remo[çc][ãa]o|cancelamento|exclus[ãa]o|remov\w*)|"
    r"\b(zal|ga) ik (me |mij )?[^.!?\n]{0,40}\b(afmelden|uitschrijven|opzeggen|verwijdering|uitschrijving)\b|"
    r"\b(meld|schrijf) ik (me|mij) (af|uit)\b|\bzeg ik\b[^.!?\n]{0,20}\bop\b|\b(trek ik|zal ik) mijn toestemming in|"
    r"(配信停止|解除|退会|購読をやめ)(します|する|させていただきます|しようと思います)|"
    r"(就|会|會|将|將)(要)?(直接)?(退订|退訂|取消订阅|取消訂閱|要求[^。！？\n]{0,20}(删除|刪除|移除|退订|退訂))"
)
_LEAVING_LATER = re.compile(words_pattern(alternatives(LEAVING_LATER)), _I)
# Where a clause starts, or after "and" or "but", not after another word ("Da ich die Mails sonst
# nie lese", "als privéadres", "Em todo caso", "¿Pierdo mis puntos si me doy de baja?" are no
# conditions: a reviewing helper's; "…, und wenn es so weitergeht", "ma se continuate" are: a second's).
CONDITIONS = (
    r"(?:(?<![^\W\d_] )|(?<=\b(?:and|but|und|mas) )|(?<=\b(?:mais|pero|maar|aber) )|(?<=\b(?:so|et|ma|en) )|"
    r"(?<=\b[ye] ))\b(if|unless|should (this|it|you|they)|otherwise|next time|one more|wenn|falls|sollten?|"
    r"ansonsten|sonst|beim n[äa]chsten mal|noch (eine?|einmal)|si|s'ils?|sinon|la prochaine fois|encore une?|"
    r"como (siga|sigan|contin[úu]en?|vuelvan?|me (llegue|lleguen|vuelvan?|sigan|manden|env[íi]en))|de lo contrario|"
    r"otro (correo |mail |email )?m[áa]s|la pr[óo]xima( vez)?|se|qualora|nel caso|altrimenti|la prossima volta|"
    r"caso|sen[ãa]o|na pr[óo]xima( vez)?|mais uma?|als|indien|wanneer|anders|bij de volgende( mail| keer)?|"
    r"nog (é|e)[ée]n)\b|"
    r"(なら|たら|場合は?|ようであれば|ようなら|次に)|(如果|要是|若|下次|否则|否則|再(发|發|来|來))"
)
_CONDITIONS = re.compile(CONDITIONS, _I)
_CONDITION_REACH = 80  # characters before the leaving to come read for a condition


def _conditional_warnings(text: str) -> list[tuple[int, int]]:
    """Where a condition and the sender's own leaving to come stand in one sentence, condition first."""
    spans = []
    for later in _LEAVING_LATER.finditer(text):
        reach = max(0, later.start() - _CONDITION_REACH)
        ends = [found.end() for found in SENTENCE_BREAK.finditer(text, reach, later.start())]
        condition = _CONDITIONS.search(text, ends[-1] if ends else reach, later.start())
        if condition:
            spans.append((condition.start(), later.end()))
    return spans


# A request begun and not made ("J'allais vous demander de me retirer de la liste, mais pas
# encore"; under "Please remove me from your mailing list", "...not yet, actually": batches X and
# Y), whatever else asks, since what asks is often the request not made. Only with "not yet" or
# "in fact": "I wanted to ask you to remove me, but the link fails" asks (a second reviewing
# helper's).
BEGUN = (
    r"\bnot yet,? actually\b|"
    r"\bi (was going|wanted|was about) to ask (you )?to (remove|unsubscribe|take) me\b[^.!?\n]{0,40}\bbut (not yet|actually)\b|"
    r"\b(j'allais|je voulais|je comptais) (vous )?demander de me (retirer|d[ée]sinscrire|d[ée]sabonner)\b[^.!?\n]{0,40}"
    r"\bmais (pas encore|en fait)\b|"
    r"\bich wollte (sie )?(bitten|fragen),? mich\b[^.!?\n]{0,40}\baber (noch nicht|eigentlich)\b|"
    r"\b(iba|quer[íi]a) (a )?pedir(les|os)? que me (den de baja|borren|quiten)\b[^.!?\n]{0,40}\bpero (todav[íi]a no|en realidad)\b|"
    r"\b(stavo per|volevo) chiedervi di (cancellarmi|togliermi|disiscrivermi)\b[^.!?\n]{0,40}\bma (non ancora|in realt[àa])\b|"
    r"\b(ia|queria) pedir (para|que) me (remover|tirar|descadastrar|removam|tirem)\b[^.!?\n]{0,40}\bmas (ainda n[ãa]o|na verdade)\b|"
    r"\bik wilde (jullie|u) vragen (om )?(me|mij)\b[^.!?\n]{0,40}\bmaar (nog niet|eigenlijk)\b"
)
_BEGUN = re.compile(words_pattern(alternatives(BEGUN)), _I)
# A question about the list or about what is kept of the person, where nothing else asks: "with
# which address am I registered?", "vorrei sapere quali dati personali conservate" (batch U: the
# judge took each as a request, 0.94-0.95, and suppressed the one asking). Such a person is owed
# an answer, and the desk is where they get one.
QUESTIONS = (
    r"\b(which|what) (e-?mail )?(address|e-?mail) (am i|i'?m|i am|is|was|did i)\b[^.!?\n]{0,30}"
    r"\b(registered|subscribed|signed up|on (your|the) list)\b|"
    r"\bwhat (personal )?(data|information|info) (do you|you) (hold|have|keep|store|process)\b|"
    r"\bwelche (informationen|angaben)\b[^.!?\n]{0,40}\b(gespeichert|speichern|haben sie)\b|"
    r"\bquelles informations\b[^.!?\n]{0,40}\b(conservez|d[ée]tenez|avez)\b|"
    r"\bqu[ée] informaci[óo]n\b[^.!?\n]{0,30}\b(tienen|guardan|conservan)\b|"
    r"\bquali informazioni\b[^.!?\n]{0,30}\b(conservate|avete|tenete)\b|"
    r"\bem qual (deles |dos dois )?(estou|me) (inscrit|registad|cadastrad)\w*|\bqual deles recebe\b|"
    r"\bwelke informatie\b[^.!?\n]{0,30}\b(bewaren|hebben)\b|"
    r"どんな(個人)?情報(を|が)[^。！？\n]{0,20}(保存|保管|保持|管理)|存了我哪些|"
    r"\bhow long do you (keep|store|hold)\b|"
    r"\bmit welcher (e-?mail-?)?adresse\b|"
    r"\bwelche (personenbezogenen |pers[öo]nlichen )?daten\b[^.!?\n]{0,40}\b(gespeichert|speichern|haben sie|verarbeiten)\b|"
    r"\bavec quelle adresse\b|"
    r"\bquelles (sont les )?donn[ée]es (personnelles )?[^.!?\n]{0,40}\b(conservez|d[ée]tenez|avez|stockez|traitez)\b|"
    r"\bcon qu[ée] (correo|direcci[óo]n|e-?mail)\b|"
    r"\bqu[ée] datos (personales )?[^.!?\n]{0,30}\b(tienen|guardan|conservan|almacenan|tratan)\b|"
    r"\bcon quale (indirizzo|e-?mail)\b|\bquali dati (personali )?[^.!?\n]{0,30}\b(conservate|avete|trattate|tenete)\b|"
    r"\bper quanto tempo (li )?(conservate|tenete)\b|"
    r"\bcom qual (e-?mail|endere[çc]o)\b|\bqual (e-?mail |endere[çc]o )?est[áa] na (vossa|sua) lista\b|"
    r"\bquais dados (pessoais )?[^.!?\n]{0,30}\b(t[êe]m|guardam|conservam|armazenam)\b|"
    r"\bmet welk (e-?mail)?adres\b|\bwelke (persoons)?gegevens\b[^.!?\n]{0,30}\b(bewaren|hebben|verwerken|opgeslagen)\b|"
    r"どの(メール)?アドレスで(登録|購読)|どの(ような|様な)?(個人)?情報(を|が)[^。！？\n]{0,20}(保存|保管|保持|管理)|"
    r"(用|以)哪(个|個)(邮箱|郵箱|信箱|地址)|(保存|保留|存储|儲存)了?哪些(个人|個人)?(信息|資訊|数据|數據)"
)
_QUESTIONS = re.compile(words_pattern(alternatives(QUESTIONS)), _I)
# A request to see what is kept, named address or not: "hiermit beantrage ich gemäß Art. 15 DSGVO
# Auskunft …, auch zur Adresse x@…" (batch AH: judged 0.94, and x@… suppressed). A person answers it.
ACCESS = (
    r"\bsubject access request\b|\bright of access\b|\b(art(icle)?\.? ?15)( of)?( the)? gdpr\b|"
    r"\b(access to|a copy of) (all )?(my|the) (personal )?(data|information)\b|"
    r"\bauskunft\b[^.!?\n]{0,80}\b(daten|gespeichert)|\bart\.? ?15 ds-?gvo\b|\bauskunfts(ersuchen|anfrage|anspruch)\b|"
    r"\bdroit d'acc[èe]s\b|\b(acc[èe]s [àa]|copie de) (toutes )?mes donn[ée]es\b|"
    r"\bderecho de acceso\b|\b(acceso a|copia de) (todos )?mis datos\b|"
    r"\bdiritto di accesso\b|\b(accesso ai|copia dei) (miei )?dati\b|"
    r"\bdireito de acesso\b|\b(acesso aos|c[óo]pia dos) (meus )?dados\b|"
    r"\b(recht op inzage|inzageverzoek)\b|\b(inzage in|kopie van) (al )?(mijn|de) (persoons)?gegevens\b|"
    r"(個人情報|保有個人データ)の?開示|開示(を)?(請求|求め)|"
    r"(查阅|查詢|查询|访问)(我的)?(个人|個人)(信息|資料|数据)|(个人信息|個人資料)的?(副本|查阅)|"
    r"(保存|保留|存储|儲存)了?我(的)?哪些(个人|個人)?(信息|資訊|数据|數據)"
)
_ACCESS = re.compile(words_pattern(alternatives(ACCESS)), _I)
# A few words under a subject that asks, turning it down: "No thanks.", "Please don't!", "Nope",
# "Nein danke, bitte nicht.", "不要", "しないでください", "lol no".
_REFUSAL = re.compile(
    r"\b(no|nope|nah|not|don'?t|nein|nee|nicht|niet|non|pas|n[ãa]o|lol|haha|kidding|joke|nvm|mdr|kkk+|jaja|quatsch)\b|"
    r"いいえ|しない|しません|しなくて|結構です|不要|無視|不|没|沒|忽略",
    _I,
)
# ... unless they say why they leave, or that the mail should stop: "no more", "I don't want your
# emails", "keine Mails mehr", "Not interested.", "I never signed up", "wrong person".
_LEAVES_ANYWAY = re.compile(
    r"\b(any ?more|no more|no longer|mehr|m[áa]s|meer|mais|pi[ùúu]|niente|nada|rien|geen|keine?)\b|"
    r"\b(don'?t|do not) (want|need|wish)\b|\bne (veux|souhaite)\b|\bno (quiero|deseo)\b|\bnon voglio\b|"
    r"\bn[ãa]o quero\b|\bwil geen\b|\binteress|\bint[ée]ress|\binteres[as]|\binterest|\binteresse|"
    r"\b(signed|sign) up\b|\bsubscrib|\b(asked|registered|requested)\b|\bwrong (person|address|e-?mail)\b|"
    r"\b(contact|write|message|send|mail|e-?mail|call|text)\b|\bnot (for me|relevant|a customer)\b|"
    r"\b(account|customer|work there)\b|\bcontact\w*|\bcontat\w*|\bkontakt\w*|\bschreiben\b|"
    r"再|もう|いらない|不想|不需要|兴趣|興趣|興味|連絡|联系|聯繫",
    _I,
)
# A subject of these words alone, ending in a negation, runs on into the body.
_REFUSING = frozenset(
    "no nope nah not don't dont never nein nee nicht niet non pas não nao nunca".split())
_FILLER = frozenset(
    "please pls plz whatever you do i ne bitte s'il vous plaît plait svp por favor per favore alsjeblieft".split())
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_CJK_REFUSAL = re.compile(r"(请|請)?(不要|别|別|勿)")
_FEW_WORDS_UNDER = 10  # the words of a body that only answers its subject
_FEW_CJK_UNDER = 20


_AROUND_A_WORD = " \t\r\n.!?。！？…-–—:;,\"'"
_FEW_CHARS = 24  # own words this short, with no phrase that asks, are too few to decide on
_FEW_CJK = 6  # the same in a script written without spaces: characters, not words
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
SENTENCE_BREAK = re.compile(r"[.!?](?=\s|$)|[。！？\n]")  # not the dots of an address
# What a curt request is, alone ("Remover.", "Basta.", "TD", "解除。"): those few words decide.
_CURT = re.compile(
    r"\b(stopp?(?! by)|remove|unsub\w*|unsuscri\w*|no more|enough|cancel|delete|"
    r"baja|borrar|b[óo]rrenme|no m[áa]s|basta|quitar|qu[íi]t\w+|desuscribir|elimin\w*|elim[íi]n\w*|no enviar|"
    r"arr[êe]te[zs]?|d[ée]sinscri\w*|d[ée]sabonn\w*|supprim\w*|retirez|retirer|"
    r"abmelden|abbestellen|austragen|entfernen|l[öo]sch\w*|"
    r"remover|remova|descadastr\w*|parem?|parar|chega|cancelar|exclu\w*|tirem|"
    r"rimuov\w*|cancellami|disiscri\w*|togli\w*|"
    r"afmelden|uitschrijven|verwijder\w*|stoppen|haal me eraf)\b|^\s*td\s*$|"
    r"解除|不要です|いらない|いりません|配信停止|止めて|退订|退訂|退定|取消|别发|別發|别寄|別寄|删|刪|移除|勿|别再|別再|不用再|不要再|不要了|不需要",
    _I,
)
# A short reply that says not to: "Bitte nicht löschen", "Non rimuovere", "不要删除", "返信不要".
_NOT_CURT = re.compile(
    r"\b(nicht|non|niet|n[ãa]o|don'?t|do not|not|never|ne pas|no (borrar|eliminar|remover|quitar))\b|"
    r"しないで|不要删|不要刪|别删|別刪|不要客气|不客气|返信不要|停止中",
    _I,
)


@dataclass(frozen=True)
class Intent:
    asked: tuple[str, ...] = ()  # phrases that ask to unsubscribe
    negated: tuple[str, ...] = ()  # phrases that say the opposite
    stays: tuple[str, ...] = ()  # words that say the person wants the mail
    # A word or two and no phrase that asks ("ja", "obrigada", "了解です"): the judge scored such
    # replies as requests on mail unlike its corpus; too little to tell, so a person decides.
    too_few: bool = False
    # A word or two that ask, and nothing else ("Stopp", "Entfernen", "移除"): a request as
    # complete as one can be, whatever the judge makes of so few features.
    curt: bool = False


# Apostrophes as phones and word processors write them ("don’t"): the patterns say "'".
APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\uff07": "'"})


def find_intent(text: str) -> Intent:
    text = text.translate(APOSTROPHES)  # one character for one: the positions stay the same
    asked, negated = [], []
    for match in _PHRASES.finditer(text):
        phrase = match.group(0).strip()
        (negated if _negated(text, match.start(), match.end()) else asked).append(phrase)
    stays = [match.group(0) for match in _STAYS.finditer(text)]
    stays.extend(match.group(0) for match in _WANTS_MORE.finditer(text)
                 if not _negated(text, match.start(), match.end()))
    few, curt_word = _few_words(text), _CURT.search(text) is not None and _NOT_CURT.search(text) is None
    # Curt is the word alone ("Stopp!"), not a word among others ("Cancel order 4411", "Stop SMS").
    curt = (few and curt_word and _CURT.fullmatch(text.strip(_AROUND_A_WORD)) is not None
            and not negated and not stays)
    return Intent(tuple(asked), tuple(negated), tuple(stays), too_few=not asked and few and not curt_word, curt=curt)


def has_a_phrase(text: str) -> bool:
    """Whether a phrase that asks to unsubscribe is in the text, negated or not."""
    return _PHRASES.search(text) is not None


def doubts_in(text: str, questions: bool = True) -> list[str]:
    """Words that take a request back, deny it, are of another channel (DOUBTS) or begin a request
    and do not make it (BEGUN); or that warn (WARNINGS, CONDITIONS before LEAVING_LATER), ask to see
    what is kept (ACCESS) or, with `questions`, ask about the list or the person's data
    (QUESTIONS), where nothing else asks. Apart from find_intent: about half its time again, asked
    only of what would be decided a request."""
    text = text.translate(APOSTROPHES)
    doubts = [match.group(0) for words in (_DOUBTS, _BEGUN) for match in words.finditer(text)]
    warnings = [match.span() for match in _WARNINGS.finditer(text)] + _conditional_warnings(text)
    others = (_ACCESS, _QUESTIONS) if questions else (_ACCESS,)
    alone = [warnings, *([match.span() for match in words.finditer(text)] for words in others)]
    if any(alone):
        phrases = [match.span() for match in _PHRASES.finditer(text)]  # read once for all of them
        for spans in alone:
            if spans and _nothing_else_asks(spans, phrases):
                doubts += [text[start:end] for start, end in spans]
    return doubts


def _nothing_else_asks(spans: list[tuple[int, int]], phrases: list[tuple[int, int]]) -> bool:
    """Whether no phrase that asks stands apart from the warnings (or questions) at `spans` ("One
    more and I'm out. Remove me anyway." asks); a phrase running on from one ("vou cancelar minha
    inscrição") is of it."""
    return all(any(begin < end and start < finish for begin, finish in spans) for start, end in phrases)


def turned_down(subject: str, body: str) -> bool:
    """The subject asks, and the few words under it, asking nothing, turn it down ("Unsubscribe" /
    "No thanks."): the subject alone decided such a message, and it said the opposite."""
    body = body.translate(APOSTROPHES).strip(_AROUND_A_WORD)
    if not body or not (_PHRASES.search(subject) or _CURT.search(subject)):
        return False
    if CJK.search(body):
        few = sum(1 for char in body if char.isalnum()) <= _FEW_CJK_UNDER
    else:
        few = len(body.split()) <= _FEW_WORDS_UNDER
    asks = _PHRASES.search(body) is not None or (_CURT.search(body) is not None and _NOT_CURT.search(body) is None)
    return few and not asks and _LEAVES_ANYWAY.search(body) is None and _REFUSAL.search(body) is not None


def _only_refusing(text: str) -> bool:
    """A negation and a few words around it that say nothing else ("Please do NOT", "Never", "请不要")."""
    if CJK.search(text):
        return _CJK_REFUSAL.fullmatch("".join(char for char in text if char.isalnum())) is not None
    words = [word.lower() for word in _WORD.findall(text)]
    return (0 < len(words) <= 5 and all(word in _REFUSING or word in _FILLER for word in words)
            and any(word in _REFUSING for word in words))


def negated_across(subject: str, body: str) -> bool:
    """A subject that runs on into the body ("Please do NOT" / "unsubscribe", "Never" / "Stop."):
    what asks at the body's start, negated by the subject's last words. The two are joined by a
    line break in the text read, which ends a clause, so find_intent does not see it."""
    subject = subject.translate(APOSTROPHES).rstrip()
    # Only a subject of refusing and courtesy words that ends in the negation: "Not interested",
    # "Publicidad no", "Je ne lis pas" over "Please unsubscribe me" give a reason, and ask.
    if not _NEGATION_AT_END.search(subject) or not _only_refusing(subject.strip(_AROUND_A_WORD)):
        return False
    body = body.translate(APOSTROPHES).lstrip(_AROUND_A_WORD)
    start = len(subject) + 1
    joined = f"{subject} {body[:80]}"
    # What asks opens the body ("unsubscribe", "Stop."), not "the link does not work: I clicked".
    return any(found is not None and found.start() == start
               for found in (_PHRASES.search(joined, start), _CURT.search(joined, start)))


def _few_words(text: str) -> bool:
    """Own words too few to tell what they ask: a word or two, or in Chinese or Japanese a few
    characters (they are written without spaces, so a sentence is one "word")."""
    if CJK.search(text):
        return sum(1 for char in text if char.isalnum()) <= _FEW_CJK
    return len(text) <= _FEW_CHARS and len(text.split()) <= 3


def _negated(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - 40): start]
    clause_breaks = list(_CLAUSE_END.finditer(before))
    if clause_breaks:
        before = before[clause_breaks[-1].end():]
    after = text[end: end + 20]
    cut = _CLAUSE_END.search(after)
    if cut:
        after = after[: cut.start()]
    inside = text[start:end]
    return bool(_NEGATION_BEFORE.search(before) or _NEGATION_AFTER.search(after) or _NEGATION_INSIDE.search(inside))


# Words that ask for everything: a request that says them is for all emails, whatever link it quotes.
_EVERYTHING = re.compile(
    r"\b(everything|all (of )?(your |the |these |my )?(e-?mails?|mails?|messages|newsletters|communications|lists?)|"
    r"any (more )?(e-?mails?|mail|messages)|todo|todos|todas|tous|toutes|alle[ns]?|tutt[eio]|tudo|"
    r"nada m[aá]s|geen enkele)\b|すべて|全て|全部|所有",
    _I,
)


# Words that point at the mail being answered: "unsubscribe me from this", "this newsletter".
_THIS = re.compile(r"\b(from|of|to) this\b|\bthis (newsletter|list|mailing|one|e-?mail|topic|kind)\b", _I)


def scope_in_words(text: str, topics: Mapping[str, str], linked: Scope = ALL_EMAILS) -> Scope:
    """The one topic a person's words name, `linked` (the scope of the link in the mail they
    answer) when they point at "this", or all emails when they say everything, name several or
    nothing clear: unclear words mean all emails, the safe reading for a suppression list."""
    if _EVERYTHING.search(text):
        return ALL_EMAILS
    named = {topic for topic, pattern in _topic_patterns(tuple(topics.items())) if pattern.search(text)}
    if len(named) == 1:
        return Scope.of_topic(named.pop())
    if not named and _THIS.search(text):
        return linked
    return ALL_EMAILS


@functools.lru_cache(maxsize=4)
def _topic_patterns(topics: tuple[tuple[str, str], ...]) -> list[tuple[str, re.Pattern]]:
    """Per topic: its id (also with spaces, and without a plural s) or its label, as whole words."""
    patterns = []
    for topic, label in topics:
        spaced = topic.replace("-", " ").replace("_", " ")
        forms = {topic, spaced, spaced.removesuffix("s"), label.lower()}
        patterns.append((topic, re.compile(r"\b(" + "|".join(map(re.escape, sorted(forms))) + r")\b", _I)))
    return patterns
