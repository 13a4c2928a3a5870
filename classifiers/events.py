"""Event clustering features: weighted terms, place names, similarity and a candidate index.

Pure library (no Flask, no database). ``services.event_clustering`` uses it to decide which
event a new item joins; ``sentinel events replay`` goes through the same service.

An item is represented by a sparse vector of Chinese character bigrams (and alphanumeric
tokens), weighted by inverse document frequency over government messages
(``resources/event_df.tsv``, built from ``data/gov_topic`` by :func:`build_document_frequencies`)
so that 请问/问题/小区 weigh little and 丽发/滨河 a lot. Bigrams inside a place or
organisation name (…小区/花园/学校/公司/路/村…) are boosted: an event is one place and one
problem, not one topic. Word segmentation was left out for the same reason as in
``classifiers.text`` (cost per item); bigrams also tolerate a misspelt character in a name.

An event's profile is the sum of its items' unit vectors, pruned to its strongest terms.
Similarity is the cosine between an item and a profile, lowered when both name specific
places and none of them match (two estates with the same problem are two events).
"""

from __future__ import annotations

import hashlib
import heapq
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import repeat
from operator import neg
from pathlib import Path

from classifiers.text import normalise

__all__ = [
    "CandidateIndex",
    "ItemFeatures",
    "build_document_frequencies",
    "features",
    "merge_profile",
    "place_names",
    "similarity",
    "term_key",
    "title_from",
]

RESOURCE = Path(__file__).parent / "resources" / "event_df.tsv"
#: Characters of an item read: the matter is stated at the top; long letters would
#: otherwise dilute it (and cost time).
MAX_CHARS = 400
#: Terms kept per item vector / per event profile / used as index keys.
ITEM_TERMS = 48
PROFILE_TERMS = 160
QUERY_KEYS = 16
POSTING_KEYS = 48
# Index keys are discriminating terms only: a term in more than ~1 % of government
# messages (问题, 小区, A市, 2019…) would put hundreds of events behind one key and make
# every batch read them all; numbers (dates, amounts) name no matter; a single character
# of a place name (@中, @一) is shared by hundreds of names. Similarity still
# uses every term; an item or profile with fewer than MIN_KEYS such terms keeps its
# strongest terms as keys anyway.
KEY_MIN_IDF = 5.0
MIN_KEYS = 4
HEAD_CHARS = 80
HEAD_WEIGHT = 3

# Place and organisation suffixes -> boost of the bigrams inside the name. Estates,
# schools, companies and villages name one concrete place; streets/towns are broader.
_SPECIFIC = (
    "小区",
    "花园",
    "家园",
    "新城",
    "新村",
    "公寓",
    "大厦",
    "广场",
    "楼盘",
    "山庄",
    "华府",
    "名苑",
    "苑",
    "府",
    "湾",
    "城",
    "学校",
    "学院",
    "大学",
    "中学",
    "小学",
    "幼儿园",
    "医院",
    "公司",
    "集团",
    "企业",
    "工厂",
    "厂",
    "搅拌站",
    "市场",
    "村",
    "社区",
    "路",
    "大道",
    "街",
    "桥",
    "站",
    "项目",
)
_BROAD = ("街道", "镇", "乡")
PLACE_BOOST = 3.0
# Weight of a place-name character, as a share of the weight of a never-seen bigram.
PLACE_CHAR_WEIGHT = 1.0
BROAD_BOOST = 1.5
# A place name is at most this many characters before its suffix.
_NAME_CHARS = 6
_SUFFIX_RE = re.compile(
    "|".join(re.escape(s) for s in sorted(_SPECIFIC + _BROAD, key=len, reverse=True))
)
# Administrative prefixes (A市A3区, A7县, 西地省) and words that cannot be inside a name:
# a name starts after the last of them.
_DISTRICT_RE = re.compile(r"[A-Za-z]\d*[市区县省]|西地省|[省市县区]")
_STOP_CHARS = set(
    "的在了是和与及对于从到向给把被让请问我们你他她这那有无不也都就还为着过吗呢吧啊"
    "说据须去跟并且要求想"
    "，。、！？；：“”‘’（）()《》【】[] ,.!?;:'\"\n\t|-—…·"
)
_GLUED_RE = re.compile(r"([A-Za-z]+\d*|\d+)([\u4e00-\u9fff]?)")
_CJK_RE = re.compile(r"[\u4e00-\u9fff]+")
_SENTENCE_RE = re.compile(r"[。！？!?\n]")
# Terms that say nothing about which matter it is, whatever their frequency.
_GENERIC_PLACES = frozenset({"小区", "学校", "公司", "社区", "村", "路", "街道", "镇", "乡"})


# Term-frequency factor 1 + ln(n) for small counts (most terms occur once or twice).
_TF_SIZE = 64
_TF = [0.0] + [1.0 + math.log(n) for n in range(1, _TF_SIZE)]


@lru_cache(maxsize=200_000)
def term_key(term: str) -> int:
    """A stable signed 63-bit key for ``term`` (the candidate index's column)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest()) >> 1


@lru_cache(maxsize=1)
def _idf_table() -> tuple[dict[str, float], float]:
    """Inverse document frequency per term, and the value for a term never seen."""
    idf: dict[str, float] = {}
    total = 1
    if RESOURCE.exists():
        with RESOURCE.open(encoding="utf-8") as fh:
            first = fh.readline().rstrip("\n").split("\t")
            total = int(first[1])
            for line in fh:
                term, _, count = line.rstrip("\n").partition("\t")
                if term:
                    idf[term] = math.log((total + 1) / (int(count) + 1)) + 1.0
    return idf, math.log(total + 1) + 1.0


def _bigrams(text: str) -> list[str]:
    out: list[str] = []
    for run in _CJK_RE.findall(text):
        if len(run) > 1:
            # Adjacent pairs, joined in C: the hot loop of clustering.
            out.extend(map(str.__add__, run[:-1], run[1:]))
    return out


def _tokens(text: str) -> list[str]:
    """Bigrams of every Chinese run, alphanumeric tokens of 2+ characters, and each
    alphanumeric token glued to the Chinese character after it (58车贷 -> 58车, 2路 ->
    ``2路``): names are often half digits. Districts (A3区) become tokens too; the document
    frequencies make them weigh little."""
    out = _bigrams(text)
    for m in _GLUED_RE.finditer(text):
        token = m.group(1).lower()
        if len(token) >= 2:
            out.append(token)
        if m.group(2):
            out.append(token + m.group(2))
    return out


def place_names(text: str) -> list[tuple[str, bool]]:
    """Place and organisation names in ``text`` as (name, specific), in order, distinct.

    ``specific`` is False for streets/towns (街道/镇/乡), which hold many matters."""
    cleaned = _DISTRICT_RE.sub("|", text)
    found: dict[str, bool] = {}
    for m in _SUFFIX_RE.finditer(cleaned):
        start = m.start()
        i = start
        while i > 0 and start - i < _NAME_CHARS and cleaned[i - 1] not in _STOP_CHARS:
            i -= 1
        stem = cleaned[i:start]
        if len(stem) < 2:
            continue
        suffix = m.group(0)
        name = stem + suffix
        if name in _GENERIC_PLACES:
            continue
        found.setdefault(name, suffix not in _BROAD)
    return list(found.items())


@lru_cache(maxsize=50_000)
def _place_stem(name: str) -> str:
    stem = _SUFFIX_RE.sub("", name)
    return stem if len(stem) >= 2 else name


@dataclass(frozen=True)
class ItemFeatures:
    """What clustering knows of one item: unit term vector, specific places, all places."""

    vector: dict[str, float]
    places: tuple[str, ...]  # specific place/organisation names
    broad: tuple[str, ...]  # streets, towns
    keys: tuple[int, ...] = field(default=())  # index keys of the strongest terms
    place_grams: frozenset[str] = frozenset()  # the bigrams inside place names

    @property
    def empty(self) -> bool:
        return not self.vector


def features(text: str) -> ItemFeatures:
    """The clustering features of an item's (normalised) text."""
    text = normalise(text)[:MAX_CHARS]
    tokens = _tokens(text)
    # The first line or sentence (a subject, or where most people state the matter) counts
    # HEAD_WEIGHT times: long letters otherwise drown it in their story.
    head = _SENTENCE_RE.split(text[:HEAD_CHARS], maxsplit=1)[0]
    if head and len(head) < len(text):
        tokens.extend(_tokens(head) * (HEAD_WEIGHT - 1))
    counts = Counter(tokens)
    if not counts:
        return ItemFeatures({}, (), ())
    names = place_names(text)
    boost: dict[str, float] = {}
    for name, specific in names:
        factor = PLACE_BOOST if specific else BROAD_BOOST
        for gram in _bigrams(_place_stem(name)):
            boost[gram] = max(boost.get(gram, 1.0), factor)
    idf, unseen = _idf_table()
    # Most terms occur once: their weight is the idf alone (looked up in C, no Python loop
    # per term); repeated terms get the term-frequency factor after.
    weights = dict(zip(counts, map(idf.get, counts, repeat(unseen)), strict=True))
    for term, n in counts.items():
        if n > 1:
            weights[term] *= _TF[n] if n < _TF_SIZE else 1.0 + math.log(n)
    for term, factor in boost.items():
        if term in weights:
            weights[term] *= factor
    # The characters of specific place names, as terms of their own: a misspelt name
    # (丽法新城 for 丽发新城) shares no bigram with the right one but most characters.
    for name, specific in names:
        if specific:
            for char in _place_stem(name):
                key = "@" + char
                weights[key] = max(weights.get(key, 0.0), PLACE_CHAR_WEIGHT * unseen)
    # Strongest first, ties by term (tuples compare in C: no key function per term).
    top = sorted(zip(map(neg, weights.values()), weights, strict=True))[:ITEM_TERMS]
    norm = math.sqrt(sum(w * w for w, _ in top)) or 1.0
    vector = {term: -w / norm for w, term in top}
    keys = tuple(term_key(term) for term in _key_terms([t for _, t in top], QUERY_KEYS))
    return ItemFeatures(
        vector,
        tuple(n for n, s in names if s),
        tuple(n for n, s in names if not s),
        keys,
        frozenset(boost),
    )


def merge_profile(
    profile: Mapping[str, float], vector: Mapping[str, float], sign: float = 1.0
) -> dict[str, float]:
    """``profile`` plus (or, with ``sign=-1``, minus) an item's vector, pruned to the
    strongest PROFILE_TERMS terms (rounded: it is stored as JSON)."""
    merged = dict(profile)
    for term, w in vector.items():
        merged[term] = merged.get(term, 0.0) + sign * w
    kept = [(t, w) for t, w in merged.items() if w > 1e-6]
    if len(kept) > PROFILE_TERMS:
        kept = heapq.nsmallest(PROFILE_TERMS, kept, key=lambda kv: (-kv[1], kv[0]))
    return {t: round(w, 5) for t, w in kept}


def norm(profile: Mapping[str, float]) -> float:
    """The Euclidean norm of a profile (callers that compare many items keep it)."""
    return math.sqrt(sum(w * w for w in profile.values())) or 1.0


def profile_keys(profile: Mapping[str, float]) -> list[int]:
    """The index keys of a profile's strongest terms (what the candidate index stores)."""
    top = sorted(zip(map(neg, profile.values()), profile, strict=True))
    return [term_key(t) for t in _key_terms([t for _, t in top], POSTING_KEYS)]


def _key_terms(ranked: list[str], limit: int) -> list[str]:
    """The first ``limit`` discriminating terms of ``ranked`` (strongest first), topped up
    with the strongest others when fewer than MIN_KEYS qualify."""
    idf, unseen = _idf_table()
    keys: list[str] = []
    for t in ranked:
        if t[0] != "@" and not t.isdigit() and idf.get(t, unseen) >= KEY_MIN_IDF:
            keys.append(t)
            if len(keys) == limit:
                break
    if len(keys) < MIN_KEYS:
        chosen = set(keys)
        keys += [t for t in ranked if t not in chosen][: MIN_KEYS - len(keys)]
    return keys


def _cosine(
    vector: Mapping[str, float], profile: Mapping[str, float], profile_norm: float | None = None
) -> float:
    get = profile.get
    dot = sum(w * get(t, 0.0) for t, w in vector.items())
    if dot <= 0:
        return 0.0
    return dot / (profile_norm or norm(profile))


@lru_cache(maxsize=200_000)
def _names_match(a: str, b: str) -> bool:
    sa, sb = set(_place_stem(a)), set(_place_stem(b))
    return len(sa & sb) / len(sa | sb) >= 0.5


PLACE_MISMATCH_FACTOR = 0.5
PROBLEM_MIN = 0.05
PROBLEM_MISMATCH_FACTOR = 0.6


def similarity(
    item: ItemFeatures,
    profile: Mapping[str, float],
    event_places: Iterable[str],
    profile_norm: float | None = None,
) -> float:
    """Cosine of ``item`` and an event profile; halved when both name specific places and
    none match (a misspelt name still matches: half the characters in common suffice)."""
    score = _cosine(item.vector, profile, profile_norm)
    if score <= 0:
        return 0.0
    places = list(event_places)
    if item.places and places:
        if not any(_names_match(a, b) for a in item.places for b in places):
            return score * PLACE_MISMATCH_FACTOR
        # Same place: it is the same event only if the problem is the same too (one
        # estate's parking sales and its cracked floors are two events).
        grams = set(item.place_grams)
        for name in places:
            grams.update(_bigrams(_place_stem(name)))
        if _cosine_without(item.vector, profile, grams) < PROBLEM_MIN:
            return score * PROBLEM_MISMATCH_FACTOR
    return score


def _cosine_without(
    vector: Mapping[str, float], profile: Mapping[str, float], skip: set[str]
) -> float:
    dot = sum(w * profile.get(t, 0.0) for t, w in vector.items() if t not in skip)
    if dot <= 0:
        return 0.0
    a = math.sqrt(sum(w * w for t, w in vector.items() if t not in skip)) or 1.0
    b = math.sqrt(sum(w * w for t, w in profile.items() if t not in skip)) or 1.0
    return dot / (a * b)


def top_places(counts: Mapping[str, int], limit: int = 5) -> list[str]:
    """The event's most frequent places (ties: shorter name first, then by name)."""
    return [
        name
        for name, _ in sorted(counts.items(), key=lambda kv: (-kv[1], len(kv[0]), kv[0]))[:limit]
    ]


# Terms that make no keyword: a place-name character (@丽), a district code (a3, a3区),
# a number.
_NOT_KEYWORD_RE = re.compile(r"@|[a-z]\d*[市区县省]?$|\d+$")
_KEYWORD_STOP = frozenset(
    {
        "问题",
        "情况",
        "反映",
        "请求",
        "要求",
        "希望",
        "建议",
        "咨询",
        "投诉",
        "举报",
        "相关",
        "部门",
        "领导",
        "我们",
        "你们",
        "他们",
        "这个",
        "那个",
        "什么",
        "为什么",
        "怎么",
        "目前",
        "现在",
        "已经",
        "没有",
        "能否",
        "是否",
        "关于",
        "市民",
        "居民",
        "业主",
        "政府",
        "尊敬",
    }
)


KEYWORD_TEXTS = 8
KEYWORD_CHARS = 200
_LEADING_NOISE = frozenset(_STOP_CHARS | set("后而看到入就该本其此各"))


def keywords(profile: Mapping[str, float], limit: int = 8) -> list[str]:
    """Display keywords from a profile alone: its strongest bigrams, overlapping ones
    joined (滨河 + 河苑 -> 滨河苑). ``keywords_from`` gives words when texts are at hand."""
    top = [
        t
        for t, _ in sorted(profile.items(), key=lambda kv: (-kv[1], kv[0]))[: limit * 4]
        if not _NOT_KEYWORD_RE.match(t)
    ][: limit * 3]
    words: list[str] = []
    for term in top:
        for i, word in enumerate(words):
            if word.endswith(term[:-1]) and len(term) == 2 and term[0] == word[-1]:
                words[i] = word + term[-1]
                break
            if word.startswith(term[1:]) and len(term) == 2 and term[-1] == word[0]:
                words[i] = term[0] + word
                break
        else:
            words.append(term)
    return words[:limit]


def keywords_from(texts: Iterable[str], profile: Mapping[str, float], limit: int = 8) -> list[str]:
    """Display keywords as whole words: the jieba words of ``texts`` ranked by the mean
    profile weight of their bigrams (so the event's names and its problem come first, cut
    at word boundaries), a word inside a longer chosen one left out."""
    from classifiers.text import jieba_module

    jieba = jieba_module()
    scores: dict[str, float] = {}
    # The openings of a few texts name the matter; segmenting more costs more than it adds.
    for text in list(texts)[:KEYWORD_TEXTS]:
        # District codes (A2区) out first: glued to an unknown name they make 区丽发.
        text = _DISTRICT_RE.sub(" ", normalise(text)[:KEYWORD_CHARS])
        for word in jieba.cut(text):
            word = word.strip().lower()
            # A function character glued to an unknown name (在丽发, 后凉塘路).
            while len(word) > 2 and word[0] in _LEADING_NOISE:
                word = word[1:]
            if len(word) < 2 or word in scores or word in _KEYWORD_STOP:
                continue
            if _NOT_KEYWORD_RE.match(word) or not _CJK_RE.search(word):
                continue
            grams = _bigrams(word)
            if not grams:
                continue
            score = sum(profile.get(g, 0.0) for g in grams) / len(grams)
            if score > 0:
                scores[word] = score
    chosen: list[str] = []
    for word, _ in sorted(scores.items(), key=lambda kv: (-kv[1], -len(kv[0]), kv[0])):
        if any(word in other for other in chosen):
            continue
        chosen = [other for other in chosen if other not in word]
        chosen.append(word)
        if len(chosen) == limit:
            break
    return chosen or keywords(profile, limit)


def title_from(texts: Iterable[str], profile: Mapping[str, float], limit: int = 40) -> str:
    """A title for an event: the first sentence (or subject line) of the member text that
    best matches the profile, cut to ``limit`` characters."""
    texts = list(texts)
    best, best_score = "", -1.0
    for text in texts:
        text = normalise(text)
        head = _SENTENCE_RE.split(text, maxsplit=1)[0].strip() or text
        # A subject line followed by the message: normalisation made the line break a
        # space, and Chinese sentences have none of their own.
        first, _, rest = head.partition(" ")
        if rest and len(first) >= 6:
            head = first
        if len(texts) == 1:  # nothing to choose between
            best = head
            break
        score = _cosine(features(head).vector, profile) if head else 0.0
        # A short, specific line (a subject) beats a long greeting.
        if score > best_score:
            best, best_score = head, score
    best = best.strip(" ，,：:")
    return best if len(best) <= limit else best[: limit - 1] + "…"


class CandidateIndex:
    """In-memory postings (term key -> event ids) for the events of one clustering batch:
    the events the database index returned, and those the batch itself starts."""

    def __init__(self) -> None:
        self._postings: dict[int, set[int]] = {}
        self._keys: dict[int, list[int]] = {}

    def put(self, event_id: int, keys: Iterable[int]) -> None:
        """Index ``event_id`` under ``keys`` (replacing its previous keys)."""
        self.remove(event_id)
        stored = list(dict.fromkeys(keys))
        self._keys[event_id] = stored
        for key in stored:
            self._postings.setdefault(key, set()).add(event_id)

    def add(self, event_id: int, keys: Iterable[int]) -> None:
        """Index ``event_id`` under ``keys`` as well (keeping its other keys)."""
        stored = self._keys.setdefault(event_id, [])
        for key in keys:
            bucket = self._postings.setdefault(key, set())
            if event_id not in bucket:
                bucket.add(event_id)
                stored.append(key)

    def remove(self, event_id: int) -> None:
        for key in self._keys.pop(event_id, []):
            bucket = self._postings.get(key)
            if bucket is not None:
                bucket.discard(event_id)
                if not bucket:
                    del self._postings[key]

    def candidates(self, keys: Iterable[int], limit: int = 6) -> list[int]:
        """Event ids sharing the most keys with ``keys``, best first (ties: newest id)."""
        hits: Counter[int] = Counter()
        for key in keys:
            for event_id in self._postings.get(key, ()):
                hits[event_id] += 1
        return [e for e, _ in sorted(hits.items(), key=lambda kv: (-kv[1], -kv[0]))[:limit]]


def build_document_frequencies(texts: Iterable[str]) -> tuple[Counter[str], int]:
    """Document frequency of every token over ``texts`` (for ``resources/event_df.tsv``)."""
    df: Counter[str] = Counter()
    total = 0
    for text in texts:
        total += 1
        df.update(set(_tokens(normalise(text)[:MAX_CHARS])))
    return df, total


def write_document_frequencies(
    path: Path, df: Mapping[str, int], total: int, floor: int = 3
) -> None:
    """Write the resource: a header line ``#total<TAB>N`` then ``term<TAB>df`` for every
    term seen in at least ``floor`` documents (rarer terms get the maximum weight anyway)."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write(f"#total\t{total}\n")
        for term, n in sorted(df.items(), key=lambda kv: (-kv[1], kv[0])):
            if n >= floor:
                fh.write(f"{term}\t{n}\n")
