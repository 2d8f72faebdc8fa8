"""Links and images in the model's free text: taken out unless the article itself has them.

A model that obeys an injected instruction tends to smuggle out a link or an image, which a client
rendering markdown or HTML would fetch or show. Removed, in whatever form the text writes it:
  - markdown images `![alt](target)` and `![alt][ref]`, always (a brief has no pictures);
  - markdown links `[text](target)` (the text stays), reference definitions `[ref]: target` that
    open a line;
  - HTML tags that carry a URL (`<a href>`, `<img src>`, `<iframe src>`, …; an `<a>`'s text stays);
  - autolinks `<scheme:…>`, and bare URLs: `scheme://…`, protocol-relative `//host.tld…`,
    `www.…`, and scheme-less `host.tld/path` (or `host.com` and a few other common endings);
unless the article contains that same link, found the same way (then a brief may cite it).

One left-to-right pass of one regular expression. Every repetition in it is possessive, bounded,
or stops at a character it cannot contain, so the cost is linear in the text, whatever it holds.
Hand-written rather than a markdown or HTML parser: those re-render the text instead of editing
it in place, and both kinds have had superlinear cases on unclosed brackets and tags.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

_LABEL = r"[^\[\]\n]*+"
# A link destination: <…>, or non-space characters with parentheses balanced one level deep.
_TARGET = r"(?:<[^<>\n]*+>|(?:[^\s()<>]|\([^\s()]*+\))++)"
_TITLE = r"""(?:[ \t\n]++(?:"[^"\n]*+"|'[^'\n]*+'|\([^()\n]*+\)))?"""
_IMAGE_DESTINATION = rf"\(\s*+(?P<image_target>{_TARGET})?{_TITLE}\s*+\)"
_LINK_DESTINATION = rf"\(\s*+(?P<link_target>{_TARGET})?{_TITLE}\s*+\)"
_ORPHAN_DESTINATION = rf"\(\s*+(?P<orphan_target>{_TARGET}){_TITLE}\s*+\)"
_URL_TAIL = r"""[^\s<>"'`()\[\]{}“”‘’«»″]*+"""
_COMMON_TLDS = "com|net|org|info|biz|io|co|app|dev|xyz|top|gov|edu|uk|de|fr|ru|cn|tk|example"
# Every branch opens with a literal character or a class, which the regex engine tests before
# entering the branch: most positions are rejected in a few instructions. A lookbehind that must
# see the opening character too (width 2) says where a token starts. The bare-URL branches have
# no group: a match that sets none of the named groups is a bare URL.
_LINKS = re.compile(
    rf"""
      !\[(?P<image>{_LABEL})\](?:{_IMAGE_DESTINATION}|\[{_LABEL}\])?
    | \[(?P<text>{_LABEL})\]{_LINK_DESTINATION}
    | \]{_ORPHAN_DESTINATION}  # the end of a link whose label held brackets
    | \[(?<![^\n]\[){_LABEL}\]:[ \t]*+(?P<definition>{_TARGET}){_TITLE}[ \t]*+$  # opens a line
    | <(?P<autolink>[a-zA-Z][a-zA-Z0-9+.\-]{{1,31}}+:[^\s<>]*+)>
    | <(?P<tag>/?[a-zA-Z][a-zA-Z0-9]*+)(?P<attrs>[^<>]*+)>
    | [a-zA-Z](?<![a-zA-Z0-9+.\-].)[a-zA-Z0-9+.\-]{{0,31}}+://{_URL_TAIL}  # scheme://
    | https?://{_URL_TAIL}
    | ftps?://{_URL_TAIL}
    | /(?<![\w:/]/)/[\w\-]++(?:\.[\w\-]++)++{_URL_TAIL}  # //host.tld, protocol-relative
    | www\.{_URL_TAIL}
    | [a-zA-Z0-9](?<![\w.\-@/].)[a-zA-Z0-9\-]{{0,62}}+\.(?:[a-zA-Z0-9\-]{{1,63}}+\.)*
      (?:[a-zA-Z]{{2,63}}+/{_URL_TAIL}|(?:{_COMMON_TLDS})(?![\w\-]))  # host.tld/path, host.com
    """,
    re.VERBOSE | re.MULTILINE,
)
_TARGETS = ("image_target", "link_target", "orphan_target", "definition", "autolink")
_ATTRIBUTE = re.compile(r"""([\w:\-]++)\s*+=\s*+(?:"([^"]*+)"|'([^']*+)'|([^\s"'=<>`]++))""")
_URL_ATTRIBUTES = frozenset(
    "href src srcset data poster action formaction background cite xlink:href ping".split()
)
_IMAGE_TAGS = frozenset("img image picture source video audio svg track".split())
_TRAILING = ".,;:!?"  # sentence punctuation after a bare URL is not part of it
# Every form _LINKS finds holds one of these (a bare host ends in a dot and a letter: its top-level
# domain); text with none (most of a brief's fields, "£1.4 million" too) is left as it is without
# running the whole expression over it.
_MARK = re.compile(r"[!\[\]<:/]|www\.|\.[a-zA-Z]")


@dataclass(frozen=True)
class Removed:
    kind: Literal["link", "image"]
    text: str  # as the model wrote it: for the log, never for the client


def may_hold_links(texts: Iterable[str]) -> bool:
    """False when strip_foreign_links would leave every one of these texts as it is: one look
    over them all, joined by newlines (no mark spans one)."""
    return _MARK.search("\n".join(texts)) is not None


def strip_foreign_links(text: str, article: str) -> tuple[str, list[Removed]]:
    """Text without images, and without links the article does not itself contain."""
    if not _MARK.search(text):
        return text, []
    # The article's links are read only for a match that needs them: most marks (a colon, a
    # slash) start no link at all.
    removed: list[Removed] = []
    unlinked: set[str] = set()  # a removed <a …> leaves its text; its </a> goes too

    def replace(m: re.Match[str]) -> str:
        whole = m.group()
        if m.group("image") is not None:
            removed.append(Removed("image", whole))
            return ""
        if (tag := m.group("tag")) is not None:
            tag = tag.lower()
            if tag[1:] in unlinked:
                return ""
            if all(value in _links_in(article) for value in _url_attributes(m.group("attrs"))):
                return whole
            unlinked.add(tag)
            removed.append(Removed("image" if tag in _IMAGE_TAGS else "link", whole))
            return ""
        if m.group("text") is not None or _is_target(m):
            target = next((t for g in _TARGETS if (t := m.group(g)) is not None), None)
            if target is None or target.strip("<>") in _links_in(article):
                return whole
            removed.append(Removed("link", whole))
            return "[link removed]" if m.group("autolink") is not None else m.group("text") or ""
        url = whole.rstrip(_TRAILING)  # a bare URL
        if url in _links_in(article):
            return whole
        removed.append(Removed("link", url))
        return "[link removed]" + whole[len(url) :]

    clean = _LINKS.sub(replace, text)
    return (" ".join(clean.split()) if removed else text), removed


def _is_target(m: re.Match[str]) -> bool:
    return any(m.group(g) is not None for g in ("orphan_target", "definition", "autolink"))


def _url_attributes(attrs: str) -> list[str]:
    """The values of an HTML tag's attributes that hold URLs."""
    return [
        next((v for v in m.groups()[1:] if v is not None), "")
        for m in _ATTRIBUTE.finditer(attrs)
        if m.group(1).lower() in _URL_ATTRIBUTES
    ]


@lru_cache(maxsize=8)  # one request checks all its fields against the same article
def _links_in(article: str) -> frozenset[str]:
    """Every link target and bare URL in the article, read the way the model's text is read."""
    found: set[str] = set()
    for m in _LINKS.finditer(article):
        if m.group("tag") is not None:
            found.update(_url_attributes(m.group("attrs")))
        elif m.group("image") is not None or m.group("text") is not None or _is_target(m):
            found.update(t.strip("<>") for g in _TARGETS if (t := m.group(g)) is not None)
        else:
            found.add(m.group().rstrip(_TRAILING))
    return frozenset(found)
