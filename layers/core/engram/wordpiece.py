"""Counts WordPiece tokens in pure Python, as the `tokenizers` library does with a BERT uncased
tokenizer.json (BertNormalizer, BertPreTokenizer, WordPiece; no special tokens, no
truncation). `engram.text.count_tokens` counts the embedding model's tokens with it;
tests/unit/test_wordpiece.py checks the counts against `tokenizers` itself. So the Lambda
layer needs no 11 MB native tokenizer; the local embedder, which needs the token ids, keeps
using `tokenizers` (in the local extra)."""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache

# Code points the normalizer pads with spaces (BERT's "Chinese characters": CJK ideographs).
_CJK = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B920, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)
# Controls, format characters, private use (and lone surrogates); tokenizers' tables know
# no unassigned code points, so those stay (each word with one is an [UNK]).
_DROPPED = frozenset({"Cc", "Cf", "Co", "Cs"})
_ASCII_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Lower-cased ASCII words: a run of letters and digits, or one punctuation mark (every other
# visible ASCII character is BERT punctuation).
_ASCII_WORDS = re.compile(r"[a-z0-9]+|\S")


class WordPiece:
    """The counter of one tokenizer.json (its WordPiece model's vocabulary)."""

    def __init__(self, tokenizer_json: str) -> None:
        model = json.loads(tokenizer_json)["model"]
        self._vocabulary = frozenset(model["vocab"])
        self._longest = int(model["max_input_chars_per_word"])  # longer words are one [UNK]
        self._pieces = lru_cache(maxsize=65536)(self._split)

    def count(self, text: str) -> int:
        """WordPiece tokens in `text`, without [CLS]/[SEP] and without truncation."""
        if text.isascii():
            words = _ASCII_WORDS.findall(_ASCII_CONTROLS.sub("", text).lower())
        else:
            words = _words(_normalized(text))
        return sum(map(self._pieces, words))

    def _split(self, word: str) -> int:
        """WordPiece: the longest vocabulary prefix first, then '##' continuations; a word
        that cannot be split so (or is too long) is a single [UNK]."""
        if len(word) > self._longest:
            return 1
        count, start = 0, 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self._vocabulary:
                    break
                end -= 1
            if end == start:
                return 1
            count, start = count + 1, end
        return count


def _normalized(text: str) -> str:
    """BertNormalizer: control characters dropped, CJK ideographs spaced out, accents
    stripped (NFD, then no non-spacing marks), lower-cased; in that order."""
    kept = []
    for char in text:
        if char in "\t\n\r":
            kept.append(" ")
        elif char == "\ufffd" or unicodedata.category(char) in _DROPPED:
            continue
        elif _is_cjk(ord(char)):
            kept.append(f" {char} ")
        else:
            kept.append(char)
    decomposed = unicodedata.normalize("NFD", "".join(kept))
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn").lower()


def _is_cjk(code: int) -> bool:
    return any(low <= code <= high for low, high in _CJK)


def _words(text: str) -> list[str]:
    """BertPreTokenizer: split on whitespace, and every punctuation mark a word of its own."""
    words: list[str] = []
    for chunk in text.split():
        start = 0
        for i, char in enumerate(chunk):
            if _is_punctuation(char):
                if start < i:
                    words.append(chunk[start:i])
                words.append(char)
                start = i + 1
        if start < len(chunk):
            words.append(chunk[start:])
    return words


def _is_punctuation(char: str) -> bool:
    if char.isascii():
        return not char.isalnum() and not char.isspace()
    return unicodedata.category(char).startswith("P")
