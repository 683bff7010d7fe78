"""Which language a citizen wrote in: Khmer (`km`), English (`en`), or no signal (None).

The assistant answers in the language of each message. Khmer script is unambiguous; Latin
script is English unless it reads as romanised Khmer ("sousdey bong", "orkun", "ot mean
luy"), which people type when Khmer is hard to type on their phone. Messages with no signal
("ok", "2", "👍", button payloads) keep the conversation's current language.
"""

from __future__ import annotations

import regex

from khmer_nlu.normalize import normalize

KHMER = "km"
ENGLISH = "en"

_KHMER_LETTER = regex.compile(r"[\u1780-\u17d3\u17dc\u17dd\u19e0-\u19ff]")
_LATIN_WORD = regex.compile(r"[a-z]+")

# Romanised Khmer words that do not occur in English chat (spelling variants included).
ROMANISED_KHMER = frozenset(
    """
    sousdey susdei sousdei suosdey suor sour sor sdey sdei chumreap chomreap chumrab
    orkun orkoun awkun akun arkun orkunh bong oun aun nh knhom knyom kyom khnhom
    baat bat jas chas cha ot otte te mean min deng dern del chong jong jg chng
    luy loy lui prak kroup krub tov tv mok nov nauv kat kart bann ban kru kro
    pteah phteah khum sangkat srok khet phum sala leak lok ke yerng yeung
    klach chhea chhoeu chheu kmean tae tam mdech medech ponman pon-man neak
    juy chuy jouy phong pong som sum pel tngai thngai sabay sok
    """.split()
)
# Words that say nothing about the language: English words that are also romanised-Khmer
# spellings, chat fillers everyone uses, and programme acronyms.
_NEUTRAL = frozenset(
    """
    bat ban som pong tae ke mean min cha te ok okay oke okey kk hi
    nssf idpoor hef nsaf nspc tvet wing aba acleda pin otp id
    """.split()
)
_KHMER_SHARE_FOR_KHMER = 0.3  # share of letters in Khmer script that makes a message Khmer
_ROMANISED_SHARE_FOR_KHMER = 0.5  # share of Latin words that are romanised Khmer


def detect_language(text: str) -> str | None:
    """Return "km", "en" or None when the text gives no usable signal."""
    if not text or text.startswith("/"):  # a button payload such as /affirm carries no language
        return None
    text = normalize(text)
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return None
    khmer = sum(1 for c in letters if _KHMER_LETTER.match(c))
    if khmer / len(letters) >= _KHMER_SHARE_FOR_KHMER:
        return KHMER
    words = _LATIN_WORD.findall(text.lower())
    signal = [w for w in words if w not in _NEUTRAL]
    if not signal:
        return None
    romanised = sum(1 for w in signal if w in ROMANISED_KHMER)
    if romanised / len(signal) >= _ROMANISED_SHARE_FOR_KHMER:
        return KHMER
    if len(letters) < 2:  # "k", "y": too short to call
        return None
    return ENGLISH
