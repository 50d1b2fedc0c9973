"""Encryption at rest (haste.crypto), key rotation on SQLite, and minimisation of payloads."""

from __future__ import annotations

import json
import sqlite3
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from haste.cli import app
from haste.crypto import (
    DataKey,
    DataKeyError,
    Keyring,
    active_keyring,
    ensure_key_file,
    read_key_file,
    stored_key_id,
    use_keyring,
)
from haste.minimise import load_stored_fields, minimise
from haste.records import InteractionRecord, record_interactions
from haste.settings import Settings, get_settings


@pytest.fixture(autouse=True)
def _settings_keyring() -> Iterator[None]:
    """Every test starts (and ends) with the settings' keyring, not an override."""
    use_keyring(None)
    yield
    use_keyring(None)


def test_round_trip_names_the_key_and_hides_the_plaintext() -> None:
    keyring = Keyring([DataKey.generate()])
    stored = keyring.encrypt("Dear Ada, ada@example.com")
    assert stored.startswith(f"enc1:{keyring.primary_id}:")
    assert "ada@example.com" not in stored
    assert keyring.decrypt(stored) == "Dear Ada, ada@example.com"
    assert stored_key_id(stored) == keyring.primary_id
    assert keyring.encrypt("same") != keyring.encrypt("same")  # random IV per value


def test_legacy_plaintext_reads_back_unchanged() -> None:
    keyring = Keyring([DataKey.generate()])
    assert keyring.decrypt('{"contact_id": "x"}') == '{"contact_id": "x"}'
    assert stored_key_id("plain") is None


def test_a_missing_or_wrong_key_is_a_clear_error() -> None:
    stored = Keyring([DataKey.generate()]).encrypt("secret")
    other = Keyring([DataKey.generate()])
    with pytest.raises(DataKeyError, match=r"data key [0-9a-f]{8}, which is not in the keyring"):
        other.decrypt(stored)
    owner = Keyring([DataKey.generate()])
    forged = f"enc1:{owner.primary_id}:{stored.split(':', 2)[2]}"  # right id, wrong key
    with pytest.raises(DataKeyError, match="does not verify"):
        owner.decrypt(forged)
    with pytest.raises(DataKeyError, match="not a valid Fernet key"):
        Keyring([DataKey("not-a-key")])


def test_key_file_is_created_private_once(tmp_path: Path) -> None:
    path = tmp_path / "home" / "data_keys.json"
    first = ensure_key_file(path)
    again = ensure_key_file(path)  # a second process: reads the same key
    assert [k.id for k in first] == [k.id for k in again] and len(first) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["keys"][0]["id"] == first[0].id


def test_a_running_keyring_picks_up_a_rotation(tmp_path: Path) -> None:
    """Old rows stay readable; the new key id is learnt by reloading the file."""
    from haste.key_rotation import add_primary_key

    path = tmp_path / "data_keys.json"
    running = Keyring.from_file(path, reload_s=3600)  # a server, started before the rotation
    old_row = running.encrypt("old row")
    new_key = add_primary_key(path)  # the CLI, in another process
    rotator = Keyring.from_file(path)
    new_row = rotator.encrypt("new row")
    assert stored_key_id(new_row) == new_key.id
    assert running.primary_id != new_key.id  # not reloaded yet (interval not elapsed)
    assert running.decrypt(new_row) == "new row"  # unknown id: forced reload
    assert running.primary_id == new_key.id
    assert stored_key_id(running.encrypt("later")) == new_key.id
    assert running.decrypt(old_row) == "old row" == rotator.decrypt(old_row)
    rotated = rotator.rotate(old_row)
    assert rotated is not None and stored_key_id(rotated) == new_key.id
    assert rotator.rotate(rotated) is None


def test_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    first, second = DataKey.generate(), DataKey.generate()
    monkeypatch.setenv("HASTE_HOME", str(tmp_path))
    monkeypatch.setenv("HASTE_DATA_KEYS", f"{first.key}, {second.key}")
    get_settings.cache_clear()
    try:
        keyring = active_keyring()
        assert keyring.key_ids() == [first.id, second.id]
        assert first.key not in repr(get_settings())  # a secret: never printed
        assert not (tmp_path / "data_keys.json").exists()
    finally:
        get_settings.cache_clear()


def test_an_unexpected_field_is_dropped_before_storage() -> None:
    inputs, outputs = minimise(
        "lead_score",
        {"contact_id": "c", "features": {"TotalVisits": 5}, "email": "ada@example.com"},
        {"score": 70, "anything": 1},
    )
    assert inputs == {"contact_id": "c", "features": {"TotalVisits": 5}}
    assert outputs == {"score": 70, "anything": 1}  # "*": the answer replayed on retries
    inputs, outputs = minimise("llm", {"prompt": "p", "raw_prompt": "Dear Ada"}, {"text": "t"})
    assert inputs == {"prompt": "p"} and outputs == {"text": "t"}


def test_unlisted_kinds_keep_the_default_fields() -> None:
    default = load_stored_fields()["default"]
    assert default.inputs is not None and "contact_id" in default.inputs
    inputs, outputs = minimise("brand_new_feature", {"contact_id": "c", "notes": "x"}, {"a": 1})
    assert inputs == {"contact_id": "c"} and outputs == {}


def test_every_listed_kind_parses() -> None:
    fields = load_stored_fields()
    assert {"default", "llm", "lead_score", "search", "conversation_analyze"} <= set(fields)
    assert fields["lead_score"].outputs is None and fields["search"].outputs == {"intent", "hits"}


def test_interaction_rows_are_minimised_and_carry_the_contact() -> None:
    contact = uuid.uuid4()
    row = InteractionRecord(
        "search",
        {"query": "pricing", "limit": 5, "contact_id": str(contact), "debug": "raw"},
        {"intent": "find", "hits": ["a"], "documents": ["Dear Ada..."]},
        "minilm",
    ).to_row()
    assert row.input_data == {"query": "pricing", "limit": 5}
    assert row.output_data == {"intent": "find", "hits": ["a"]}
    assert row.contact_id == contact
    external = InteractionRecord("x", {"contact_id": "Prospect-7"}, {}, None).to_row()
    assert external.contact_id is None


def _sqlite_file(settings: Settings) -> Path:
    return Path(settings.database_url.removeprefix("sqlite:///"))


def test_rotate_data_key_command(
    isolated_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows stay readable through a rotation; new rows use the new key; --drop-old cleans up."""
    from haste.audit import query_audit_trail
    from haste.db import upgrade_database

    monkeypatch.setenv("HASTE_DATA_KEY_RELOAD_S", "0")  # this process checks the file each write
    get_settings.cache_clear()
    url = isolated_settings.database_url
    upgrade_database(url)
    contact = uuid.uuid4()
    record = InteractionRecord(
        "llm", {"contact_id": str(contact), "variables": {"to": "ada@example.com"}}, {}, "m"
    )
    record_interactions(url, [record])
    old_id = read_key_file(isolated_settings.data_key_file)[0].id
    runner = CliRunner()
    result = runner.invoke(app, ["keys", "rotate-data-key"])
    assert result.exit_code == 0, result.output
    keys = read_key_file(isolated_settings.data_key_file)
    assert len(keys) == 2 and keys[1].id == old_id
    record_interactions(url, [record])
    with sqlite3.connect(_sqlite_file(isolated_settings)) as connection:
        stored = [r[0] for r in connection.execute("SELECT input_data FROM ai_interactions")]
    assert {stored_key_id(value) for value in stored} == {keys[0].id}
    assert not any("ada@example.com" in value for value in stored)
    entries = query_audit_trail(url, contact_id=contact)
    assert [e.inputs["variables"]["to"] for e in entries] == ["ada@example.com"] * 2

    status = runner.invoke(app, ["keys", "data-key-status"])
    assert status.exit_code == 0 and keys[0].id in status.output and old_id in status.output

    result = runner.invoke(app, ["keys", "rotate-data-key", "--resume", "--drop-old"])
    assert result.exit_code == 0, result.output
    assert [k.id for k in read_key_file(isolated_settings.data_key_file)] == [keys[0].id]
    assert len(query_audit_trail(url, contact_id=contact)) == 2


def test_rotate_refuses_keys_from_the_environment(
    isolated_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HASTE_DATA_KEYS", DataKey.generate().key)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["keys", "rotate-data-key"])
    assert result.exit_code == 1 and "HASTE_DATA_KEYS" in result.output


def test_every_recorded_kind_has_an_allow_list() -> None:
    """Kinds the gateway and workflows record are listed in configs/privacy.yaml."""
    import re

    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(
        r"\.(?:interaction|refusal)\(\s*\"([a-z_]+)\"|interaction_type=\"([a-z_]+)\""
        r"|^FEATURE = \"([a-z_]+)\"",
        re.MULTILINE,
    )
    kinds = {
        name
        for folder in ("serving", "workflows")
        for path in (root / folder).rglob("*.py")
        for match in pattern.finditer(path.read_text(encoding="utf-8"))
        for name in match.groups()
        if name and (folder == "serving" or "interaction_type" in match.group(0))
    }
    assert {"lead_score", "search", "conversation_analyze", "workflow_run"} <= kinds
    missing = kinds - set(load_stored_fields())
    assert not missing, f"add stored_fields entries to configs/privacy.yaml for {missing}"
