"""engram.text.count_tokens (engram.wordpiece) counts the tokens `tokenizers` counts with the same tokenizer.json (the
local embedder's tokenizer, in the local extra): on real conversation text, on crafted edge
cases and on a sweep of code points."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from engram.text import count_tokens

tokenizers = pytest.importorskip("tokenizers")
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
EDGE_CASES = [
    "",
    "   \t\n ",
    "Hello, world!",
    "We decided to ship on Fridays.",
    "state-of-the-art e-mail@example.com $100 3.14 50% C++ _under_score_ a/b\\c",
    "Café naïve façade Straße İstanbul Ελληνικά العربية עברית हिन्दी",
    "我爱北京天安门 日本語のテキスト 한국어 텍스트",
    "🙂👍🏽 emoji and ZWJ 👩‍👩‍👧 sequences",
    "x" * 99 + " " + "y" * 100 + " " + "z" * 101,
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "a\x00b\x07c\x1bd\x7fe",
    "line\u2028separator\u2029paragraph\x85next",
    "zero\u200bwidth\u200djoiner\ufeffbom\u00adsoft",
    "e\u0301 a\u0308 combining marks",
    "ＡＢＣ１２３ full width ﬁ ligature Ⅻ ½",
    "…ellipsis—dash “quotes” «guillemets» ¿qué? ¡sí!",
    "\ufffd replacement \ue000 private use",
    "tab\tnew\nline\rcarriage\x0bvertical\x0cfeed",
    "MiXeD CaSe WORDS",
]


@pytest.fixture(scope="module")
def reference():
    tokenizer_json = Path(__file__).resolve().parents[2] / "layers/core/engram/adapters/minilm"
    tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_json / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


@pytest.mark.parametrize("text", EDGE_CASES)
def test_edge_cases_count_as_tokenizers_counts(reference, text):
    assert count_tokens(text) == reference(text)


def test_conversation_text_counts_as_tokenizers_counts(reference):
    path = SHARED / "bench" / "locomo-dev.json"
    if not path.is_file():
        pytest.skip("../shared/bench/locomo-dev.json is not beside the checkout")
    texts: list[str] = []

    def strings(value: object) -> None:
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict):
            for inner in value.values():
                strings(inner)
        elif isinstance(value, list):
            for inner in value:
                strings(inner)

    strings(json.loads(path.read_text()))
    assert len(texts) > 1000
    assert [count_tokens(t) for t in texts] == [reference(t) for t in texts]


def test_code_points_count_as_tokenizers_counts(reference):
    """Every 7th code point of the first three planes, alone and inside a word, but those
    whose Unicode category changed since 3.2: `tokenizers` has older Unicode tables, so a
    character assigned (or reclassified) later may count differently."""
    from unicodedata import ucd_3_2_0

    differ = []
    for code in range(0, 0x30000, 7):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF or ucd_3_2_0.category(char) != unicodedata.category(char):
            continue
        text = f"a{char}b {char}"
        if count_tokens(text) != reference(text):
            differ.append(hex(code))
    assert differ == []
