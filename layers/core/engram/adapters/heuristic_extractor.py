"""The default Extractor: deterministic rules, no model calls, stdlib + numpy only.

Pipeline: split the session into sentences; drop small talk and questions; type each
remaining sentence by cue phrases (decision, preference, pattern) or, failing that, keep
it as a fact when it is anchored (a number, a date or a named thing, and a verb); collect
named things as entities; merge repeats; score importance from cue strength, repetition
and recency. The summary is the most central sentences (TextRank over TF-IDF vectors),
in session order, after the client's own summary when there is one.

Same input, byte-identical output: no set is iterated unsorted, every sort has a total
key, and scores are rounded before they are compared.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engram.extraction.extractor import (
    MAX_TITLE_CHARS,
    Candidate,
    Episode,
    Extraction,
    MemoryType,
    empty_extraction,
    ordered,
)

# ----------------------------------------------------------------------------- lexicons

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are aren't as at be because
    been before being below between both but by can can't cannot could couldn't did didn't do
    does doesn't doing don't down during each few for from further had hadn't has hasn't have
    haven't having he he'd he'll he's her here here's hers herself him himself his how how's i
    i'd i'll i'm i've if in into is isn't it it's its itself just let's me more most mustn't my
    myself no nor not now of off on once only or other ought our ours ourselves out over own
    same shan't she she'd she'll she's should shouldn't so some such than that that's the their
    theirs them themselves then there there's these they they'd they'll they're they've this
    those through to too under until up very was wasn't we we'd we'll we're we've were weren't
    what what's when when's where where's which while who who's whom why why's will with won't
    would wouldn't you you'd you'll you're you've your yours yourself yourselves yes yeah ok
    okay one get got go going gonna want wanna like really thing things stuff lot bit maybe
    actually basically pretty quite still even well""".split()
)

# Conversation filler: a sentence made only of these (after stopwords) is small talk.
SMALL_TALK_PHRASES = (
    "how are you",
    "how's it going",
    "how is it going",
    "what's up",
    "good morning",
    "good afternoon",
    "good evening",
    "good night",
    "nice to meet you",
    "see you",
    "see ya",
    "talk later",
    "talk soon",
    "have a nice day",
    "have a good one",
    "have a great day",
    "thank you",
    "thanks",
    "thx",
    "ty",
    "cheers",
    "much appreciated",
    "appreciate it",
    "you're welcome",
    "no problem",
    "no worries",
    "np",
    "sounds good",
    "sounds great",
    "got it",
    "makes sense",
    "will do",
    "all right",
    "alright",
    "hello",
    "hi",
    "hey",
    "yo",
    "bye",
    "goodbye",
    "ttyl",
    "lol",
    "lmao",
    "haha",
    "hehe",
    "ok",
    "okay",
    "k",
    "cool",
    "great",
    "awesome",
    "nice",
    "perfect",
    "sure",
    "yep",
    "yup",
    "nope",
    "no",
    "yes",
    "yeah",
    "i'm good",
    "i'm fine",
    "doing well",
    "not bad",
    "good luck",
    "done",
    "right",
    "wow",
)
FILLER = frozenset(
    """help helping helped much lot lots again today day everyone guys folks good fine great
    nice morning afternoon evening night awesome glad happy sorry question quick hope doing
    well pleasure chat chatting talking week weekend there thing asking checking back too
    set""".split()
)

PRONOUN_START = re.compile(r"^(?:it|this|that|they|these|those|he|she|there)\b")
WH_WORDS = frozenset("what why how when where who whom which whose".split())
QUESTION_START = re.compile(
    r"^(?:(?:can|could|would|will|do|does|did|is|are|was|were|should|shall|may|might|have|has|"
    r"am)\s+(?:you|we|i|it|they|there|this|that|he|she|anyone|someone|anybody)\b|"
    r"i\s+wonder\b|wondering\b|not\s+sure\s+(?:if|whether)\b|any\s+idea\b|does\s+anyone\b)"
)

# (memory type, cue strength 0..1, pattern over the lower-cased sentence)
_CUE_PATTERNS: tuple[tuple[MemoryType, float, str], ...] = (
    (
        "decision",
        1.0,
        (
            r"\b(?:we|i|they|team)\s+(?:have\s+|'ve\s+|just\s+|finally\s+)?"
            r"(?:decided|agreed|settled|opted|chose|committed)\b"
        ),
    ),
    ("decision", 1.0, r"\bdecided\s+(?:to|on|that|against)\b|\bdecision\s+(?:is|was)\b"),
    ("decision", 0.9, r"\blet's\s+(?:go|stick|stay)\s+with\b|\bagreed\s+(?:to|on|that)\b"),
    ("decision", 0.9, r"\bsettled\s+on\b|\bopted\s+(?:for|to)\b"),
    (
        "decision",
        0.8,
        (
            r"\blet's\s+(?:use|switch|move|adopt|keep|drop|standardi[sz]e|"
            r"migrate|replace|remove)\b"
        ),
    ),
    (
        "decision",
        0.8,
        (
            r"\b(?:we'll|we\s+will|we're\s+going\s+to|we\s+are\s+going\s+to)\s+"
            r"(?:use|go\s+with|switch|move|adopt|stick\s+with|migrate|drop|keep|standardi[sz]e)\b"
        ),
    ),
    ("decision", 0.7, r"\bgoing\s+with\b|\bgo\s+with\b|\b(?:chose|chosen|picked)\b"),
    (
        "decision",
        0.5,
        (
            r"\b(?:switched|migrated)\s+(?:over\s+)?(?:to|from)\b|"
            r"\bthe\s+plan\s+is\s+to\b"
        ),
    ),
    (
        "preference",
        1.0,
        (
            r"\bi\s+(?:really\s+|strongly\s+|much\s+|generally\s+)?prefer\b|"
            r"\bprefers\b|\bpreferred\b|\bpreference\s+(?:is|for)\b"
        ),
    ),
    (
        "preference",
        0.9,
        (
            r"\bi'd\s+rather\b|\bi\s+would\s+rather\b|\bi\s+(?:really\s+)?"
            r"(?:like|love|hate|dislike|enjoy|can't\s+stand)\b|\bi\s+(?:don't|do\s+not)\s+"
            r"(?:like|want|enjoy|care\s+for)\b"
        ),
    ),
    (
        "preference",
        0.8,
        (
            r"^please\s+(?:always\s+|never\s+|don't\s+|do\s+not\s+)?"
            r"(?:use|avoid|keep|write|reply|respond|answer|send|call|format|include|add|stop|"
            r"make|put|show|give|email|text|contact)\b"
        ),
    ),
    ("preference", 0.8, r"\b(?:my|our)\s+(?:favou?rite|preferred)\b"),
    ("preference", 0.7, r"\bi\s+(?:always|never|usually|generally|tend\s+to)\b"),
    ("preference", 0.6, r"\b(?:likes|loves|hates|dislikes)\b"),
    (
        "pattern",
        1.0,
        (
            r"\b(?:every\s+time|whenever|as\s+a\s+rule|rule\s+of\s+thumb|"
            r"by\s+convention|naming\s+convention|the\s+convention|our\s+convention)\b"
        ),
    ),
    (
        "pattern",
        0.9,
        (
            r"\b(?:should|must)\s+(?:always|never)\b|"
            r"\b(?:we|they|the\s+team)\s+(?:always|never)\b"
        ),
    ),
    (
        "pattern",
        0.8,
        (
            r"^(?:always|never)\s+\w+|\b(?:we|they|the\s+team)\s+(?:usually|"
            r"typically|normally)\b|\bconvention\b|\b(?:standard|best)\s+practice\b"
        ),
    ),
    (
        "pattern",
        0.7,
        (
            r"\bmake\s+sure\s+(?:to|that|you|we)\b|\bdon't\s+forget\s+to\b|"
            r"\bremember\s+to\b|\bmust\s+(?!be\s+the\b|have\s+been\b)\w+"
        ),
    ),
    (
        "pattern",
        0.5,
        (
            r"\b(?:usually|typically|normally|each\s+time)\b|\bevery\s+(?:pr|"
            r"commit|release|deploy|morning|week|day|sprint|monday|tuesday|wednesday|thursday|"
            r"friday|sunday|saturday|month|build)\b"
        ),
    ),
)
CUES = tuple((kind, strength, re.compile(pattern)) for kind, strength, pattern in _CUE_PATTERNS)
TYPE_ORDER = ("decision", "preference", "pattern", "fact", "entity")
# A decision that is not one: undecided, hypothetical or hedged.
NOT_DECIDED = re.compile(
    r"^(?:if|unless|maybe|perhaps|whether|once)\b|\b(?:haven't|have\s+not|hasn't|not|didn't|"
    r"never|yet\s+to|still|can't|cannot)\s+(?:\w+\s+)?(?:decided|decide|deciding|agreed|chosen)"
    r"\b|\bundecided\b|\bif\s+we\b|\b(?:could|might)\s+(?:go\s+with|use|switch)\b"
)
HEDGE = re.compile(r"\b(?:maybe|perhaps|might|not\s+sure|i\s+guess|probably)\b")

MONTHS = (
    "january february march april june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
).split()
WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
DATE_WORD = re.compile(
    r"\b(?:" + "|".join(MONTHS + WEEKDAYS) + r"|tomorrow|yesterday|tonight|next\s+(?:week|"
    r"month|year|quarter|sprint)|last\s+(?:week|month|year|quarter)|eod|eow|q[1-4])\b"
)
VERB = re.compile(
    r"\b(?:is|are|was|were|be|been|has|have|had|does|did|will|would|can|could|should|may|"
    r"must|need|needs|uses?|runs?|lives?|works?|owns?|leads?|ships?|starts?|ends?|costs?|"
    r"takes?|launch(?:es)?|deploys?|supports?|includes?|contains?|calls?|returns?|breaks?|"
    r"fails?|handles?|stores?|meets?|joins?|manages?|builds?|releases?|expires?|holds?|"
    r"goes|gets|sends?|reads?|writes?|points?|lands?|due|\w{3,}ed|\w{3,}ing)\b"
)
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
FENCE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
LOG_LINE = re.compile(
    r"^(?:\s{2,}\S|\t|Traceback \(most recent call last\)|\w*(?:Error|Exception|Warning)\b:|"
    r"\[?\d{4}-\d\d-\d\d[ T]\d\d:\d\d|(?:DEBUG|INFO|WARN|WARNING|ERROR|FATAL)\b|\$ |>>> )"
)
TRAILING_LAUGH = re.compile(r"[\s,]+(?:lol|lmao|haha+|hehe|:\)|:D|xd)[\s.!]*$", re.IGNORECASE)
BULLET = re.compile(r"^\s*(?:[-*•>#]+|\d+[.)])\s+")
SPLIT = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[`@]?[A-Z0-9@`/])")
ABBREV = re.compile(r"\b(?:e\.g|i\.e|etc|vs|mr|mrs|ms|dr|st|approx|no|fig)\.$", re.IGNORECASE)
INTERJECTION = re.compile(
    r"^(?:(?:ok(?:ay)?|so|alright|all\s+right|yeah|yes|right|cool|great|sure|well|hmm+|fine|"
    r"good|perfect|also|and|but|anyway|oh|ah|btw|fyi)\b[,!.:;]?\s+)+",
    re.IGNORECASE,
)

REMINDER = re.compile(
    r"^(?:again|remember|reminder|note|to\s+repeat|as\s+i\s+said|like\s+i\s+said)\s*[,:;!-]\s*",
    re.IGNORECASE,
)

# Named things.
URL = re.compile(r"https?://[^\s<>\"'`)\]]+[^\s<>\"'`)\].,;:!?]")
PATH = re.compile(
    r"(?<![\w/.@])(?:[\w.-]+/)+[\w.-]*\w|(?<![\w/.@-])[\w-]+\.(?:py|js|ts|tsx|jsx|go|rs|java|"
    r"rb|md|json|ya?ml|toml|txt|csv|sql|sh|cfg|ini|html|css|tf|lock|env)\b"
)
HANDLE = re.compile(r"(?<![\w.@])@[A-Za-z0-9_][\w.-]*[A-Za-z0-9_]")
SERVICE = re.compile(
    r"\bthe\s+([A-Za-z][\w-]*)\s+(service|api|database|db|bucket|queue|cluster|library|"
    r"pipeline|endpoint|server|module|package|repo|repository|microservice|worker|app)\b",
    re.IGNORECASE,
)
GENERIC = frozenset(
    """new old main same other whole first last current right wrong this that our their my
    your existing entire default local remote big small main next previous whole actual real
    test testing whole only same other any every public private staging production prod
    dev development""".split()
)
CAP_TOKEN = re.compile(r"[A-Za-z0-9][\w'’&.+-]*")
CAP_STOP = frozenset(
    """i i'm i've i'd i'll the a an this that these those we our let's it it's if when what why
    how who where which please thanks thank ok okay yes no hi hey hello also and but so then
    my your he she they you there here just great cool sure sounds id ok pr prs ci ui api url
    qa faq tbd tldr asap fyi btw eod eow am pm utc""".split()
    + MONTHS
    + WEEKDAYS
    + ["may"]
)
CODE_SPAN = re.compile(r"`([^`\n]{2,80})`")
IDENTIFIER = re.compile(r"\b(?:[a-z]+_[a-z0-9_]+|[a-z]+[A-Z]\w*|[A-Z][a-z]+[A-Z]\w*)\b")

# First-person and "we" resolution.
ADVERBS = (
    r"really|always|never|usually|generally|also|just|still|strongly|mostly|often|sometimes|"
    r"definitely|actually|personally|typically|normally|only|already|honestly|mainly"
)
NO_CONJUGATE = frozenset(
    """will would can could should shall must might may did had was were told sent met saw found
    went made got said thought knew felt took gave came ran wrote built bought left lost kept
    spent put set read began broke chose heard meant paid brought caught taught understood
    forgot became""".split()
)
PRESENT_ED = frozenset(
    "need feed seed proceed exceed succeed bleed speed breed heed embed shred".split()
)
IRREGULAR = {"have": "has", "do": "does", "go": "goes", "am": "is", "are": "is", "be": "is"}
SUBJECT = {"user": "the user", "assistant": "the assistant"}
OTHER = {"user": "the assistant", "assistant": "the user"}
# Roles whose text is not somebody's statement: instructions and tool output (logs).
NOT_SPOKEN = frozenset({"system", "tool"})
# Cue and helper words: they say what kind of memory it is, not what it is about.
TAG_STOP = frozenset(
    """decided decide decision use using used prefer prefers preferred always never every
    convention going let's agreed chose chosen settled opted make sure remember usually
    typically normally rule need needs must should will would like likes love hate rather
    please want wants the_team team user assistant don't doesn't isn't can't won't""".split()
)


# ----------------------------------------------------------------------------- sentences


@dataclass(eq=False)  # compared by identity: the same words twice are two sentences
class Sentence:
    index: int  # position in the session, over all sentences
    episode_index: int
    episode: Episode
    text: str
    lower: str
    terms: frozenset[str]  # stems of the content words, for similarity
    words: tuple[str, ...]  # content words in order, for tags
    question: bool = False
    small_talk: bool = False
    kind: MemoryType | None = None  # decision | preference | pattern | fact, once typed
    strength: float = 0.0
    entities: list[tuple[str, str, str]] = field(default_factory=list)  # (key, name, kind)
    anchors: tuple[str, ...] = ()  # a fact's: number, date, named


def _normalise_quotes(text: str) -> str:
    return text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')


def split_sentences(content: str) -> list[str]:
    """Sentences of one message: code blocks dropped, bullets and lines split."""
    text = FENCE.sub(" ", _normalise_quotes(content))
    out: list[str] = []
    for line in text.splitlines():
        if LOG_LINE.match(line):
            continue  # pasted logs and stack traces are evidence, not statements
        line = TRAILING_LAUGH.sub("", BULLET.sub("", line).strip())
        if not line:
            continue
        pieces = SPLIT.split(line)
        merged: list[str] = []
        for piece in pieces:
            if merged and ABBREV.search(merged[-1]):  # "e.g. Postgres" is one sentence
                merged[-1] = f"{merged[-1]} {piece}"
            else:
                merged.append(piece)
        out.extend(p.strip() for p in merged if p.strip())
    return out


def stem(word: str) -> str:
    """Crude suffix stripping: enough for "decided"/"deciding"/"decides" to meet."""
    word = word.removesuffix("'s")
    for suffix, repl, min_len in (("ies", "y", 5), ("ing", "", 6), ("ed", "", 5), ("es", "", 5)):
        if word.endswith(suffix) and len(word) >= min_len:
            return word[: -len(suffix)] + repl
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def content_words(lower: str) -> list[str]:
    return [w for w in WORD.findall(lower) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


SMALL_TALK_RE = re.compile(
    r"(?<![\w'])(?:"
    + "|".join(re.escape(p) for p in sorted(SMALL_TALK_PHRASES, key=len, reverse=True))
    + r")(?![\w'])"
)


def is_small_talk(lower: str) -> bool:
    rest = SMALL_TALK_RE.sub(" ", lower)
    return not [w for w in content_words(rest) if w not in FILLER]


def is_question(text: str, lower: str) -> bool:
    stripped = text.rstrip(" \"')]")
    if stripped.endswith("?"):
        return True
    if stripped[-1:] in (".", "!"):
        return False  # "What we decided: ..." is a statement
    first = lower.split(" ", 1)[0]
    return first in WH_WORDS or bool(QUESTION_START.match(lower))


def sentences_of(episodes: Sequence[Episode]) -> list[Sentence]:
    out: list[Sentence] = []
    for e_index, episode in enumerate(episodes):
        for text in split_sentences(episode.content):
            lower = INTERJECTION.sub("", text.lower()) or text.lower()
            words = tuple(content_words(lower))
            sentence = Sentence(
                index=len(out),
                episode_index=e_index,
                episode=episode,
                text=text,
                lower=lower,
                terms=frozenset(stem(w) for w in words),
                words=words,
            )
            sentence.question = is_question(text, lower)
            sentence.small_talk = is_small_talk(text.lower())
            out.append(sentence)
    return out


def eligible(sentence: Sentence) -> bool:
    """Could this sentence be a memory? Not small talk, not a question, prose, not a log."""
    if sentence.small_talk or sentence.question or sentence.episode.role in NOT_SPOKEN:
        return False
    text = sentence.text
    if not 12 <= len(text) <= 320 or len(sentence.words) < 2:
        return False
    prose = sum(ch.isalpha() or ch.isspace() for ch in text) / len(text)
    return prose >= 0.7


# ----------------------------------------------------------------------------- typing


def cue_type(lower: str) -> tuple[MemoryType | None, float]:
    """The strongest cue's type and strength (ties: decision, preference, pattern)."""
    best: tuple[MemoryType | None, float] = (None, 0.0)
    for kind, strength, pattern in CUES:
        if kind == "decision" and NOT_DECIDED.search(lower):
            continue
        if pattern.search(lower) and strength > best[1]:
            best = (kind, strength)
    if best[0] and HEDGE.search(lower):
        best = (best[0], round(best[1] * 0.6, 3))
    return best


def find_entities(text: str) -> list[tuple[str, str, str]]:
    """(key, display name, kind) of the named things in a sentence, in order of appearance."""
    found: list[tuple[int, str, str]] = []
    taken: list[tuple[int, int]] = []

    def add(start: int, end: int, name: str, kind: str) -> None:
        if any(start < b and a < end for a, b in taken):
            return  # already covered by a longer match (a URL's path, say)
        taken.append((start, end))
        found.append((start, name, kind))

    for m in URL.finditer(text):
        add(m.start(), m.end(), m.group(0), "url")
    for m in PATH.finditer(text):
        if "/" in m.group(0) and m.group(0).count("/") == len(m.group(0)) - 1:
            continue
        add(m.start(), m.end(), m.group(0), "file")
    for m in HANDLE.finditer(text):
        add(m.start(), m.end(), m.group(0), "handle")
    for m in SERVICE.finditer(text):
        if m.group(1).lower() not in GENERIC and m.group(1).lower() not in STOPWORDS:
            add(m.start(1), m.end(), f"{m.group(1)} {m.group(2)}", "service")
    for start, end, name, kind in proper_nouns(text):
        add(start, end, name, kind)
    found.sort()
    out = []
    for _, name, kind in found:
        key = name.lower().rstrip(".")
        out.append((key, name, kind))
    return out


def proper_nouns(text: str) -> list[tuple[int, int, str, str]]:
    """Runs of capitalised tokens. A sentence's first word counts only inside a run of two
    or more, or when it is an acronym or CamelCase (it is capitalised anyway)."""
    runs: list[list[re.Match[str]]] = []
    current: list[re.Match[str]] = []
    for m in CAP_TOKEN.finditer(text):
        token = m.group(0).rstrip(".'’").removesuffix("'s")
        gap = text[current[-1].end() : m.start()] if current else " "
        capital = token[:1].isupper() and token.lower() not in CAP_STOP
        if capital and (not current or gap.strip() == ""):
            current.append(m)
            continue
        if current:
            runs.append(current)
        current = [m] if capital else []
    if current:
        runs.append(current)
    out = []
    for run in runs:
        names = [m.group(0).rstrip(".,'’").removesuffix("'s") for m in run]
        at_start = run[0].start() == 0
        if at_start and len(run) > 1 and not special(names[0]) and special(names[1]):
            run, names = run[1:], names[1:]  # "Each NAT gateway": the first word is no name
        elif at_start and len(run) == 1 and not special(names[0]):
            continue
        if len(names) == 1 and len(names[0]) < 2:
            continue
        acronym = len(names) == 1 and names[0].isalpha() and names[0].isupper()
        kind = "acronym" if acronym else "name"
        out.append((run[0].start(), run[-1].end(), " ".join(names), kind))
    return out


def special(token: str) -> bool:
    """An acronym, CamelCase or a token with digits: a name even at a sentence's start."""
    return (token.isupper() and len(token) > 1) or bool(re.search(r"[a-z][A-Z]|\d", token))


def anchors(sentence: Sentence) -> tuple[str, ...]:
    """What makes a statement a fact: a number, a date, a named thing (and it needs a verb)."""
    if not VERB.search(sentence.lower) or len(sentence.words) < 3:
        return ()
    found = []
    if re.search(r"\d", sentence.text):
        found.append("number")
    if DATE_WORD.search(sentence.lower):
        found.append("date")
    if sentence.entities or CODE_SPAN.search(sentence.text) or IDENTIFIER.search(sentence.text):
        found.append("named")
    return tuple(found)


def numeric(sentence: Sentence) -> bool:
    return sentence.kind == "fact" and sentence.anchors != ("named",)


# ----------------------------------------------------------------------------- wording


def conjugate(verb: str) -> str:
    """Third person singular of a present-tense verb; anything else unchanged."""
    low = verb.lower()
    past = low.endswith("ed") and low not in PRESENT_ED  # "decided", but "need"
    if low in NO_CONJUGATE or past or not low.isalpha():
        return verb
    if low in IRREGULAR:
        return IRREGULAR[low]
    if low.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if low.endswith("y") and low[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def resolve(text: str, role: str | None) -> str:
    """Third-person wording: "I prefer X" from the user -> "The user prefers X", "you" is
    the other party, "we" -> "the team". Only for the user and the assistant, whose
    identity is known."""
    text = strip_openers(text)
    who = SUBJECT.get(role or "")
    if who:
        if role == "user":
            text = re.sub(r"^[Pp]lease\s+", "The user asks the assistant to ", text)
        text = re.sub(r"\b[Ii](?:'m| am)\b", f"{who} is", text)
        text = re.sub(r"\b[Ii](?:'ve| have)\b", f"{who} has", text)
        text = re.sub(r"\b[Ii]'d\b", f"{who} would", text)
        text = re.sub(r"\b[Ii]'ll\b", f"{who} will", text)
        text = re.sub(r"\b[Ii] (?:don't|do not)\b", f"{who} doesn't", text)
        text = re.sub(
            rf"\b[Ii]((?:\s+(?:{ADVERBS}))*)\s+([A-Za-z']+)",
            lambda m: f"{who}{m.group(1)} {conjugate(m.group(2))}",
            text,
        )
        text = re.sub(r"\b[Mm]y\b", f"{who}'s", text)
        text = re.sub(r"\bme\b", who, text)
        text = re.sub(r"\b[Ii]\b(?![.\w])", who, text)
        other = OTHER[role or ""]
        text = re.sub(r"\b[Yy]ou(?:'re| are)\b", f"{other} is", text)
        text = re.sub(r"\b[Yy]ou(?:'ve| have)\b", f"{other} has", text)
        text = re.sub(r"\b[Yy]ou'll\b", f"{other} will", text)
        text = re.sub(r"\b[Yy]ou (?:don't|do not)\b", f"{other} doesn't", text)
        text = re.sub(r"\b[Yy]our\b", f"{other}'s", text)
        text = re.sub(
            rf"\b[Yy]ou((?:\s+(?:{ADVERBS}))*)\s+([A-Za-z']+)",
            lambda m: f"{other}{m.group(1)} {conjugate(m.group(2))}",
            text,
        )
        text = re.sub(r"\b[Yy]ou\b", other, text)
    if role in SUBJECT:
        text = re.sub(r"\b[Ll]et's\b", "the team will", text)
        text = re.sub(r"\b[Ww]e(?:'re| are)\b", "the team is", text)
        text = re.sub(r"\b[Ww]e(?:'ve| have)\b", "the team has", text)
        text = re.sub(r"\b[Ww]e'll\b", "the team will", text)
        text = re.sub(r"\b[Ww]e'd\b", "the team would", text)
        text = re.sub(r"\b[Ww]e (?:don't|do not)\b", "the team doesn't", text)
        text = re.sub(r"\b[Ww]e haven't\b", "the team hasn't", text)
        text = re.sub(r"\b[Ww]e aren't\b", "the team isn't", text)
        text = re.sub(r"\b[Ww]e were\b", "the team was", text)
        text = re.sub(
            rf"\b[Ww]e((?:\s+(?:{ADVERBS}))*)\s+([A-Za-z']+)",
            lambda m: f"the team{m.group(1)} {conjugate(m.group(2))}",
            text,
        )
        text = re.sub(r"\b[Oo]ur\b", "the team's", text)
        text = re.sub(r"\bus\b", "the team", text)
    text = text[:1].upper() + text[1:]
    if text[-1:] not in ".!?":
        text += "."
    return text


def strip_openers(text: str) -> str:
    """Without the "OK so", "Again:" a spoken sentence opens with."""
    text = INTERJECTION.sub("", text).strip() or text.strip()
    return REMINDER.sub("", text).strip() or text


def make_title(content: str) -> str:
    """The content's opening words, cut at a word boundary."""
    title = content.rstrip(".!? ")
    limit = min(80, MAX_TITLE_CHARS)
    if len(title) > limit:
        title = title[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:-") + "…"
    return title


# ----------------------------------------------------------------------------- the extractor


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Overlap of two term sets: Jaccard, or containment when one is small and inside the other."""
    if not a or not b:
        return 0.0
    inter = len(a & b)
    jaccard = inter / len(a | b)
    smaller = min(len(a), len(b))
    containment = inter / smaller if inter >= 3 else 0.0
    return max(jaccard, containment * 0.9)


@dataclass
class _Draft:
    memory_type: MemoryType
    sentences: list[Sentence]  # the group, oldest first; the newest phrasing is kept
    strength: float
    title: str = ""
    content: str = ""
    tags: tuple[str, ...] = ()

    @property
    def head(self) -> Sentence:
        """The wording kept: a repeat's shortest phrasing (repeats add "again", "as I said")."""
        if self.memory_type == "entity":
            return self.sentences[-1]
        return min(self.sentences, key=lambda s: (len(strip_openers(s.text)), -s.index))

    @property
    def newest(self) -> Sentence:
        return max(self.sentences, key=lambda s: s.index)

    @property
    def terms(self) -> frozenset[str]:
        return self.head.terms


class HeuristicExtractor:
    """Extractive summary and rule-typed memories; deterministic and offline."""

    name = "heuristic"

    def __init__(
        self,
        max_memories: int = 20,
        max_entities: int = 8,
        summary_sentences: int = 4,
        same_idea: float = 0.6,
    ) -> None:
        self.max_memories = max_memories
        self.max_entities = max_entities
        self.summary_sentences = summary_sentences
        self.same_idea = same_idea  # similarity at which two sentences say the same thing

    def extract(self, episodes: Sequence[Episode], client_summary: str | None = None) -> Extraction:
        episodes = ordered(episodes)
        if not episodes:
            return empty_extraction(client_summary)
        sentences = sentences_of(episodes)
        pool = [s for s in sentences if eligible(s)]
        self._type(pool)
        idf = self._idf(sentences)
        drafts = self._merge([s for s in pool if s.kind])
        drafts += self._entities(pool, drafts)
        # A fact whose only anchor is a named thing is that entity's description: one memory.
        used = {id(d.head) for d in drafts if d.memory_type == "entity"}
        drafts = [
            d
            for d in drafts
            if not (d.memory_type == "fact" and id(d.head) in used and d.head.anchors == ("named",))
        ]
        candidates = [self._candidate(d, pool, len(sentences), idf) for d in drafts]
        candidates.sort(
            key=lambda c: (-c[0], c[1], TYPE_ORDER.index(c[2].memory_type), c[2].content)
        )
        memories = tuple(c[2] for c in candidates[: self.max_memories])
        return Extraction(summary=self._summary(sentences, client_summary), memories=memories)

    # --- typing and grouping

    def _type(self, pool: list[Sentence]) -> None:
        for s in pool:
            s.entities = find_entities(s.text)
        # A capitalised first word is ambiguous, unless the session names it elsewhere.
        known = {
            w for s in pool for key, _, kind in s.entities if kind == "name" for w in key.split()
        }
        for s in pool:
            first = CAP_TOKEN.match(s.text)
            token = first.group(0).removesuffix("'s") if first else ""
            lower = token.lower()
            if lower in known and not any(k.startswith(lower) for k, _, _ in s.entities):
                s.entities.insert(0, (lower, token, "name"))
        for s in pool:
            kind, strength = cue_type(s.lower)
            if kind and (strength >= 0.5 or kind != "decision"):
                s.kind, s.strength = kind, strength
            elif not HEDGE.search(s.lower) and (found := anchors(s)):
                s.kind, s.strength, s.anchors = "fact", min(1.0, 0.3 + 0.2 * len(found)), found

    def _merge(self, typed: list[Sentence]) -> list[_Draft]:
        """One draft per idea: a same-type sentence that repeats an earlier one joins it."""
        drafts: list[_Draft] = []
        for s in typed:
            same = (
                d
                for d in drafts
                if d.memory_type == s.kind and similarity(d.terms, s.terms) >= self.same_idea
            )
            if draft := next(same, None):
                draft.sentences.append(s)
                draft.strength = max(draft.strength, s.strength)
            else:
                drafts.append(_Draft(s.kind or "fact", sentences=[s], strength=s.strength))
        return drafts

    def _entities(self, pool: list[Sentence], drafts: list[_Draft]) -> list[_Draft]:
        """One draft per named thing, worded by a sentence no other memory already uses."""
        claimed = {id(d.head) for d in drafts if d.memory_type != "fact"}
        mentions: dict[str, list[Sentence]] = {}
        names: dict[str, tuple[str, str]] = {}
        for s in pool:
            for key, name, kind in s.entities:
                if s not in mentions.setdefault(key, []):
                    mentions[key].append(s)
                names.setdefault(key, (name, kind))
        self._fold_partial_names(mentions, names)
        position = {
            key: (s.index, i) for s in reversed(pool) for i, (key, _, _) in enumerate(s.entities)
        }  # first mention wins
        ranked = sorted(mentions, key=lambda k: (-len(mentions[k]), position[k], k))
        out = []
        worded: set[int] = set()
        for key in ranked:
            name, kind = names[key]
            free = [s for s in mentions[key] if id(s) not in claimed]
            if kind == "acronym" or not free:
                continue  # a decision or preference already says everything about it
            # A dated or numeric fact stays a fact, so the entity needs another sentence:
            # best with the name as its subject, one no other entity took, the longest.
            free = [s for s in free if not numeric(s)]
            if not free:
                continue  # named only in passing, in facts that are kept as facts
            lead = key.split()[0]
            best = min(
                free,
                key=lambda s: (
                    not s.lower.startswith(lead),
                    id(s) in worded,
                    -len(s.words),
                    s.index,
                ),
            )
            worded.add(id(best))
            others = [s for s in mentions[key] if s is not best]
            draft = _Draft(
                "entity",
                sentences=[*others, best],  # the head is the last
                strength=min(1.0, 0.4 + 0.2 * len(mentions[key])),
            )
            draft.title, draft.tags = name[:MAX_TITLE_CHARS], (f"kind:{kind}",)
            out.append(draft)
            if len(out) == self.max_entities:
                break
        return out

    @staticmethod
    def _fold_partial_names(mentions: dict[str, list[Sentence]], names: dict) -> None:
        """ "Dana" joins "Dana Whitfield" when that is the only full name it can be part of."""
        multi = sorted(k for k in mentions if " " in k and names[k][1] == "name")
        for key in sorted(k for k in mentions if " " not in k and names[k][1] == "name"):
            owners = [m for m in multi if key in m.split()]
            if len(owners) == 1:
                owner = owners[0]
                extra = [s for s in mentions.pop(key) if s not in mentions[owner]]
                mentions[owner] = sorted(mentions[owner] + extra, key=lambda s: s.index)
                names.pop(key)

    # --- scoring and wording

    def _candidate(
        self, draft: _Draft, pool: list[Sentence], total: int, idf: dict[str, float]
    ) -> tuple[float, int, Candidate]:
        head = draft.head
        content = resolve(head.text, head.episode.role)
        episodes = {s.episode_index for s in draft.sentences}
        echoes = {
            s.episode_index
            for s in pool
            if s.kind and s not in draft.sentences and similarity(s.terms, head.terms) >= 0.5
        }
        repeats = min(2, len(episodes | echoes) - 1)
        recency = draft.newest.index / max(1, total - 1)
        base = {"decision": 0.55, "preference": 0.5, "pattern": 0.5, "fact": 0.3, "entity": 0.3}
        score = base[draft.memory_type] + 0.2 * draft.strength + 0.1 * repeats + 0.1 * recency
        if head.episode.role == "user" and draft.memory_type in ("decision", "preference"):
            score += 0.05  # the user's own word weighs more than the assistant's suggestion
        score = round(min(1.0, max(0.0, score)), 2)
        tags = draft.tags or self._keywords(head, idf)
        if head.episode.role and draft.memory_type != "entity":
            tags = (f"role:{head.episode.role}", *tags)
        source_ids = tuple(
            dict.fromkeys(
                s.episode.memory_id for s in sorted(draft.sentences, key=lambda s: s.index)
            )
        )
        candidate = Candidate(
            memory_type=draft.memory_type,
            title=draft.title or make_title(content),
            content=content,
            importance_score=score,
            tags=tags,
            source_ids=source_ids,
        )
        return score, draft.sentences[0].index, candidate

    @staticmethod
    def _keywords(sentence: Sentence, idf: dict[str, float], n: int = 3) -> tuple[str, ...]:
        """The sentence's rarest content words in the session: what makes it specific."""
        words = sorted(
            {w for w in sentence.words if len(w) > 2 and not w.isdigit() and w not in TAG_STOP},
            key=lambda w: (-round(idf.get(stem(w), 0.0), 6), w),
        )
        return tuple(words[:n])

    @staticmethod
    def _idf(sentences: list[Sentence]) -> dict[str, float]:
        df: dict[str, int] = {}
        for s in sentences:
            for term in s.terms:
                df[term] = df.get(term, 0) + 1
        n = len(sentences)
        return {t: math.log((1 + n) / (1 + c)) + 1.0 for t, c in sorted(df.items())}

    # --- summary

    def _summary(self, sentences: list[Sentence], client_summary: str | None) -> str:
        lead = (client_summary or "").strip()
        pool = [
            s
            for s in sentences
            if not s.small_talk
            and len(s.words) >= 2
            and s.episode.role not in NOT_SPOKEN
            and len(s.text) <= 400
        ]
        if not pool:
            return lead or f"Small talk only ({len(sentences)} sentences); nothing to remember."
        vocab = sorted({t for s in pool for t in s.terms})
        vectors = self._tfidf([s.terms for s in pool], vocab)
        centrality = self._textrank(vectors)
        centrality = centrality / max(float(centrality.max()), 1e-12)
        scores = []
        for i, s in enumerate(pool):
            # Central sentences say what the session was about; typed statements say what
            # came out of it. A leading pronoun or a question reads badly out of context.
            typed = 0.5 * s.strength if s.kind and s.kind != "fact" else 0.15 * s.strength
            unclear = 0.7 if PRONOUN_START.match(s.lower) else 1.0
            scores.append((float(centrality[i]) + typed) * unclear * (0.6 if s.question else 1.0))
        want = min(self.summary_sentences, max(1, (len(pool) + 2) // 3))
        picked: list[int] = []
        avoid = [self._tfidf([frozenset(stem(w) for w in content_words(lead.lower()))], vocab)[0]]
        if not lead:
            avoid = []
        else:
            want = max(1, want - 1)
        for i in sorted(range(len(pool)), key=lambda i: (-round(float(scores[i]), 9), i)):
            if len(picked) == want:
                break
            if all(float(vectors[i] @ v) < 0.5 for v in avoid):
                picked.append(i)
                avoid.append(vectors[i])
        parts = [lead] if lead else []
        parts += [self._summary_sentence(pool[i]) for i in sorted(picked)]
        return " ".join(parts)

    @staticmethod
    def _summary_sentence(s: Sentence) -> str:
        if s.question:
            who = {"user": "The user", "assistant": "The assistant"}.get(s.episode.role or "")
            text = INTERJECTION.sub("", s.text).strip() or s.text.strip()
            text = text[:1].upper() + text[1:]
            return f"{who} asked: {text}" if who else text
        return resolve(s.text, s.episode.role)

    @staticmethod
    def _tfidf(term_sets: list[frozenset[str]], vocab: list[str]) -> np.ndarray:
        index = {t: i for i, t in enumerate(vocab)}
        matrix = np.zeros((len(term_sets), len(vocab)), dtype=np.float64)
        for row, terms in enumerate(term_sets):
            for term in terms:
                if term in index:
                    matrix[row, index[term]] = 1.0
        df = matrix.sum(axis=0)
        matrix *= np.log((1 + len(term_sets)) / (1 + df)) + 1.0
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.maximum(norms, 1e-12)

    @staticmethod
    def _textrank(vectors: np.ndarray, damping: float = 0.85, rounds: int = 30) -> np.ndarray:
        """PageRank over the sentence-similarity graph: central sentences score high."""
        n = len(vectors)
        sims = vectors @ vectors.T
        np.fill_diagonal(sims, 0.0)
        out_weight = sims.sum(axis=1, keepdims=True)
        transition = np.where(out_weight > 0, sims / np.maximum(out_weight, 1e-12), 1.0 / n)
        rank = np.full(n, 1.0 / n)
        for _ in range(rounds):
            rank = (1 - damping) / n + damping * (transition.T @ rank)
        return rank
