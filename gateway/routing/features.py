"""Text features of the complexity classifier, computed from one message's text.

Speed matters (the classifier runs on every request), so each text is lower-cased and split into words once;
vocabulary cues are a set intersection with those words (plus a count per word found), multi-word cues are
substring counts on the space-joined words, and code or list cues are line start and end checks. No regex
alternation runs over the whole text.
"""

from __future__ import annotations

import re
import string

# Lower-cased text -> words: keep letters, digits and ``#+'`` (c#, c++, don't); everything else splits.
_WORD_CHARS = string.ascii_lowercase + string.digits + "#+'"
_TO_WORDS = str.maketrans({chr(i): " " for i in range(128) if chr(i) not in _WORD_CHARS})


class _SpaceByDefault(dict[int, str | None]):
    """A translate table that turns every character it does not name into a space."""

    def __missing__(self, key: int) -> str:
        return " "


# Text -> numbers: digits and decimal points stay, thousands separators go, everything else splits.
_TO_NUMBERS = _SpaceByDefault(
    dict.fromkeys(range(128), " ") | {ord(d): d for d in string.digits} | {ord("."): ".", ord(","): None}
)

_LATEX = re.compile(r"\\(?:frac|sum|int|sqrt|prod|lim|infty|alpha|beta|theta|pi|cdot|leq|geq|mathbb)\b")
_COMPARISON_OPERATORS = "=<>"
_UNICODE_COMPARISONS = "≤≥"
_EQUATION_LEFT = frozenset(string.ascii_lowercase + string.digits + ")")
_EQUATION_RIGHT = frozenset(string.ascii_lowercase + string.digits + "-(")
_LIST_ITEM = re.compile(r"(?:\d{1,2}[.)]|[a-z][.)]|[-*•])\s+\S")
_LIST_MARK_ENDS = frozenset(".)")
_BULLETS = frozenset("-*•")
_MATH_SYMBOLS = "∫∑√π≤≥≠∞"  # and "^"
MATH_MARKS_CAP = 4  # math notation marks beyond this many do not raise the math feature
_CODE_LINE_PREFIXES = (
    "def ", "class ", "import ", "from ", "#include", "public ", "private ", "function ", "const ", "let ",
    "var ", "return ", "if (", "for (", "while (", "select ", "<div", "<html", "fn ", "func ", "package ",
)
_CODE_LINE_SUFFIXES = (";", "{", "}", "]", "):", "[")


def _lexicon(words: str) -> frozenset[str]:
    return frozenset(words.split())


VOCABULARY: dict[str, frozenset[str]] = {
    "code": _lexicon(
        "python javascript typescript java c++ rust golang sql regex function algorithm implement "
        "implementation code coding script bug bugs debug compile compiler refactor api recursion "
        "recursive html css c# stacktrace exception segfault"
    ),
    "code_task_verb": _lexicon("write implement create build fix debug optimize optimise refactor review"),
    "code_task_noun": _lexicon(
        "function functions program programs script scripts class code algorithm query regex method "
        "parser endpoint test tests"
    ),
    "math": _lexicon(
        "prove proof theorem lemma integral derivative equation equations solve probability matrix "
        "eigenvalue eigenvalues eigenvector polynomial prime primes modulo geometry triangle area volume "
        "radius vector calculus inequality sequence series factor factorize factorial logarithm "
        "statistics statistical percent percentage ratio"
    ),
    "reasoning": _lexicon(
        "prove proof derive derivation justify reason reasoning analyze analyse analysis tradeoff "
        "tradeoffs compare contrast evaluate critique design architecture plan strategy strategies "
        "optimize optimise deduce infer logic logical puzzle riddle hypothesis hypotheses implications"
    ),
    "structured_output": _lexicon("json yaml csv xml table tabular schema extract parse"),
    "long_output": _lexicon(
        "essay report article comprehensive detailed thorough whitepaper chapter chapters outline"
    ),
    "constraints": _lexicon("exactly must rhyme rhyming limerick acrostic palindrome constraint constraints"),
    "casual": _lexicon(
        "poem story stories blog email letter tweet slogan joke song lyrics pretend imagine roleplay "
        "character persuasive catchy fun"
    ),
    # Transform tasks: the answer is the given text reworked, so its length says little about difficulty.
    "transform": _lexicon(
        "summarize summarise summary summarizing summarising tldr translate translation paraphrase rephrase "
        "rewrite reword proofread shorten condense simplify"
    ),
    # Words that relate one quantity to another (a multiplication, a fraction, a share of a whole).
    "quantity_relation": _lexicon(
        "twice thrice half halves double doubled triple tripled quarter quarters third thirds fourth fifth "
        "percent fraction"
    ),
    "greeting": _lexicon("hi hello hey yo thanks thank good sup"),
    "system_rigour": _lexicon("expert rigorous careful carefully reason reasoning senior thorough precise"),
    "system_brevity": _lexicon("concise brief short terse succinct"),
}
# Multi-word cues, matched on whole words.
PHRASE_CUES: dict[str, tuple[str, ...]] = {
    "reasoning": (
        "step by step", "think carefully", "think through", "explain why", "explain how", "trade offs",
        "pros and cons", "edge cases", "edge case", "what would happen"
    ),
    "code": ("time complexity", "linked list", "binary tree", "sql query"),
    "math": ("expected value",),
    "structured_output": (
        "key value", "bullet points", "format as", "formatted as", "return only", "list all", "list each",
        "list every"
    ),
    "long_output": ("in depth", "at least"),
    "constraints": (
        "without using", "only use", "do not use", "don't use", "no more than", "at most", "start each",
        "start every", "end each", "end every", "in the style"
    ),
    "casual": ("role play", "act as", "you are a", "as if you", "how are you", "what's up"),
    "quantity_relation": ("times as", "times more", "times less", "as many", "as much"),
}
# "than" after a comparative ("3 more than", "older than") relates two quantities; counted as one cue each.
_COMPARISON_WORD = "than"

_CUE_WORDS = frozenset().union(*VOCABULARY.values())
# (padded phrase, its words, feature) per first word; a phrase is only searched for when all its words occur.
_PHRASES_BY_FIRST_WORD: dict[str, list[tuple[str, frozenset[str], str]]] = {}
for _feature, _phrases in PHRASE_CUES.items():
    for _phrase in _phrases:
        _words = _phrase.split()
        _PHRASES_BY_FIRST_WORD.setdefault(_words[0], []).append((f" {_phrase} ", frozenset(_words), _feature))
_PHRASE_WORDS = frozenset(word for phrase in PHRASE_CUES.values() for p in phrase for word in p.split())
_LOOKUP_WORDS = _CUE_WORDS | _PHRASE_WORDS | {_COMPARISON_WORD}
_WORD_FEATURES: dict[str, tuple[str, ...]] = {
    word: tuple(name for name, vocabulary in VOCABULARY.items() if word in vocabulary) for word in _CUE_WORDS
}


def words_of(lowered: str) -> list[str]:
    """The words of a lower-cased text."""
    return lowered.translate(_TO_WORDS).split()


def cue_counts(words: list[str]) -> dict[str, int]:
    """Hits per vocabulary and phrase cue (each occurrence counts)."""
    counts = dict.fromkeys(VOCABULARY, 0)
    cue_words = list(filter(_LOOKUP_WORDS.__contains__, words))  # the few words worth counting
    if not cue_words:
        return counts
    found = set(cue_words)
    joined = ""
    for word in found:
        names = _WORD_FEATURES.get(word)
        if names:
            hits = cue_words.count(word)
            for name in names:
                counts[name] += hits
        for phrase, phrase_words, name in _PHRASES_BY_FIRST_WORD.get(word, ()):
            if phrase_words <= found:
                joined = joined or f" {' '.join(words)} "
                counts[name] += joined.count(phrase)
    if _COMPARISON_WORD in found:
        counts["quantity_relation"] += cue_words.count(_COMPARISON_WORD)
    return counts


def _code_task_count(words: list[str]) -> int:
    """'write/implement/fix ... function/program/query' within a few words."""
    nouns = VOCABULARY["code_task_noun"]
    hits = 0
    for verb in VOCABULARY["code_task_verb"].intersection(words):
        at = -1
        while True:
            try:
                at = words.index(verb, at + 1)
            except ValueError:
                break
            if not nouns.isdisjoint(words[at + 1 : at + 8]):
                hits += 1
    return hits


def _fraction_count(text: str) -> int:
    """Non-overlapping digit/digit pairs ("3/4"), as ``re.findall(r"\\d/\\d")`` counts them."""
    count = 0
    free_from = 0  # a match may not reuse the digit after the previous match's slash
    at = text.find("/", 1)
    while at >= 0:
        if at - 1 >= free_from and text[at - 1].isdecimal() and text[at + 1 : at + 2].isdecimal():
            count += 1
            free_from = at + 2
        at = text.find("/", at + 1)
    return count


def _line_cues(lowered: str) -> tuple[int, int]:
    """(code-like lines, list items)."""
    code_lines = 0
    list_items = 0
    for line in lowered.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(_CODE_LINE_PREFIXES) or stripped.endswith(_CODE_LINE_SUFFIXES):
            code_lines += 1
        # A list marker has ".", ")" as its 2nd or 3rd character, or is a bullet: only then run the pattern.
        if (stripped[1:2] in _LIST_MARK_ENDS or stripped[2:3] in _LIST_MARK_ENDS or stripped[0] in _BULLETS) \
                and _LIST_ITEM.match(stripped):
            list_items += 1
    return code_lines, list_items


def number_count(text: str) -> int:
    """Numeric quantities written with digits ("3", "1,200", "2.5"; a "3/4" counts as two)."""
    tokens = text.translate(_TO_NUMBERS).split()
    return len(tokens) - tokens.count(".") - tokens.count("..") - tokens.count("...")  # minus bare dots


def _math_marks(text: str, lowered: str) -> int:
    """Math notation marks, counted up to ``MATH_MARKS_CAP`` (the feature ignores any more)."""
    marks = text.count("^")
    if not text.isascii():
        marks += sum(text.count(symbol) for symbol in _MATH_SYMBOLS)
    if "\\" in text and marks < MATH_MARKS_CAP:
        marks += len(_LATEX.findall(text))
    if marks < MATH_MARKS_CAP and ("=" in text or "<" in text or ">" in text or not text.isascii()):
        marks += _equation_count(lowered, MATH_MARKS_CAP - marks)
    return min(marks, MATH_MARKS_CAP)


def _equation_count(lowered: str, limit: int) -> int:
    """Operators between two operands, like "x + 1 = 4" or "|x| < 10" (not "=>" or "<tag>"), up to limit."""
    count = 0
    operators = _COMPARISON_OPERATORS if lowered.isascii() else _COMPARISON_OPERATORS + _UNICODE_COMPARISONS
    for operator in operators:
        at = lowered.find(operator)
        while at >= 0:
            left = lowered[max(0, at - 8) : at].rstrip()[-1:]
            right = lowered[at + 1 : at + 9].lstrip()[:1]
            if left in _EQUATION_LEFT and right in _EQUATION_RIGHT:
                count += 1
                if count >= limit:
                    return count
            at = lowered.find(operator, at + 1)
    return count


def _ascii(text: str) -> str:
    """Non-ASCII characters become "?" (str.translate is only fast on ASCII text)."""
    return text if text.isascii() else text.encode("ascii", "replace").decode("ascii")


def text_features(text: str) -> dict[str, float]:
    """The vocabulary, code, math, quantity and list features of one message (see docs/routing.md)."""
    raw = text
    text = _ascii(text)
    lowered = text.lower()
    words = words_of(lowered)
    cues = cue_counts(words)
    code_lines, list_items = _line_cues(raw.lower()) if "\n" in text else (0, 0)
    code_tasks = _code_task_count(words) if cues["code_task_verb"] and cues["code_task_noun"] else 0
    code_blocks = text.count("```") // 2
    math_marks = _math_marks(raw, lowered if raw is text else raw.lower())
    numbers = number_count(text)
    percents = text.count("%")
    fractions = _fraction_count(text) if "/" in text else 0
    relations = cues["quantity_relation"] + percents + fractions
    casual = cues["casual"] + (1 if words and words[0] in VOCABULARY["greeting"] else 0)
    return {
        "code": min(3.0, code_blocks + 0.1 * min(code_lines, 20) + 0.35 * min(cues["code"], 4)
                    + 0.5 * min(code_tasks, 2)),
        "math": min(2.0, math_marks * 0.4 + min(cues["math"], 2) * 0.3),
        "numbers": min(numbers, 8) / 4.0,
        "quantity_relations": min(relations, 6) / 2.0 if numbers or relations > 1 else 0.0,
        "reasoning": min(3.0, cues["reasoning"] * 0.6),
        "structured_output": min(2.0, cues["structured_output"] * 0.6),
        "long_output": min(2.0, cues["long_output"] * 0.6),
        "constraints": min(2.0, cues["constraints"] * 0.5),
        "multi_part": min(list_items, 8) / 4.0,
        "casual": min(2.0, casual * 0.5),
        "transform": 1.0 if cues["transform"] else 0.0,
    }


def system_hint(text: str) -> float:
    """System prompt asking for rigour (positive) or brevity (negative)."""
    if not text:
        return 0.0
    words = words_of(_ascii(text).lower())
    cues = cue_counts(words)
    rigour = cues["system_rigour"] + (1 if "step" in words and "step by step" in " ".join(words) else 0)
    return min(2.0, 0.5 * rigour) - min(1.0, 0.5 * cues["system_brevity"])
