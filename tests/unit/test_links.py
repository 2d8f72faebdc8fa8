"""Link and image removal from the model's text: every form is caught, the article's own kept."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from service import links
from service.links import strip_foreign_links

ARTICLE = (
    "The timetable is at https://ferries.example/timetable, and the council posts updates on "
    "www.portaldine.gov/levy. Read [the full plan](https://council.example/plan). "
    'The notice links <a href="https://council.example/notice">the notice</a>.'
)


@pytest.mark.parametrize(
    ("text", "clean", "kinds"),
    [
        pytest.param(
            "Sign at https://evil.example/p today.",
            "Sign at [link removed] today.",
            ["link"],
            id="bare-url",
        ),
        pytest.param(
            "Sign at //evil.example/p today.",
            "Sign at [link removed] today.",
            ["link"],
            id="protocol-relative-bare",
        ),
        pytest.param(
            "Sign at evil.example/p or at evil.com.",
            "Sign at [link removed] or at [link removed].",
            ["link", "link"],
            id="scheme-less-bare",
        ),
        pytest.param(
            "Sign at www.evil.example today.", "Sign at [link removed] today.", ["link"], id="www"
        ),
        pytest.param("Read <https://evil.example/x>.", "Read [link removed].", ["link"], id="auto"),
        pytest.param(
            "The levy ![pixel](https://evil.example/t.png?leak=1) passed.",
            "The levy passed.",
            ["image"],
            id="md-image",
        ),
        pytest.param(
            "The levy ![pixel][1] passed.\n[1]: //evil.example/t.png",
            "The levy passed.",
            ["image", "link"],
            id="md-reference-image-and-definition",
        ),
        pytest.param(
            "See [the petition](evil.example/p) now.",
            "See the petition now.",
            ["link"],
            id="md-link-scheme-less",
        ),
        pytest.param(
            "See [it](javascript:alert(1)) now.", "See it now.", ["link"], id="md-link-parens"
        ),
        pytest.param(
            "See [the [real] petition](https://evil.example/p).",
            "See [the [real] petition.",
            ["link"],
            id="md-link-nested-label",
        ),
        pytest.param(
            'The levy <img src="//evil.example/t.png"> passed.',
            "The levy passed.",
            ["image"],
            id="html-img-protocol-relative",
        ),
        pytest.param(
            "The levy <IMG SRC=evil.example/t.png> passed.",
            "The levy passed.",
            ["image"],
            id="html-img-unquoted-upper",
        ),
        pytest.param(
            "Please <a href='//evil.example/p'>sign here</a> today.",
            "Please sign here today.",
            ["link"],
            id="html-anchor-keeps-text",
        ),
        pytest.param(
            '<iframe src="https://evil.example/frame"></iframe>Done.',
            "Done.",
            ["link"],
            id="html-iframe",
        ),
    ],
)
def test_removes_every_form_of_foreign_link(text: str, clean: str, kinds: list[str]) -> None:
    kept, removed = strip_foreign_links(text, ARTICLE)
    assert kept == clean
    assert [r.kind for r in removed] == kinds
    assert "evil" not in kept


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Timetable: https://ferries.example/timetable.", id="bare-url-from-article"),
        pytest.param("Updates: www.portaldine.gov/levy", id="www-from-article"),
        pytest.param("[The plan](https://council.example/plan) passed.", id="md-link-from-article"),
        pytest.param("See [it](<https://council.example/plan>).", id="md-angle-target"),
        pytest.param(
            '<a href="https://council.example/notice">notice</a>', id="html-anchor-from-article"
        ),
        pytest.param("[plan](https://ferries.example/timetable)", id="article-url-as-md-target"),
        pytest.param("The U.S. and e.g. a.m. 3.5% and Dr.Who, Node.js.", id="abbreviations"),
        pytest.param("[Note]: the council voted 7-4.", id="bracketed-label-not-definition"),
        pytest.param("<b>Bold</b> and 3 < 4 > 2.", id="markup-without-urls"),
        pytest.param("and/or 24/7 1.5/2 km/h", id="slashes-in-prose"),
    ],
)
def test_keeps_the_articles_links_and_prose(text: str) -> None:
    assert strip_foreign_links(text, ARTICLE) == (text, [])


def test_a_link_the_article_only_mentions_in_part_is_removed() -> None:
    kept, removed = strip_foreign_links("See https://council.example/plan/secret.", ARTICLE)
    assert kept == "See [link removed]." and len(removed) == 1


PIECES = ["http://", "https://a.b/c", "www.", "www.x", "a.com", "x.io/p", "[t](u)", "![i](j)"]
PIECES += ["<a href='h'>", "</a>", "<http://x>", "//h.t", "[", "]", ":", ".", " ", "\n", "1.4"]
PIECES += ["X.IO/p", "9.Ab/", "1.2.org", "£1.4bn", "e.g."]


@given(st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=4)), max_size=25))
# Three times the profile's count: 300 in make test, 60 in make check (tests/conftest.py).
@settings(
    max_examples=3 * settings.default.max_examples, derandomize=True, deadline=None, database=None
)
def test_text_the_quick_look_passes_over_holds_no_link(parts: list[str]) -> None:
    """The shortcut for plain text: whatever the full expression finds, the quick look sees."""
    text = "".join(parts)
    if links._LINKS.search(text):
        assert links._MARK.search(text), text


@given(st.lists(st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=3))).map("".join)))
@example(["a.", "b"])  # a mark that two texts would make if run together
@example(["ww", "w."])
@settings(max_examples=3 * settings.default.max_examples, derandomize=True, database=None)
def test_one_look_over_many_texts_sees_what_a_look_at_each_sees(texts: list[str]) -> None:
    assert links.may_hold_links(texts) == any(links._MARK.search(t) for t in texts)
