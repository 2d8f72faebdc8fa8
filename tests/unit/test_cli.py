"""The newsbrief command, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.cli import main
from service.settings import get_settings
from tests.conftest import ARTICLES


def test_summarize_a_text_file_offline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summarize", str(ARTICLES / "ferry-levy.txt"), "--title", "Levy"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["engine"] == "extractive" and body["summary"]["headline"] == "Levy"
    assert body["warnings"][0]["code"] == "no_llm" and body["claims"]


def test_summarize_a_request_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"article": {"text": "A quiet day. Nothing moved. The end."}}))
    assert main(["summarize", str(request)]) == 0
    assert json.loads(capsys.readouterr().out)["claims"] == []


def test_summarize_rejects_empty_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n")
    assert main(["summarize", str(empty)]) == 2
    assert "empty" in capsys.readouterr().err


def test_unknown_prompt_version_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["summarize", str(ARTICLES / "ferry-levy.txt"), "--prompt-version", "v404"])
    assert code == 1 and "v404" in capsys.readouterr().err


def test_prompts_list_marks_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompts", "list"]) == 0
    assert capsys.readouterr().out.startswith("* summarize@v1")


@pytest.mark.parametrize("argv", [["serve"], ["prompts", "list"], ["summarize", "-"]])
def test_a_bad_setting_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    monkeypatch.setenv("NEWSBRIEF_PORT", "abc")
    get_settings.cache_clear()
    try:
        assert main(argv) == 2
    finally:
        get_settings.cache_clear()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "newsbrief: invalid settings: NEWSBRIEF_PORT: input should be a valid integer, "
        "unable to parse string as an integer\n"
    )
