"""The distress detector: first-person distress phrases in learner writing, in two tiers.

``detect(text)`` returns a :class:`Signal` and does nothing else. It never hides, delays, edits
or decides anything about a post; callers store the signal so facilitators see the posts that
may need them first. Every post still reaches a person.

How it reads a text:

* Normalise: lower case, curly quotes and apostrophes made straight, zero-width characters
  dropped, whitespace collapsed. The patterns in ``lexicon.toml`` handle "im"/"i'm"/"i am"
  and "cant"/"can't"/"cannot" themselves.
* Match the lexicon's rules. Only first-person phrases count: "he said he wanted to die",
  "the statistics on suicide among refugees" and "my grandmother's generation was
  traumatised" are topic talk in a course about racism, not distress.
* Drop a match that overlaps an exclusion (idioms: "i was so embarrassed i wanted to die";
  accidents: "i hurt myself playing football"), that is negated when the rule asks for it
  ("i would never kill myself"), that is inside double quotes spoken by someone other than
  "i" (a poem's line, a film's, a testimony's), or that is placed in the past and said to be
  resolved in the same sentence or the next.
* Crisis wins over support; no match at all is ``none``.

Decisions (the evaluation set in ``evaluation/eval_set.tsv`` is labelled the same way):

* Past and resolved is ``none``: "I used to feel like a burden but therapy helped" or
  "years ago I tried to kill myself; I'm in a much better place now". The signal orders the
  queue by present need; the post is still read. Past without a resolution in the same
  sentence or the next one ("last week I hurt myself again") still counts, so the doubt falls
  on the side of a facilitator looking.
* "I can't go on" (ending the thought, or "like this", "anymore") is crisis tier, as in most
  clinical lexicons' hopelessness items; "I can't go on to module 4" is nothing.
* "I can't breathe" is not in the lexicon: in this course it is nearly always quoted.
* "They told me to kill myself" still flags: a match that holds a first-person word is not
  checked for a third-person subject, and a facilitator should see that post anyway.
* Single quotes are not treated as quotation marks (they are apostrophes too often).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

LEXICON_FILE = Path(__file__).with_name("lexicon.toml")

# Posts are far shorter; a longer text is read up to here, so no input costs more than this.
MAX_TEXT_CHARS = 50_000
# A signal is for ordering a queue, not a transcript: a few short phrases are enough.
MAX_MATCHES = 8
MAX_MATCH_CHARS = 80


class Tier(StrEnum):
    """How urgently a facilitator may be needed. Values are stored, so never rename them."""

    CRISIS = "crisis"
    SUPPORT = "support"
    NONE = "none"


@dataclass(frozen=True)
class Signal:
    """What the detector saw in one text."""

    tier: Tier
    matches: tuple[str, ...]
    lexicon_version: str


# What a rule may ask the detector to check around its matches; see lexicon.toml.
CHECKS = frozenset({"negation", "person"})
SHARED_PREFIX = "<me> <aux>"


@dataclass(frozen=True)
class Rule:
    """One compiled lexicon pattern and the context checks its matches must pass."""

    tier: Tier
    category: str
    checks: frozenset[str]
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Scanner:
    """A compiled regex that ``detect`` runs: one rule pattern, or many sharing a prefix."""

    tier: Tier
    checks: frozenset[str]
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Lexicon:
    """A loaded, compiled lexicon file."""

    version: str
    rules: tuple[Rule, ...]
    exclusions: tuple[re.Pattern[str], ...]
    scanners: tuple[Scanner, ...]


class LexiconError(ValueError):
    """The lexicon file is malformed; raised at load time, never while detecting."""


_MACRO = re.compile(r"<([a-z_]+)>")
# Unbounded repetition is how a regex goes quadratic or worse on hostile input; the lexicon
# may only use ? and bounded {m,n}.
_UNBOUNDED = re.compile(r"(?<!\\)[*+]|\{\d*,\}")


def _expand(pattern: str, macros: dict[str, str], where: str) -> str:
    def replace(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in macros:
            raise LexiconError(f"{where}: unknown macro <{name}>")
        return macros[name]

    expanded = pattern
    # Macros may use macros; three rounds is plenty and stops a macro that names itself.
    for _ in range(3):
        expanded = _MACRO.sub(replace, expanded)
    if _MACRO.search(expanded):
        raise LexiconError(f"{where}: macros nest too deeply")
    if _UNBOUNDED.search(expanded):
        raise LexiconError(f"{where}: unbounded quantifier (*, + or {{n,}}) in {pattern!r}")
    return expanded


def _compile(pattern: str, macros: dict[str, str], where: str) -> re.Pattern[str]:
    try:
        return re.compile(_expand(pattern, macros, where))
    except re.error as exc:
        raise LexiconError(f"{where}: {exc} in {pattern!r}") from exc


def load_lexicon(path: Path | str = LEXICON_FILE) -> Lexicon:
    """Read and compile a lexicon file; raise LexiconError if anything in it is wrong."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise LexiconError(f"{path}: missing version")
    macros = {str(k): str(v) for k, v in data.get("macros", {}).items()}
    rules: list[Rule] = []
    # Most patterns start with the subject and its fillers; matched once per position for
    # all of them instead of once per pattern, detection is several times faster.
    shared: dict[tuple[Tier, frozenset[str]], list[str]] = {}
    scanners: list[Scanner] = []
    for i, entry in enumerate(data.get("rule", [])):
        where = f"{path}: rule {i} ({entry.get('category', '?')})"
        try:
            tier = Tier(entry["tier"])
        except (KeyError, ValueError) as exc:
            raise LexiconError(f"{where}: tier must be crisis or support") from exc
        if tier is Tier.NONE:
            raise LexiconError(f"{where}: tier must be crisis or support")
        checks = entry.get("checks")
        if not isinstance(checks, list) or not CHECKS.issuperset(checks):
            raise LexiconError(f"{where}: checks must be a list of {sorted(CHECKS)}")
        for pattern in entry.get("patterns", []):
            compiled = _compile(pattern, macros, where)
            rules.append(Rule(tier, str(entry.get("category", "")), frozenset(checks), compiled))
            if pattern.startswith(SHARED_PREFIX):
                tail = pattern.removeprefix(SHARED_PREFIX)
                shared.setdefault((tier, frozenset(checks)), []).append(tail)
            else:
                scanners.append(Scanner(tier, frozenset(checks), compiled))
    for (tier, checks), tails in shared.items():
        combined = SHARED_PREFIX + "(?:" + "|".join(f"(?:{tail})" for tail in tails) + ")"
        scanners.append(Scanner(tier, checks, _compile(combined, macros, f"{path}: {tier}")))
    exclusions = tuple(
        _compile(pattern, macros, f"{path}: exclusion {i}")
        for i, entry in enumerate(data.get("exclusion", []))
        for pattern in entry.get("patterns", [])
    )
    if not rules:
        raise LexiconError(f"{path}: no rules")
    return Lexicon(version.strip(), tuple(rules), exclusions, tuple(scanners))


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """The packaged lexicon, read and compiled once, on first use."""
    return load_lexicon(LEXICON_FILE)


# --------------------------------------------------------------------------- normalising

_APOSTROPHES = "\u2018\u2019\u201a\u201b\u02bc\u2032\u00b4`\uff07"
_QUOTES = "\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033\uff02"
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_TRANSLATE = str.maketrans(
    {c: "'" for c in _APOSTROPHES} | {c: '"' for c in _QUOTES} | {c: "-" for c in _DASHES}
)
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
# Whitespace runs, invisible runs, and everything else, so each run is handled in one step.
_RUNS = re.compile(rf"(\s+)|([{_INVISIBLE}]+)|[^\s{_INVISIBLE}]+")


def normalise(text: str) -> tuple[str, list[int]]:
    """Lower-case, straighten quotes, collapse whitespace; map each output char to the input.

    The map lets a match be shown as the learner wrote it, not as the detector read it.
    """
    parts: list[str] = []
    offsets: list[int] = []
    for run in _RUNS.finditer(text):
        start, end = run.span()
        if run.group(1) is not None:
            if parts:  # leading whitespace is dropped, inner runs become one space
                parts.append(" ")
                offsets.append(start)
            continue
        if run.group(2) is not None:
            continue
        lowered = run.group().lower().translate(_TRANSLATE)
        if len(lowered) == end - start:
            parts.append(lowered)
            offsets.extend(range(start, end))
        else:
            # A few characters lower-case to two ("İ"); map those one by one.
            for index in range(start, end):
                piece = text[index].lower().translate(_TRANSLATE)
                parts.append(piece)
                offsets.extend([index] * len(piece))
    return "".join(parts), offsets


# ------------------------------------------------------------------------ context checks

_SENTENCE_END = re.compile(r"[.!?]")
_CLAUSE_BREAK = re.compile(r"[,;:]|\b(?:but|though|although|yet|and)\b")
_NEGATION = re.compile(
    r"\b(?:not|never|no longer|cannot|"
    r"(?:do|does|did|would|could|should|wo|ca|is|was|are|were|have|has|had|must)n ?'?t|"
    # "ever" after a would/will only turns up in negative contexts: "i don't think i'd ever".
    r"(?:i ?'?d|i would|i ?'?ll|i will) ever)\b"
)
# Negations that do not negate what follows: "i can't stop hurting myself", and hedges whose
# "not" belongs to the thinking, not to the thought: "i don't think i'll be here much longer".
_NOT_A_NEGATION = re.compile(
    r"\b(?:can ?'?t|cannot|couldn ?'?t|won ?'?t) (?:stop|help)\b|"
    r"\b(?:don ?'?t|do not|didn ?'?t|did not) (?:know|care|think|believe|see why)\b"
)
_PERSON = re.compile(
    r"\b(?:(i|i ?'?m|i ?'?ve|i'd|i'll|me|my|myself|mine)|"
    r"(he|she|they|him|her|his|hers|their|theirs|them|themselves|himself|herself|"
    r"people|someone|somebody))\b"
)
_FIRST_PERSON = re.compile(r"\b(?:i|i ?'?m|i ?'?ve|i'd|i'll|me|my|myself|mine)\b")
_PAST = re.compile(
    r"\b(?:used to|years ago|months ago|a long time ago|long ago|back then|back when|"
    r"in the past|last year|at one point|there was a time|once upon|"
    r"when i was (?:younger|little|a (?:kid|child|teen|teenager|student))|"
    r"as a (?:kid|child|teen|teenager|student)|in my (?:teens|twenties|youth)|"
    r"at (?:school|uni|university|college)|"
    # "i was numb for about a year": a stretch of time that is over.
    r"i was [^.!?]{0,40}?for (?:about |nearly |almost |over |more than )?"
    r"(?:a year|a few (?:months|years)|months|years))\b"
)
_RESOLVED = re.compile(
    r"\b(?:(?:therapy|counselling|counseling|treatment|medication|support|it|that|talking|"
    r"time) (?:really )?helped|"
    r"(?:i ?'?m|i am) (?:doing |feeling )?(?:okay|ok|fine|alright|all right|safe|well|good|"
    r"great|happy|proud|stronger|at peace|healthy|in a good place)\b|"
    r"(?:doing|feeling|much|a lot|so much|far) better|in a (?:much |far |way )?better place|"
    r"recovered|(?:got|get|gotten|come|came|made it) through (?:it|that)|"
    r"(?:got|helped|saw|pulled) me through|long gone|(?:has|have) (?:gone|passed|faded|lifted)|"
    r"(?:i ?'?m|i am) (?:stable|good) now|"
    r"(?:past|over) (?:it|that)\b|"
    r"these days|nowadays|not any ?more|no longer)"
)
_SPEAKER_IS_ME = re.compile(
    r"\bi\b[^\".!?]{0,40}\b(?:said|say|saying|told|tell|telling|texted|text|wrote|write|"
    r"writing|typed|messaged|posted|whispered|screamed|shouted|thought|think)\b|\bto myself\b"
)
_QUOTED = re.compile(r'"[^"]{1,400}"')
# How far back a clause or sentence is looked at: enough for a sentence, bounded for speed.
_WINDOW = 200


def _last_match(pattern: re.Pattern[str], text: str, pos: int, endpos: int) -> re.Match[str] | None:
    found = None
    for found in pattern.finditer(text, pos, endpos):  # noqa: B007 (the last one is wanted)
        pass
    return found


def _sentence_bounds(norm: str, start: int, end: int) -> tuple[int, int]:
    lo = max(0, start - _WINDOW)
    last = _last_match(_SENTENCE_END, norm, lo, start)
    s_start = last.end() if last else lo
    after = _SENTENCE_END.search(norm, end, min(len(norm), end + _WINDOW))
    s_end = after.start() if after else min(len(norm), end + _WINDOW)
    return s_start, s_end


def _clause_prefix(norm: str, sentence_start: int, start: int) -> str:
    prefix = norm[sentence_start:start]
    last = _last_match(_CLAUSE_BREAK, prefix, 0, len(prefix))
    return prefix[last.end() :] if last else prefix


def _negated(clause: str) -> bool:
    return bool(_NEGATION.search(_NOT_A_NEGATION.sub(" ", clause)))


def _person_ok(norm: str, sentence: tuple[int, int], start: int, end: int) -> bool:
    """True when a bare phrase is about the writer, not about someone else or a topic."""
    if _FIRST_PERSON.search(norm, start, end):
        return True
    last = _last_match(_PERSON, norm, sentence[0], start)
    if last is not None:
        return last.group(1) is not None
    # No person before the phrase: it is the writer's only if they appear in the sentence.
    return _FIRST_PERSON.search(norm, end, sentence[1]) is not None


def _quoted_by_someone_else(norm: str, quotes: list[tuple[int, int]], start: int, end: int) -> bool:
    for q_start, q_end in quotes:
        if q_start < start and end < q_end:
            before = norm[max(0, q_start - 60) : q_start]
            return not _SPEAKER_IS_ME.search(before)
    return False


def _resolved(norm: str, sentence: tuple[int, int], start: int, end: int) -> bool:
    """Placed in the past in its sentence, and said to be over there or in the next one."""
    if not _PAST.search(norm, sentence[0], sentence[1]):
        return False
    # "in my twenties i was suicidal for a while. i'm in a much better place now."
    limit = min(len(norm), sentence[1] + _WINDOW)
    after = _SENTENCE_END.search(norm, sentence[1] + 1, limit)
    return bool(_RESOLVED.search(norm, end, after.start() if after else limit))


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e in spans)


# ------------------------------------------------------------------------------ detecting


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _shown(text: str, offsets: list[int], start: int, end: int) -> str:
    phrase = " ".join(text[offsets[start] : offsets[end - 1] + 1].split())
    return phrase if len(phrase) <= MAX_MATCH_CHARS else phrase[: MAX_MATCH_CHARS - 1] + "…"


def detect(text: str, lexicon: Lexicon | None = None) -> Signal:
    """Return the distress tier of ``text``, the phrases that set it, and the lexicon version."""
    lexicon = lexicon or default_lexicon()
    text = (text or "")[:MAX_TEXT_CHARS]
    norm, offsets = normalise(text)
    if not norm:
        return Signal(Tier.NONE, (), lexicon.version)

    excluded = [m.span() for pattern in lexicon.exclusions for m in pattern.finditer(norm)]
    quotes = [m.span() for m in _QUOTED.finditer(norm)] if '"' in norm else []
    found: dict[Tier, list[tuple[int, int]]] = {Tier.CRISIS: [], Tier.SUPPORT: []}
    # A combined scanner reports one match per place where the phrase starts; overlapping
    # matches of one tier would only repeat a phrase, so nothing that sets the tier is lost.
    for rule in lexicon.scanners:
        for match in rule.pattern.finditer(norm):
            start, end = match.span()
            if end == start or _overlaps(excluded, start, end):
                continue
            if _quoted_by_someone_else(norm, quotes, start, end):
                continue
            sentence = _sentence_bounds(norm, start, end)
            if _resolved(norm, sentence, start, end):
                continue
            checks = rule.checks
            if "negation" in checks and _negated(_clause_prefix(norm, sentence[0], start)):
                continue
            if "person" in checks and not _person_ok(norm, sentence, start, end):
                continue
            found[rule.tier].append((start, end))

    for tier in (Tier.CRISIS, Tier.SUPPORT):
        if found[tier]:
            phrases = dict.fromkeys(
                _shown(text, offsets, s, e) for s, e in _merge(found[tier])[:MAX_MATCHES]
            )
            return Signal(tier, tuple(phrases), lexicon.version)
    return Signal(Tier.NONE, (), lexicon.version)
