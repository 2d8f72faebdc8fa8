"""`newsbrief db upgrade`: the migrations from the command line, on both databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.cli import main
from service.settings import Settings, get_settings
from tests.support import free_port


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_db_upgrade_migrates_the_configured_store(
    store_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if store_settings.database_url is not None:
        monkeypatch.setenv("NEWSBRIEF_DATABASE_URL", store_settings.database_url.get_secret_value())
    monkeypatch.setenv("NEWSBRIEF_DATA_DIR", str(store_settings.data_dir))
    assert main(["db", "upgrade"]) == 0
    assert "newest schema" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0  # again: nothing to do
    if store_settings.database_url is None:
        assert (store_settings.data_dir / "newsbrief.db").is_file()


def test_db_upgrade_says_why_when_the_database_is_unreachable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql://nobody:s3cret-pw@127.0.0.1:{free_port()}/x"
    monkeypatch.setenv("NEWSBRIEF_DATABASE_URL", url)
    assert main(["db", "upgrade"]) == 1
    err = capsys.readouterr().err
    assert "cannot be reached" in err and "s3cret-pw" not in err
