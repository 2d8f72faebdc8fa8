"""The normaliser and locator: offsets slice back, variants are found, absent text never is."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from service import grounding
from service.grounding import (
    MAX_OCCURRENCES,
    _figures,
    locate,
    locate_all,
    normalise,
    numbers_in,
    unsupported_numbers,
)

ARTICLE = (
    "The mayor said: “Nobody likes a new charge.” Then ″We will pass the cost on,″ said Reyes.\n\n"
    "Costs rose — sharply — in 2023.   The ﬁnal vote was 7–4, "
    "and the cafe\u0301 owner spoke."
)


@pytest.mark.parametrize(
    ("quote", "expected"),
    [
        pytest.param("“Nobody likes a new charge.”", "“Nobody likes a new charge.”", id="exact"),
        pytest.param(
            '"Nobody likes a new charge."', "“Nobody likes a new charge.”", id="straight-for-curly"
        ),
        pytest.param(
            "'Nobody likes a new charge.'", "“Nobody likes a new charge.”", id="single-for-double"
        ),
        pytest.param(
            '"We will pass the cost on,"', "″We will pass the cost on,″", id="double-prime"
        ),
        pytest.param(
            "Costs rose - sharply - in 2023.", "Costs rose — sharply — in 2023.", id="dashes"
        ),
        pytest.param(
            "in 2023. The final vote", "in 2023.   The ﬁnal vote", id="whitespace-and-ligature"
        ),
        pytest.param("vote was 7-4,", "vote was 7–4,", id="en-dash-score"),
        pytest.param(
            "  Nobody likes a new charge.  ", "Nobody likes a new charge.", id="quote-padding"
        ),
        pytest.param(
            "cost on,″ said Reyes. Costs", "cost on,″ said Reyes.\n\nCosts", id="across-paragraphs"
        ),
        pytest.param("café owner", "cafe\u0301 owner", id="combining-mark-composes"),
    ],
)
def test_locates_variants_and_maps_back_to_original_offsets(quote: str, expected: str) -> None:
    span = locate(quote, ARTICLE)
    assert span is not None
    assert span.text == expected
    assert ARTICLE[span.start : span.end] == span.text


@pytest.mark.parametrize(
    "quote",
    [
        pytest.param("Nobody loves a new charge.", id="one-word-changed"),
        pytest.param("Nobody likes a new charge...", id="ellipsis"),
        pytest.param("nobody likes a new charge.", id="case-differs"),
        pytest.param("Nobody likes ... charge.", id="elided"),
        pytest.param("charge", id="too-short-to-prove-anything"),
        pytest.param("", id="empty"),
        pytest.param("cafe owner spoke", id="accent-dropped"),
    ],
)
def test_never_locates_what_is_not_there(quote: str) -> None:
    assert locate(quote, ARTICLE) is None


def test_exact_occurrence_wins_over_an_earlier_normalised_one() -> None:
    text = "‘We will decide soon,’ he said. Later: “We will decide soon,” he said."
    span = locate("“We will decide soon,”", text)
    assert span is not None and span.start == text.index("“")


@pytest.mark.parametrize(
    ("article", "quote", "starts"),
    [
        pytest.param(
            "“Go home now.” Later: “Go home now,” she said.",
            "Go home now",
            [1, 23],
            id="exact-twice",
        ),
        pytest.param(
            "He said “go on then” and “go  on  then”.",
            '"go on then"',
            [8, 25],
            id="normalised-twice",
        ),
        pytest.param("a go on then b", "go on then", [2], id="once"),
        pytest.param("nothing here", "go on then", [], id="absent"),
    ],
)
def test_locate_all_finds_every_occurrence_in_order(
    article: str, quote: str, starts: list[int]
) -> None:
    spans = locate_all(quote, article)
    assert [s.start for s in spans] == starts
    assert all(article[s.start : s.end] == s.text for s in spans)


def test_locate_all_stops_at_a_bound() -> None:
    assert len(locate_all("same words here", "same words here. " * 500)) == MAX_OCCURRENCES


def test_normalised_text_keeps_one_span_per_character() -> None:
    n = normalise("a\u00a0\u00a0b ″c″")
    assert n.text == 'a b "c"'
    assert len(n.starts) == len(n.ends) == len(n.text)


@given(st.text(min_size=8, max_size=300), st.data())
def test_any_slice_is_found_and_slices_back(text: str, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(text) - 8))
    j = data.draw(st.integers(i + 8, len(text)))
    quote = text[i:j]
    # A slice that cuts a letter from its combining accent is not a quote of the article.
    assume(not unicodedata.combining(text[i]))
    assume(j == len(text) or not unicodedata.combining(text[j]))
    assume(len(normalise(quote).text.strip()) >= 8)
    span = locate(quote, text)
    assert span is not None
    assert text[span.start : span.end] == span.text
    assert normalise(span.text).text.strip() == normalise(quote).text.strip()


TYPOGRAPHIC = st.sampled_from(["“", "”", "‘", "’", "″", "—", "–", " ", "\u00a0", "\n"])
WORDS = st.text(st.characters(categories=["Ll", "Lu", "Nd"]), min_size=1, max_size=8)


@given(st.lists(st.one_of(WORDS, TYPOGRAPHIC), min_size=3, max_size=40))
def test_typographic_variants_are_found(parts: list[str]) -> None:
    text = "".join(parts)
    plain = text.translate(str.maketrans("“”‘’″—–\u00a0\n", '""\'\'"--  '))
    assume(len(normalise(plain).text.strip()) >= 8)
    span = locate(plain, text)
    assert span is not None
    assert text[span.start : span.end] == span.text


@given(st.text(max_size=200), st.text(min_size=8, max_size=40))
def test_text_with_a_char_the_article_lacks_is_never_found(article: str, quote: str) -> None:
    marker = "\u2603"  # SNOWMAN: NFKC-stable, not a quote, dash or space
    assume(marker not in article)
    assert locate(quote + marker, article) is None


@pytest.mark.parametrize(
    ("summary", "article", "unsupported"),
    [
        pytest.param("Vote was 7-4 on 1 March", "voted 7–4; from 1 March", [], id="all-present"),
        pytest.param(
            "It raises £1.5 million", "about £1.4 million", ["1.5 million"], id="changed-amount"
        ),
        pytest.param("1,200 people", "1200 people came", [], id="thousands-separator"),
        pytest.param("a 40% rise", "rose by 40 per cent", [], id="percent-sign"),
        pytest.param("in 2024 and 2025", "in 2024", ["2025"], id="invented-year"),
        pytest.param("no numbers at all", "12 things", [], id="none-stated"),
        pytest.param("6.000 Beschäftigte", "6,000 staff", [], id="de-thousands-dot"),
        pytest.param("6,000 staff", "unos 6.000 empleados", [], id="es-thousands-dot-in-article"),
        pytest.param("2,5 Millionen Euro", "2.5 million euros", [], id="de-decimal-comma"),
        pytest.param("2,6 Millionen Euro", "2,5 Millionen Euro", ["2,6 Millionen"], id="de-bad"),
        pytest.param("48,000 fans", "48 thousand fans", [], id="scale-word-in-article"),
        pytest.param("48k fans", "48,000 fans", [], id="k-suffix"),
        pytest.param("49k fans", "48,000 fans", ["49k"], id="k-suffix-changed"),
        pytest.param("2.5 million", "2,500,000 homes", [], id="scale-word-in-summary"),
        pytest.param("€2.3bn", "€2.31 billion", [], id="rounded-to-its-own-precision"),
        pytest.param("7 million", "7,042,000 people", [], id="rounded-millions"),
        pytest.param("8 million", "7,042,000 people", ["8 million"], id="wrongly-rounded"),
        pytest.param("drei Millionen Euro", "3.000.000 Euro", [], id="de-number-word-scaled"),
        pytest.param("vier Millionen Euro", "3.000.000 Euro", ["vier Millionen"], id="de-words"),
        pytest.param("1,200 families", "Twelve hundred families", [], id="words-in-article"),
        pytest.param("1 million people", "a million people", [], id="a-scale-word-alone"),
        pytest.param("100 personas", "cien personas", [], id="es-cien"),
        pytest.param("21 days", "twenty-one days", [], id="compound-number-word"),
        pytest.param("one of the seven", "three", [], id="bare-words-in-summary-unchecked"),
        pytest.param("a 3m wall", "a wall 3 metres high", [], id="m-may-be-metres"),
        pytest.param("3.5m homes", "3 million homes", ["3.5m"], id="m-as-million-changed"),
        pytest.param("unos 410.000 viajeros", "410,000 riders", [], id="es-grouped"),
        pytest.param("1.234,5 t", "1,234.5 tonnes", [], id="both-marks"),
    ],
)
def test_unsupported_numbers(summary: str, article: str, unsupported: list[str]) -> None:
    assert unsupported_numbers([summary], article) == unsupported


def _fastest(text: str, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        # As a summary too: half its figures are then missing from the "article".
        unsupported_numbers([text], text[: len(text) // 2])
        best = min(best, time.perf_counter() - started)
    return best


def _counting(size: int) -> str:
    return " ".join(map(str, range(size // 6)))[:size]  # every figure a different one


@pytest.mark.parametrize(
    "hostile",
    [
        pytest.param(lambda n: "1." * (n // 2), id="dots"),
        pytest.param(lambda n: "1,2" * (n // 3), id="commas"),
        pytest.param(lambda n: "9 " * (n // 2), id="spaced"),
        pytest.param(lambda n: "9,999.9 million " * (n // 16), id="scaled"),
        pytest.param(lambda n: "seven million " * (n // 14), id="words"),
        pytest.param(lambda n: "1e" * (n // 2), id="digit-letter"),
        pytest.param(lambda n: "1-" * (n // 2), id="dashes"),
        pytest.param(_counting, id="all-different"),
    ],
)
@pytest.mark.slow  # sizes up hostile input to measure growth: seconds
def test_the_number_check_is_linear_on_hostile_runs(hostile: Callable[[int], str]) -> None:
    # It runs on every response: 10x the text must cost about 10x, not 100x (a backtracking
    # pattern or a search per number would be quadratic). The ratio, not a wall-clock bound.
    ratio = _fastest(hostile(100_000)) / _fastest(hostile(10_000))
    print(f"100 KB / 10 KB = {ratio:.1f}x")
    assert ratio < 50  # linear is 10, quadratic 100; the margin is for a loaded machine


def test_numbers_in_handles_fullwidth_digits() -> None:
    assert numbers_in("１２ and 3.5") == {"12", "3.5"}


FIGURE_PARTS = st.sampled_from(
    [
        *("0", "7", "12", "1,5", "2.500", "6.000,5", ".", ",", " ", "-", "k", "m", "bn", "%"),
        *(" million", " Millionen", " mil millones", " thousand", " twenty", "-one", " drei"),
    ]
)


@given(st.lists(FIGURE_PARTS, max_size=30), st.lists(FIGURE_PARTS, max_size=30))
def test_the_number_check_takes_any_text_and_names_what_the_summary_wrote(
    summary: list[str], article: list[str]
) -> None:
    text = "".join(summary)
    flagged = unsupported_numbers([text], "".join(article))
    assert all(figure in text for figure in flagged)
    assert unsupported_numbers([text], text) == []  # a text supports its own figures


def test_digits_that_are_not_decimal_are_no_figures() -> None:
    # "፩" (Ethiopic one) is a digit to str.isdigit() but no decimal number: reading it as one
    # raised and turned an article holding it into a 500.
    assert numbers_in("section ፩ of the act, 12 pages") == {"12"}
    assert unsupported_numbers(["the ፩ rule"], "an article with ፩ in it") == []


@given(st.text(max_size=200), st.text(max_size=200))
def test_the_number_check_takes_any_unicode_text(summary: str, article: str) -> None:
    flagged = unsupported_numbers([summary], article)
    assert unsupported_numbers([summary], summary) == []
    assert len(flagged) <= len(numbers_in(summary))


@given(
    st.lists(
        st.one_of(
            FIGURE_PARTS,
            st.sampled_from([" MILLIONEN", " Mil", "ſeven", " BILLIONS", "²", "①", "٣", " ciento"]),
            st.text(max_size=6),
        ),
        max_size=20,
    )
)
def test_lines_read_the_short_way_hold_the_figures_a_full_reading_finds(parts: list[str]) -> None:
    """A summary line with no digit and no scale word is not tokenised, and one without a scale
    word only for its digit figures: each must hold just the figures that tokenising every word
    finds (NFKC and case folding included)."""
    text = "".join(parts)
    every = grounding._read_figures(
        unicodedata.normalize("NFKC", text), words=False, digits_only=False
    )
    assert _figures(text, words=False) == every


@example(["1k million thousand words ", "2 bn"])  # the most a figure reads after its digits
@example(["7 mil millones y 3 ", "x" * 5, " 40 words away 5 million"])
@given(
    st.lists(
        st.one_of(
            FIGURE_PARTS,
            st.sampled_from([" seven", " a", " Mil", "٣", "²", " bn", " 2024", "1.2.3", " ok"]),
            st.text(max_size=6),
        ),
        max_size=40,
    )
)
def test_the_article_read_for_digits_alone_finds_the_figures_the_full_read_does(
    parts: list[str],
) -> None:
    """The number check first reads only the article's figures that start with a digit, without
    tokenising its other words: they must be exactly the ones the full reading finds."""
    text = "".join(parts)
    every = _figures(text, words=True)
    assert _figures(text, words=True, digits_only=True) == [
        f for f in every if f.text[:1].isdecimal()
    ]


# Plain ASCII, the characters that fold (quotes, dashes, whitespace of every kind), letters NFKC
# changes or expands, and combining marks (which send a text down the cluster-by-cluster way).
FOLDING = "ab Z9.,;!?\"'`-  \t\n\r\u00a0\u2009\u3000‘’“”„′″–—−ﬁ①Ａé\u0301\u0327"


@given(st.text(alphabet=FOLDING, max_size=60))
@example("a  b")  # a run of spaces between plain words is one space
@example("a\u00a0b ’c’ e\u0301")
@settings(deadline=None, database=None, derandomize=True)
def test_normalise_by_runs_is_normalise_by_clusters(text: str) -> None:
    """The fast way (runs of plain ASCII copied whole) gives exactly what the character by
    character way gives: the same text and the same offsets back."""
    grounding.normalise.cache_clear()
    assert grounding.normalise(text) == grounding._normalise_clusters(text)
