"""Of the addresses in a person's own words, whether they are the ones the person asks to remove.

A request that names an address is honoured for that address ("please unsubscribe
jane@example.com"). But people name addresses for other reasons too, and a probing helper's
honest mail switched off the person named, not the sender: a colleague to write to instead, the
address invoices go to, a signature's office address, the address a confirmation should go to.
Of 90 such messages by a writer who saw no code, the reader took 40 as requests for the address
named (docs/email.md). So a request naming others goes to a person when its words say that
those addresses are not what is asked about:

- the words ask for the sender's own address ("remove me", "désinscrivez-moi", "退订我"):
  whatever else they name, it is not clear that it is to go too;
- an address stands in the signature: below the request, on a line among the name, the title and
  the telephone (a list of addresses to remove stands above them, or after a line ending in ":");
- the address's own clause gives it another use: orders, invoices, a confirmation, "instead",
  "keep sending to", "そのまま", "照常";
- the address is at our own domain (a support address they wrote to before).

Words, not a model: measured on mail the rules were not written from (docs/email.md).
"""

import re
from collections.abc import Collection

from suppression.inbound.intent import has_a_phrase, words_pattern

# The person asks for themself: the object of the asking verb is the first person.
SELF = [
    # en
    r"\b(remove|unsubscribe|take|delete|drop|opt|exclude|erase|get|scrub|strike) me\b",
    r"\bme (off|out of|from) (your|the|this|all|any)\b",
    r"\b(stop|quit|cease) (sending|e-?mailing|mailing|contacting|spamming|messaging) me\b",
    r"\b(don'?t|do not|never) (send|e-?mail|mail|contact|write to) me\b",
    r"\bi (no longer|don'?t|do not) (want|wish|need) (to (receive|get|hear)|these|your|any|this)\b",
    r"\bi('d| would| want| wish)( like)? to (unsubscribe|be removed|be taken off|opt out|stop receiving)\b",
    r"\bcancel my\b", r"\b(just|only) me\b",
    # de
    r"\b(tragen|melden|nehmen|l[öo]schen|streichen|entfernen) sie mich\b",
    r"\bmich\b[^.!?\n]{0,30}\b(aus|ab|abmelden|austragen|entfernen|l[öo]schen|streichen)\b",
    r"\bich (m[öo]chte|will|w[üu]rde) (mich |gerne |gern )*(abmelden|austragen|keine)",
    r"\bmir (keine|nichts)\b", r"\bschicken sie mir\b",
    # fr
    r"\b(d[ée]sinscri|d[ée]sabonn|retir|supprim|enlev|ray|radi)\w*[- ]moi\b",
    r"\bme (d[ée]sinscrire|d[ée]sabonner|retirer|supprimer|rayer|enlever|radier)\b",
    r"\bje ne (veux|souhaite|d[ée]sire) plus (recevoir|rien)\b",
    r"\b(arr[êe]tez|cessez) de m['’]", r"\bne m['’](envoyez|[ée]crivez) plus\b",
    # es
    r"\b(d[ae]r|den|dad|des)me de baja\b", r"\bme (den|des|d[ée]is) de baja\b",
    r"\b(b[óo]rr|elimin|quit|sac|exclu)\w*(me|adme|enme)\b",
    r"\bno (quiero|deseo) (seguir )?recibir\b", r"\bdej(en|ad|e) de (enviarme|mandarme|escribirme)\b",
    r"\bno me (env[íi]en|manden|escriban)\b",
    # it
    r"\b(disiscrivet|togliet|cancellat|rimuovet|levat|eliminat)emi\b",
    r"\b(disiscriver|toglier|cancellar|rimuover|eliminar)mi\b",
    r"\bnon (voglio|desidero) (pi[uù] )?ricevere\b", r"\bvorrei non ricevere\b",
    r"\bsmettete(la)? di (inviar|mandar|scriver)mi\b", r"\bnon (mandate|inviate|scrivete)mi\b",
    # pt
    r"\bme (descadastr|remov|tir|exclu|desinscrev)\w*", r"\b(descadastr|remov|tir|exclu)\w*-me\b",
    r"\bn[ãa]o quero mais receber\b", r"\bparem de me\b", r"\bn[ãa]o me (mandem|enviem)\b", r"\bcancelem minha\b",
    # nl
    r"\b(haal|schrijf|verwijder|zet|meld) (me|mij)\b", r"\b(me|mij) (af|uit) te (melden|schrijven)\b",
    r"\bwil (me|mij) (graag )?(afmelden|uitschrijven)\b", r"\bik wil geen\b", r"\bmeer naar (mij|me)\b",
    # zh (Japanese leaves the person out: its requests are read by the other two rules)
    r"(给|給)我(发|發)", r"退订我", r"我(就)?(都)?不(想|要|需要)(再)?(收|接)", r"把我(从|從)", r"我(就)?不要了",
]
# The address is for something else, or is to stay.
OTHER_USE = [
    r"\binstead\b", r"\bfrom now on\b", r"\bkeep (sending|it|that one|this one)\b", r"\bstill wants?\b",
    r"\b(invoices?|orders?|confirmations?|receipts?)\b",
    r"\bdrinbleiben\b", r"\bbleiben\b", r"\bbest[äa]tigung", r"\brechnungen\b", r"\bab sofort\b",
    r"\bne rien changer\b", r"\bcommandes\b", r"\bfactures\b", r"\bd[ée]sormais\b",
    r"\bseguir igual\b", r"\bpedidos\b", r"\bfacturas\b", r"\bcorreo general\b",
    r"\blasciatelo\b", r"\bordini\b", r"\bfatture\b", r"\bconferma\b", r"\bpec\b",
    r"\bfaturas\b",
    r"\bbevestiging\b", r"\bfacturen\b", r"\bblijven\b", r"\bbestellingen\b",
    r"そのまま", r"発注", r"照常", r"订货", r"发票", r"保持不变", r"继续收",
]
_SELF = re.compile(words_pattern(SELF), re.IGNORECASE)
_OTHER_USE = re.compile(words_pattern(OTHER_USE), re.IGNORECASE)
_CLAUSE_END = re.compile(r"[.!?;。！？；\n]")
_SENTENCE_END = tuple(".!?。！？")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
_SIGNATURE_LINE = 60  # characters: a line of a signature block is short


def only_mentioned(text: str, others: list[str], our_domains: Collection[str] = ()) -> str | None:
    """Why `others` (addresses other than the sender's, named in the person's own words `text`)
    may not be the ones the person asks to remove; None if the words say nothing of the kind.
    An address at one of `our_domains` (the request addresses') is ours: one people wrote to
    before ("I already wrote to support@..."), not a recipient of our mail."""
    ours = [address for address in others if address.rpartition("@")[2] in our_domains]
    if ours:
        return f"names an address of ours: {', '.join(ours)}"
    asked_for_self = _SELF.search(text)
    if asked_for_self:
        return f"the words ask for the sender's own address ({asked_for_self.group(0)!r}) and name others"
    signed = [address for address in others if _in_signature(text, address)]
    if signed:
        return f"named in the signature, not asked about: {', '.join(signed)}"
    for address in others:
        use = _other_use(text, address)
        if use:
            return f"{address} is named for another use ({use!r})"
    return None


def _where(text: str, address: str) -> int:
    # The spelling in the text may differ from the canonical address in case only.
    return text.lower().find(address.rpartition("@")[0].lower() + "@")


def _in_signature(text: str, address: str) -> bool:
    """On a line of the block of short lines that ends the text, after one of its lines that is
    no address (the name, the title): a list of addresses to remove ends before a name."""
    block: list[str] = []
    for line in reversed(text.rstrip().split("\n")):
        line = line.strip()
        if line and (len(line) > _SIGNATURE_LINE or has_a_phrase(line) or line.endswith((":", "："))
                     or (line.endswith(_SENTENCE_END) and (_CJK.search(line) or len(line.split()) > 4))):
            break
        block.append(line)
    named = address.rpartition("@")[0].lower() + "@"
    after_a_name = False
    for line in reversed(block):
        if line and "@" not in line:
            after_a_name = True
        elif after_a_name and named in line.lower():
            return True
    return False


def _other_use(text: str, address: str) -> str | None:
    """A word of another use in the address's own clause."""
    at = _where(text, address)
    if at < 0:
        return None
    start = max((end.end() for end in _CLAUSE_END.finditer(text, 0, at)), default=0)
    end = _CLAUSE_END.search(text, at + len(address))
    found = _OTHER_USE.search(text, start, end.start() if end else len(text))
    return found.group(0) if found else None
