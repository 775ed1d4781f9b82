"""The site secret file and the per-epoch keys."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import pytest

from sensors.privacy.keys import KEY_FILE_ENV, EpochKeys, KeyFileError, SiteSecret, load_or_create_site_secret


def test_absent_key_file_is_created_private_and_then_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    path = tmp_path / "keys" / "site.key"
    first = load_or_create_site_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(bytes.fromhex(path.read_text().strip())) == 32
    again = load_or_create_site_secret(path)
    assert first.derive(b"x") == again.derive(b"x")


def test_environment_overrides_the_configured_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    override = tmp_path / "override.key"
    monkeypatch.setenv(KEY_FILE_ENV, str(override))
    load_or_create_site_secret(tmp_path / "configured.key")
    assert override.exists() and not (tmp_path / "configured.key").exists()


def test_readable_or_malformed_key_files_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    open_file = tmp_path / "open.key"
    open_file.write_text("ab" * 32)
    os.chmod(open_file, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_or_create_site_secret(open_file)
    bad = tmp_path / "bad.key"
    bad.write_text("not hex")
    os.chmod(bad, 0o600)
    with pytest.raises(KeyFileError, match="hexadecimal") as error:
        load_or_create_site_secret(bad)
    assert "not hex" not in str(error.value)
    short = tmp_path / "short.key"
    short.write_text("abcd")
    os.chmod(short, 0o600)
    with pytest.raises(KeyFileError, match="at least 32 bytes"):
        load_or_create_site_secret(short)
    with pytest.raises(KeyFileError, match="no key file configured"):
        load_or_create_site_secret(None)


def test_secret_never_shows_in_repr_or_pickle() -> None:
    secret = SiteSecret(bytes(range(32)))
    keys = EpochKeys(secret, 24)
    assert "redacted" in repr(secret) and "redacted" in repr(keys)
    assert "000102" not in repr(secret) + repr(keys)
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_epochs_and_their_keys() -> None:
    keys = EpochKeys(SiteSecret(bytes(32)), rotation_hours=24)
    assert keys.epoch_at(0) == 0
    assert keys.epoch_at(86_399.9) == 0 and keys.epoch_at(86_400) == 1
    assert keys.key_for(5) == keys.key_for(5) != keys.key_for(6)
    other_site = EpochKeys(SiteSecret(bytes([1]) * 32), rotation_hours=24)
    assert other_site.key_for(5) != keys.key_for(5)
    assert EpochKeys(SiteSecret(bytes(32)), 1).epoch_at(7200) == 2
