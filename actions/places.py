"""Cambodia's provinces, districts and communes (knowledge/gazetteer/) and finding them in text.

Citizens name their place the way they say it: in Khmer with or without spaces or zero-width
spaces, or in Latin letters with their own spelling ("Kompong Cham", "Battambong",
"Siemreap"), often with a unit word (ឃុំ, srok, province). The matcher therefore compares
names without spaces, folds common romanisation variants, tolerates a typo in longer Latin
names, and uses unit words and the other places mentioned to pick one unit: the most
specific one the message supports. When a name fits several places equally well, it returns
them all so the assistant can ask.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

from actions.knowledge import KNOWLEDGE_DIR, KnowledgeError, read_yaml
from actions.text import fold

GAZETTEER_DIR = KNOWLEDGE_DIR / "gazetteer"
PROVINCE, DISTRICT, COMMUNE = "province", "district", "commune"
LEVEL_BY_CODE_LENGTH = {2: PROVINCE, 4: DISTRICT, 6: COMMUNE}
FILES = {PROVINCE: "provinces", DISTRICT: "districts", COMMUNE: "communes"}
KIND_BY_UNIT = {
    "Khaet": "khaet",
    "Reach Theani": "reach_theani",
    "Srok": "srok",
    "Krong": "krong",
    "Khan": "khan",
    "Khum": "khum",
    "Sangkat": "sangkat",
}
LEVEL_BY_KIND = {
    "khaet": PROVINCE,
    "reach_theani": PROVINCE,
    "srok": DISTRICT,
    "krong": DISTRICT,
    "khan": DISTRICT,
    "khum": COMMUNE,
    "sangkat": COMMUNE,
}

# Unit words: a kind (ឃុំ = khum) or only a level ("commune" is said of khum and sangkat).
KHMER_HINTS = {
    "ឃុំ": "khum",
    "សង្កាត់": "sangkat",
    "ស្រុក": "srok",
    "ក្រុង": "krong",
    "ខណ្ឌ": "khan",
    "ខេត្ត": "khaet",
    "រាជធានី": "reach_theani",
}
# English unit words follow the name ("Siem Reap province"); romanised Khmer ones usually
# come first ("khum Banteay Neang") but are also written after it.
ENGLISH_HINT_WORDS = frozenset(
    {
        "commune",
        "quarter",
        "district",
        "municipality",
        "city",
        "town",
        "province",
        "provincial",
        "capital",
    }
)
LATIN_HINTS = {
    "khum": "khum",
    "sangkat": "sangkat",
    "quarter": "sangkat",
    "commune": COMMUNE,
    "srok": "srok",
    "krong": "krong",
    "municipality": "krong",
    "city": "krong",
    "town": "krong",
    "khan": "khan",
    "district": DISTRICT,
    "khet": "khaet",
    "khett": "khaet",
    "khaet": "khaet",
    "province": PROVINCE,
    "provincial": PROVINCE,
    "capital": "reach_theani",
}
# One spelling for romanisation variants, applied to names and to what citizens type.
LATIN_VARIANTS = {
    "kompong": "kampong",
    "kampung": "kampong",
    "kg": "kampong",
    "phnum": "phnom",
    "stung": "stueng",
    "steung": "stueng",
    "stoeng": "stueng",
    "toul": "tuol",
    "boeung": "boeng",
    "beung": "boeng",
    "bueng": "boeng",
    "prek": "praek",
    "thum": "thom",
}
# Numbered units: the gazetteer writes "Boeng Keng Kang Ti Muoy" (ទី ១, "the first"),
# citizens "Boeung Keng Kang 1"; both become "...kang1". "Ti" before anything else is a name.
LATIN_ORDINALS = {"muoy": "1", "pir": "2", "bei": "3", "buon": "4", "pram": "5"}
LATIN_ORDINAL_WORD = "ti"
# In Khmer, ទី before a digit is dropped the same way: បឹងកេងកងទី ១ = បឹងកេងកង១.
_KHMER_ORDINAL = re.compile(r"ទី\s*(?=\d)")
# Other names in common use for a unit (Latin, compared without spaces), by gazetteer code.
LATIN_ALIASES = {
    "sihanoukville": "18",
    "kampongsom": "18",
    "pouthisat": "15",
    "pousat": "15",
}
# Words of the sentences around a place name; a window with one of them is not fuzzy-matched.
LATIN_FILLER = frozenset(
    """
    i im i'm me my mine we our you your he she it they a an the this that there here in at
    on of from near to for and or is am are was be live lives living stay staying home house
    village phum please want know where which what how when who office go get enrol enroll
    register hello hi ok okay yes no not sure thanks thank can do does about tell name
    """.split()
)
MIN_FUZZY_CHARS = 5  # shorter Latin names must be typed exactly
FUZZY_CUTOFF = 0.85  # difflib ratio; "battambong" ~ "battambang" is 0.9
MIN_NAME_CHARS_WITHOUT_HINT = {"km": 4, "latin": 4}  # shorter names need a unit word
_LATIN_TOKEN = re.compile(r"[a-z0-9]+")
_APOSTROPHES = re.compile("['’`]")
_KHMER_LETTER = re.compile("[\u1780-\u17d3]")
_KHMER_SPLIT = re.compile(r"[\s\u17d4-\u17da,.;:!?()\"«»/-]+")


@dataclass(frozen=True)
class Place:
    """One administrative unit; the code's prefixes are its parents (010201 < 0102 < 01)."""

    code: str
    kind: str
    name_km: str
    name_latin: str

    @property
    def level(self) -> str:
        return LEVEL_BY_KIND[self.kind]

    def is_within(self, other: Place) -> bool:
        """True when this place is `other` or lies inside it."""
        return self.code.startswith(other.code)


@dataclass(frozen=True)
class PlaceMatch:
    """The place found in a text, or the candidates that fit it equally well, or nothing."""

    place: Place | None = None
    candidates: tuple[Place, ...] = ()
    name_km: str = ""
    name_latin: str = ""
    hint: str | None = None


@dataclass
class _Mention:
    """Where a name was found in the text and which places carry that name."""

    script: str
    start: int
    end: int
    places: list[Place]
    exact: bool
    hint: str | None = None
    name_km: str = ""
    name_latin: str = ""

    def overlaps(self, other: _Mention) -> bool:
        return self.script == other.script and self.start < other.end and other.start < self.end


def _latin_tokens(text: str) -> list[str]:
    tokens = [
        LATIN_VARIANTS.get(token, token)
        for token in _LATIN_TOKEN.findall(_APOSTROPHES.sub("", fold(text)))
    ]
    numbered: list[str] = []
    for token in tokens:
        number = LATIN_ORDINALS.get(token, token)
        if numbered and numbered[-1] == LATIN_ORDINAL_WORD and number.isdigit():
            numbered[-1] = number  # "ti muoy", "ti 1" -> "1"
        else:
            numbered.append(token)
    return numbered


def _latin_key(name: str) -> str:
    return "".join(_latin_tokens(name))


def _khmer_folded(text: str) -> str:
    return _KHMER_ORDINAL.sub("", fold(text))


def _khmer_key(name: str) -> str:
    return _khmer_folded(name).replace(" ", "")


@dataclass
class Gazetteer:
    """All units by code, with indexes of their names for matching."""

    places: Mapping[str, Place]
    _by_km: dict[str, list[Place]] = field(default_factory=lambda: defaultdict(list))
    _by_latin: dict[str, list[Place]] = field(default_factory=lambda: defaultdict(list))
    # names by (first letter, length): a typo rarely changes the first letter, and this
    # keeps fuzzy matching to a few dozen comparisons per word
    _latin_buckets: dict[tuple[str, int], list[str]] = field(
        default_factory=lambda: defaultdict(list)
    )
    _km_buckets: dict[tuple[str, int], list[str]] = field(
        default_factory=lambda: defaultdict(list)
    )
    _max_tokens: int = 0  # the most words in a Latin name: the widest window to compare

    def __post_init__(self) -> None:
        for place in self.places.values():
            self._by_km[_khmer_key(place.name_km)].append(place)
            self._by_latin[_latin_key(place.name_latin)].append(place)
        for alias, code in LATIN_ALIASES.items():
            self._by_latin[alias].append(self.places[code])
        for key in self._by_latin:
            self._latin_buckets[key[0], len(key)].append(key)
        for key in self._by_km:
            self._km_buckets[key[0], len(key)].append(key)
        self._max_tokens = max(len(_latin_tokens(p.name_latin)) for p in self.places.values())

    # --- hierarchy ---------------------------------------------------------------------

    def province_of(self, place: Place) -> Place:
        return self.places[place.code[:2]]

    def district_of(self, place: Place) -> Place | None:
        return (
            self.places[place.code[:4]]
            if place.level == COMMUNE
            else (place if place.level == DISTRICT else None)
        )

    # --- matching ------------------------------------------------------------------------

    def find(self, text: str) -> PlaceMatch:
        """The place `text` names (see the module docstring for how)."""
        mentions = self._khmer_mentions(text) + self._latin_mentions(text)
        mentions = _without_overlaps(mentions)
        if not mentions:
            return PlaceMatch()
        candidate_sets = [_narrow(mention) for mention in mentions]
        every = {place for places in candidate_sets for place in places}
        support = {
            place: sum(any(place.is_within(c) for c in places) for places in candidate_sets)
            for place in every
        }
        best = max(support.values())
        tied = [place for place in every if support[place] == best]
        # between nested candidates, the most specific wins (a commune over its district)
        tied = [p for p in tied if not any(o is not p and o.is_within(p) for o in tied)]
        if len(tied) == 1:
            return PlaceMatch(place=tied[0])
        asked = next(
            m
            for m, places in zip(mentions, candidate_sets, strict=True)
            if set(tied) & set(places)
        )
        return PlaceMatch(
            candidates=tuple(sorted(tied, key=lambda place: place.code)),
            name_km=asked.name_km,
            name_latin=asked.name_latin,
            hint=asked.hint,
        )

    def _khmer_mentions(self, text: str) -> list[_Mention]:
        folded = _khmer_folded(text)
        if not _KHMER_LETTER.search(folded):
            return []
        squeezed = folded.replace(" ", "")
        # where spaces were: a name may span one ("បាត់ ដំបង") only if it starts and ends
        # at a word edge, not halfway through the words on either side
        edges = {0, len(squeezed)}
        for position, char in enumerate(folded):
            if char == " ":
                edges.add(position - folded.count(" ", 0, position))
        mentions = []
        for key, places in self._by_km.items():
            start = squeezed.find(key)
            while start != -1:
                hint = _khmer_hint_before(squeezed, start)
                end = start + len(key)
                spans_a_space = any(start < edge < end for edge in edges)
                at_edges = (start in edges or hint is not None) and (
                    end in edges or _khmer_hint_at(squeezed, end)
                )
                long_enough = hint is not None or len(key) >= MIN_NAME_CHARS_WITHOUT_HINT["km"]
                if long_enough and (at_edges or not spans_a_space):
                    mentions.append(_Mention("km", start, end, places, True, hint))
                start = squeezed.find(key, start + 1)
        if not mentions:
            mentions = self._khmer_fuzzy(folded)
        for mention in mentions:
            mention.name_latin = mention.places[0].name_latin
            mention.name_km = mention.places[0].name_km
        return mentions

    def _khmer_fuzzy(self, folded: str) -> list[_Mention]:
        """Compare each unit-word-led chunk of the text with names of similar length."""
        mentions = []
        offset = 0
        for segment in _KHMER_SPLIT.split(folded):
            for hint, chunk in _khmer_chunks(segment):
                if not _KHMER_LETTER.search(chunk):
                    offset += len(chunk) + 1
                    continue
                places = self._fuzzy(chunk, self._by_km, self._km_buckets)
                if places:
                    mentions.append(
                        _Mention("km", offset, offset + len(chunk), places, False, hint)
                    )
                offset += len(chunk) + 1
        return mentions

    def _latin_mentions(self, text: str) -> list[_Mention]:
        tokens = _latin_tokens(text)
        mentions = []
        for size in range(self._max_tokens, 0, -1):
            for start in range(len(tokens) - size + 1):
                window = tokens[start : start + size]
                key = "".join(window)
                hint = _latin_hint(tokens, start, start + size)
                places = self._by_latin.get(key)
                exact = places is not None
                if not exact and not any(t in LATIN_FILLER or t in LATIN_HINTS for t in window):
                    places = self._fuzzy(key, self._by_latin, self._latin_buckets)
                if not places:
                    continue
                is_province = any(place.level == PROVINCE for place in places)
                if len(key) < MIN_NAME_CHARS_WITHOUT_HINT["latin"] and not (hint or is_province):
                    continue
                if key in LATIN_FILLER and not hint:
                    continue
                mentions.append(_Mention("latin", start, start + size, list(places), exact, hint))
        for mention in mentions:
            mention.name_latin = mention.places[0].name_latin
            mention.name_km = mention.places[0].name_km
        return mentions

    @staticmethod
    def _fuzzy(
        key: str,
        index: Mapping[str, list[Place]],
        buckets: Mapping[tuple[str, int], list[str]],
    ) -> list[Place]:
        """Places whose name is closest to `key`, if close enough; [] otherwise."""
        if len(key) < MIN_FUZZY_CHARS:
            return []
        matcher = SequenceMatcher(autojunk=False)
        matcher.set_seq2(key)
        best, found = FUZZY_CUTOFF, []
        low = int(len(key) * FUZZY_CUTOFF / (2 - FUZZY_CUTOFF))
        high = int(len(key) * (2 - FUZZY_CUTOFF) / FUZZY_CUTOFF) + 1
        for length in range(low, high + 1):
            for name in buckets.get((key[0], length), ()):
                matcher.set_seq1(name)
                if matcher.real_quick_ratio() < best or matcher.quick_ratio() < best:
                    continue
                ratio = matcher.ratio()
                if ratio > best:
                    best, found = ratio, [name]
                elif ratio == best:
                    found.append(name)
        return [place for name in found for place in index[name]]


def _khmer_hint_before(squeezed: str, start: int) -> str | None:
    for word, kind in KHMER_HINTS.items():
        if squeezed.endswith(word, 0, start):
            return kind
    return None


def _khmer_hint_at(squeezed: str, position: int) -> bool:
    return any(squeezed.startswith(word, position) for word in KHMER_HINTS)


def _khmer_chunks(segment: str) -> Iterable[tuple[str | None, str]]:
    """Split a Khmer segment at unit words: (the unit word's kind or None, the text after)."""
    pattern = "|".join(map(re.escape, KHMER_HINTS))
    hint = None
    position = 0
    for found in re.finditer(pattern, segment):
        if found.start() > position:
            yield hint, segment[position : found.start()]
        hint, position = KHMER_HINTS[found.group()], found.end()
    if position < len(segment):
        yield hint, segment[position:]


def _latin_hint(tokens: list[str], start: int, end: int) -> str | None:
    """The unit word just before (romanised Khmer only) or just after tokens[start:end]."""
    before = tokens[start - 1] if start > 0 else None
    if before in LATIN_HINTS and before not in ENGLISH_HINT_WORDS:
        return LATIN_HINTS[before]
    if end < len(tokens) and tokens[end] in LATIN_HINTS:
        return LATIN_HINTS[tokens[end]]
    return None


def _without_overlaps(mentions: list[_Mention]) -> list[_Mention]:
    """Keep the longest, exact-first mentions; drop those overlapping one already kept."""
    kept: list[_Mention] = []
    for mention in sorted(mentions, key=lambda m: (m.end - m.start, m.exact), reverse=True):
        if not any(mention.overlaps(other) for other in kept):
            kept.append(mention)
    return kept


def _narrow(mention: _Mention) -> list[Place]:
    """The places a mention can mean, given its unit word and the nesting of names."""
    places = mention.places
    if mention.hint is not None:
        level = LEVEL_BY_KIND.get(mention.hint, mention.hint)
        places = (
            [p for p in places if p.kind == mention.hint]
            or [p for p in places if p.level == level]
            or places
        )
        if places is mention.places:  # the unit word fits none of them: ignore it
            mention.hint = None
    if mention.hint is None and any(place.level == PROVINCE for place in places):
        places = [place for place in places if place.level == PROVINCE]
    # a district named like its province, or a commune like its district, means the larger
    return [p for p in places if not any(o is not p and p.is_within(o) for o in places)]


def load_gazetteer(directory: Path = GAZETTEER_DIR) -> Gazetteer:
    """Load the three gazetteer files; raise KnowledgeError if one is broken."""
    places: dict[str, Place] = {}
    for level, name in FILES.items():
        path = directory / f"{name}.yml"
        data = read_yaml(path)
        if not isinstance(data, dict) or not isinstance(data.get(name), dict):
            raise KnowledgeError(f"{path.name}: expected a mapping under {name!r}")
        for code, unit in data[name].items():
            try:
                kind = KIND_BY_UNIT[unit["administrative_unit"]["latin"]]
                place = Place(str(code), kind, unit["name"]["km"], unit["name"]["latin"])
            except (KeyError, TypeError):
                raise KnowledgeError(f"{path.name}: {code}: missing a name or unit") from None
            if LEVEL_BY_CODE_LENGTH.get(len(place.code)) != level or place.level != level:
                raise KnowledgeError(f"{path.name}: {code}: not a {level} code")
            places[place.code] = place
    return Gazetteer(places)
