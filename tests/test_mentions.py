"""Finding a person in a message's text, however the address is spelled or encoded (pure)."""

import base64
import json
import quopri
import unicodedata

from suppression.inbound.mentions import Person, decode_encoded_words, keys_naming, messages_naming

PERSON = Person(("erase.target@xn--bcher-kva.de", "erase.target@bücher.de"))


def message(headers: str, body: bytes, charset: str = "utf-8", encoding: str = "8bit") -> bytes:
    return (f"From: someone@example.org\r\n{headers}MIME-Version: 1.0\r\nContent-Type: text/plain; charset={charset}\r\n"
            f"Content-Transfer-Encoding: {encoding}\r\n\r\n").encode() + body


def named(raw: bytes) -> bool:
    return messages_naming(PERSON.forms, [(1, raw, ())]) == [1]


def test_spellings_of_the_same_address_are_found():
    for text in ("ERASE.TARGET@BÜCHER.DE", unicodedata.normalize("NFD", "erase.target@bücher.de"),
                 "Erase.Target@XN--BCHER-KVA.DE", "ｅｒａｓｅ.ｔａｒｇｅｔ＠ｂüｃｈｅｒ．ｄｅ", "erase.target@bücher。de",
                 "<erase.target@bücher.de>", "mailto:erase.target@bücher.de?subject=x", "end: erase.target@bücher.de."):
        assert PERSON.named_in(text), text


def test_other_people_are_not_the_person():
    for text in ("xerase.target@bücher.de", "erase.target@bücher.dev", "erase.target@bücher.de.evil.example",
                 "erase.target+news@bücher.de", "erase.targetx@bücher.de", "target@bücher.de", "erase.target@cher.de"):
        assert not PERSON.named_in(text), text


def test_encodings_are_read_before_searching():
    qp = quopri.encodestring("Schreiben Sie an erase.target@bücher.de bitte".encode())
    assert named(message("", qp, encoding="quoted-printable"))
    for charset, text in (("iso-8859-1", "Kontakt: ERASE.TARGET@BÜCHER.DE"), ("utf-16", "連絡先 erase.target@bücher.de"),
                          ("cp932", "連絡先 ＥＲＡＳＥ．ＴＡＲＧＥＴ＠ＸＮ－－ＢＣＨＥＲ－ＫＶＡ．ＤＥ")):
        body = base64.encodebytes(text.encode(charset))
        assert named(message("", body, charset=charset, encoding="base64")), charset
    assert named(message("", b"<a href='mailto:erase.target&#64;b&uuml;cher.de'>x</a>", charset="utf-8"))
    assert named(message("", b"https://x.example/?to=erase.target%40b%C3%BCcher.de"))
    assert not named(message("", b"nobody here"))


def test_rfc2047_words_are_decoded_and_adjacent_ones_joined():
    data = "Erase <erase.target@bücher.de>".encode()
    split = "=?utf-8?b?" + base64.b64encode(data[:20]).decode() + "?=\r\n =?utf-8?b?" + base64.b64encode(data[20:]).decode() + "?="
    assert decode_encoded_words(split) == "Erase <erase.target@bücher.de>"  # ü is split across the two words
    assert named(message(f"Cc: {split}\r\n", b"hello"))
    assert named(message("Cc: =?iso-8859-1?q?ERASE=2ETARGET=40B=DCCHER=2EDE?=\r\n", b"hello"))


def test_scrub_replaces_every_spelling_in_place_and_keeps_json_lists():
    record = "erased:0f"
    assert PERSON.scrub("Re: from ERASE.TARGET@BÜCHER.DE and other@x.de", record) == f"Re: from {record} and other@x.de"
    nfd = unicodedata.normalize("NFD", "Erase.Target@Bücher.de")
    assert PERSON.scrub(f"cc {nfd}!", record) == f"cc {record}!"
    listed = json.dumps(["erase.target@xn--bcher-kva.de", "other@x.de", "ERASE.TARGET@BÜCHER.DE"])
    assert json.loads(PERSON.scrub(listed, record)) == [record, "other@x.de", record]
    assert PERSON.scrub("nothing", record) == "nothing" and PERSON.scrub(None, record) is None


def test_stored_keys_match_the_whole_key_only():
    keys = ["erase.target@bücher.de", "<ERASE.TARGET@XN--BCHER-KVA.DE>", "erase.target@bücher.de.x", "x@bücher.de"]
    assert keys_naming(PERSON.forms, keys) == keys[:2]
    assert keys_naming(("erased:ab12",), ["erased:ab12", "erased:ab123"]) == ["erased:ab12"]
