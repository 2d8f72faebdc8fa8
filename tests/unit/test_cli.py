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


@pytest.mark.parametrize(
    ("content", "says"),
    [
        pytest.param(None, "cannot read", id="missing-file"),
        pytest.param('{"article": {"text": "Ferry fares', "not valid JSON", id="broken-json"),
        pytest.param('[{"text": "x"}]', '"article" object', id="json-without-article"),
        pytest.param('{"article": {"text": 7}}', "article.text", id="invalid-request"),
        pytest.param(b"\xff\xfe not utf-8", "not UTF-8", id="not-utf8"),
    ],
)
def test_summarize_input_errors_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes | None, says: str
) -> None:
    path = tmp_path / "input.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    assert main(["summarize", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"newsbrief: {path}") and says in err and err.count("\n") == 1


def test_healthcheck_names_the_url_it_tried(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.settings import get_settings
    from tests.support import free_port

    port = free_port()  # nothing listens there
    monkeypatch.setenv("NEWSBRIEF_PORT", str(port))
    get_settings.cache_clear()
    try:
        assert main(["healthcheck"]) == 1
    finally:
        get_settings.cache_clear()
    assert f"http://127.0.0.1:{port}/healthz" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["eval"], ["fake-llm"]])
def test_dev_tools_missing_from_an_install_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    import sys

    # What a wheel or the image has: the service without the newsbrief_dev package beside it.
    for name in [m for m in sys.modules if m.startswith("newsbrief_dev")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "newsbrief_dev", None)
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install -e '.[dev]'" in err and "newsbrief_dev" in err


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
