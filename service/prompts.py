"""Versioned prompts: strict YAML files loaded once, rendered into chat messages per request.

A prompt lives at prompts/<name>/<version>.yaml. Templates use `$name` placeholders
(string.Template); a placeholder that is unknown, or a required one that is missing, fails at load.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.errors import PromptFileError, UnknownPromptError
from service.grounding import sha256_text
from service.schemas import ArticleIn, Options

# Which placeholders each template may use, and which it must use.
ARTICLE_VARS = frozenset({"article", "boundary", "max_bullets", "max_claims", "output_schema"})
TEMPLATE_VARS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "system": (ARTICLE_VARS, frozenset()),
    "user": (ARTICLE_VARS, frozenset({"article"})),
    "reask": (frozenset({"errors"}), frozenset({"errors"})),
}


class PromptSpec(BaseModel):
    """One prompt file, as written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    description: str
    changelog: list[str] = Field(min_length=1)
    temperature: float = Field(ge=0, le=2)
    max_output_tokens: int = Field(gt=0)
    system: str
    user: str
    reask: str


@dataclass(frozen=True)
class Prompt:
    """A loaded prompt: its spec and the sha256 of the file's bytes."""

    spec: PromptSpec
    sha256: str

    @property
    def ref(self) -> str:
        return f"{self.spec.name}@{self.spec.version}"

    def render(
        self, article: ArticleIn, options: Options, output_schema: str
    ) -> list[dict[str, str]]:
        """The chat messages for one article: the article is fenced as data, never instructions.

        `output_schema` is the schema as the prompt shows it (schema_text()), worked out once by
        its owner rather than on every request."""
        inside = _fence_contents(article)
        # The boundary derives from the hash of everything inside the fence, metadata and text
        # alike, so nothing inside can contain its closing marker (the schema also keeps every
        # metadata field on one line, so none can start a line of its own in the prompt).
        boundary = "ARTICLE-" + sha256_text(inside)[:16]
        values = {
            "article": f"<<<{boundary}\n{inside}\n{boundary}>>>",
            "boundary": boundary,
            "max_bullets": str(options.max_bullets),
            "max_claims": str(options.max_claims),
            "output_schema": output_schema,
        }
        return [
            {"role": "system", "content": Template(self.spec.system).substitute(values)},
            {"role": "user", "content": Template(self.spec.user).substitute(values)},
        ]

    def render_reask(self, errors: list[str]) -> str:
        listed = "\n".join(f"- {e}" for e in errors)
        return Template(self.spec.reask).substitute(errors=listed)


def schema_text(output_schema: dict[str, Any]) -> str:
    """The JSON schema as a prompt shows it."""
    return json.dumps(output_schema, indent=1)


def _fence_contents(article: ArticleIn) -> str:
    meta = [
        f"{label}: {value}"
        for label, value in (
            ("Title", article.title),
            ("Source", article.source),
            ("URL", article.url),
            ("Published", article.published_at.isoformat() if article.published_at else None),
            ("Language", article.language),
        )
        if value
    ]
    head = "\n".join(meta)
    return f"{head + chr(10) if head else ''}---\n{article.text}"


def load_prompt(path: Path) -> Prompt:
    """Load and check one prompt file; every problem raises PromptFileError naming the file."""
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw)
        spec = PromptSpec.model_validate(data)
    except yaml.YAMLError as exc:
        raise PromptFileError(str(path), f"not valid YAML: {exc}") from exc
    except ValidationError as exc:
        raise PromptFileError(str(path), f"does not match the prompt schema: {exc}") from exc
    if (spec.name, spec.version) != (path.parent.name, path.stem):
        raise PromptFileError(
            str(path), f"declares {spec.name}@{spec.version} but lives at {path.parent.name}/"
        )
    for field, (allowed, required) in TEMPLATE_VARS.items():
        template = Template(getattr(spec, field))
        if not template.is_valid():
            raise PromptFileError(str(path), f"{field}: malformed $placeholder (write $$ for $)")
        used = set(template.get_identifiers())
        if unknown := sorted(used - allowed):
            raise PromptFileError(str(path), f"{field}: unknown variable(s) {', '.join(unknown)}")
        if missing := sorted(required - used):
            raise PromptFileError(str(path), f"{field}: missing variable(s) {', '.join(missing)}")
    return Prompt(spec=spec, sha256=hashlib.sha256(raw).hexdigest())


class PromptRegistry:
    """Every prompt under a directory, loaded once, with the configured default."""

    def __init__(self, prompts: list[Prompt], default_name: str, default_version: str) -> None:
        self._by_ref = {p.ref: p for p in prompts}
        self.default_ref = f"{default_name}@{default_version}"
        if self.default_ref not in self._by_ref:
            raise UnknownPromptError(self.default_ref, sorted(self._by_ref))

    @classmethod
    def from_dir(cls, root: Path, default_name: str, default_version: str) -> PromptRegistry:
        return cls(
            [load_prompt(p) for p in sorted(root.glob("*/*.yaml"))], default_name, default_version
        )

    def get(self, version: str | None = None) -> Prompt:
        """The default prompt, or another version of its name (e.g. 'v2')."""
        if version is None:
            return self._by_ref[self.default_ref]
        name = self.default_ref.split("@")[0]
        ref = version if "@" in version else f"{name}@{version}"
        try:
            return self._by_ref[ref]
        except KeyError:
            raise UnknownPromptError(ref, sorted(self._by_ref)) from None

    def __iter__(self) -> Any:
        return iter(sorted(self._by_ref.values(), key=lambda p: p.ref))
