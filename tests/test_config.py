"""Configuration: embedded defaults, the example file, and clear refusals naming the key."""

import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from suppression.config import Settings, load_settings, settings_from_mapping
from suppression.errors import ConfigError
from suppression.keyfile import KEY_FILE_NAME, signing_keys
from tests.support.cli import _env
from tests.support.paths import ROOT


def test_no_config_runs_on_the_contract_defaults():
    settings = load_settings(None)
    assert (settings.http.host, settings.http.port) == ("127.0.0.1", 8080)
    assert (settings.smtp.host, settings.smtp.port) == ("127.0.0.1", 8025)
    assert settings.service.base_url == "http://127.0.0.1:8080"
    assert settings.service.data_dir == Path("./data")
    assert settings.smtp.request_addresses == ("PLUSinfo@plusnxt.com",)
    assert settings.smtp.max_message_bytes == 10485760
    assert settings.signing.secret_keys == ()
    assert dict(settings.topics) == {
        "newsletters": "Email newsletters",
        "promotions": "Promotions and offers",
        "product-updates": "Product updates",
    }


def test_example_file_documents_exactly_the_defaults():
    example = load_settings(ROOT / "config.example.toml")
    assert example == Settings()


def test_example_file_lists_every_key():
    with open(ROOT / "config.example.toml", "rb") as fh:
        documented = tomllib.load(fh)
    defaults = Settings()
    for section in ("service", "http", "smtp", "signing", "reply"):
        assert set(documented[section]) == set(vars(getattr(defaults, section))), section


def test_settings_are_frozen():
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.http.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"htp": {}}, "unknown config key: htp"),
        ({"http": {"prot": 1}}, "unknown config key: http.prot"),
        ({"http": {"port": "8080"}}, "config key http.port: expected an integer, got str"),
        ({"http": {"port": True}}, "config key http.port"),
        ({"http": {"port": 70000}}, "config key http.port"),
        ({"smtp": {"request_addresses": "a@example.com"}}, "config key smtp.request_addresses"),
        ({"smtp": {"request_addresses": ["not an address"]}}, "config key smtp.request_addresses"),
        ({"smtp": {"request_addresses": []}}, "config key smtp.request_addresses"),
        ({"service": {"base_url": "ftp://x"}}, "config key service.base_url"),
        ({"service": "x"}, "config key service"),
        ({"topics": {"Bad Topic": "x"}}, "config key topics.Bad Topic"),
        ({"topics": {"news": 3}}, "config key topics.news"),
        ({"signing": {"secret_keys": [""]}}, "config key signing.secret_keys"),
    ],
)
def test_bad_settings_name_the_key(raw, named):
    with pytest.raises(ConfigError) as error:
        settings_from_mapping(raw)
    assert named in str(error.value)


def test_missing_and_malformed_files_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[http\nport = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[http]\nprot = 1\n", "unknown config key: http.prot"),
        ("[smtp]\nport = 'x'\n", "config key smtp.port"),
    ],
)
def test_run_py_exits_2_with_one_line_naming_the_key(tmp_path, content, message):
    config = tmp_path / "config.toml"
    config.write_text(content)
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "--config", str(config)],
        capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert message in result.stderr


def test_run_py_refuses_bad_usage_in_one_line(capsys):
    from handlers.serve import main  # what run.py runs

    with pytest.raises(SystemExit) as ended:
        main(["--bogus"])
    assert ended.value.code == 2
    said = capsys.readouterr().err
    assert said.count("\n") == 1 and said.startswith("error: unrecognized arguments: --bogus"), said


def test_run_py_reads_suppression_config_env(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py")],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
        env=_env() | {"SUPPRESSION_CONFIG": str(tmp_path / "missing.toml")},
    )
    assert result.returncode == 2
    assert "missing.toml" in result.stderr


def test_signing_key_is_generated_once_with_mode_0600(tmp_path):
    settings = settings_from_mapping({"service": {"data_dir": str(tmp_path / "d")}})
    first = signing_keys(settings)
    path = tmp_path / "d" / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first[0]) >= 48
    assert signing_keys(settings) == first
    other = settings_from_mapping({"service": {"data_dir": str(tmp_path / "e")}})
    assert signing_keys(other) != first


def test_configured_keys_are_used_newest_first(tmp_path):
    settings = settings_from_mapping(
        {"service": {"data_dir": str(tmp_path)}, "signing": {"secret_keys": ["new" * 12, "old" * 12]}}
    )
    assert signing_keys(settings) == ("new" * 12, "old" * 12)
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_signing_key_readable_by_others_is_refused(tmp_path):
    settings = settings_from_mapping({"service": {"data_dir": str(tmp_path)}})
    signing_keys(settings)
    (tmp_path / KEY_FILE_NAME).chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        signing_keys(settings)


def test_a_config_with_signing_keys_readable_by_others_is_warned_about(tmp_path, caplog):
    config = tmp_path / "config.toml"
    config.write_text('[signing]\nsecret_keys = ["a-long-enough-secret-signing-key-0123456789"]\n')
    config.chmod(0o644)
    load_settings(config)
    assert "readable by others (mode 644); run: chmod 600" in caplog.text
    caplog.clear()
    config.chmod(0o600)
    load_settings(config)
    assert "readable by others" not in caplog.text


def test_the_store_key_takes_empty_or_a_postgresql_url_and_refuses_others_with_a_reason(tmp_path):
    assert settings_from_mapping({"store": {"url": ""}, "webhooks": []}).store.url == ""
    assert settings_from_mapping({"store": {"url": "postgresql://u@db/suppression"}}).store.url.startswith("postgresql")
    for raw, says in (
        ({"store": {"url": "mysql://u:p@127.0.0.1:3306/db"}}, "expected a PostgreSQL URL"),
        ({"store": {"url": "postgresql:///db", "pool_size": 0}}, "store.pool_size"),
    ):
        with pytest.raises(ConfigError, match=says):
            settings_from_mapping(raw)


def test_http_workers_are_one_by_default_zero_is_one_a_core_and_others_are_refused(monkeypatch):
    assert settings_from_mapping({}).http.worker_count() == 1
    assert settings_from_mapping({"http": {"workers": 3}}).http.worker_count() == 3
    monkeypatch.setattr("os.cpu_count", lambda: 6)
    assert settings_from_mapping({"http": {"workers": 0}}).http.worker_count() == 6
    for workers in (-1, 65):
        with pytest.raises(ConfigError, match="http.workers: expected 0 \\(one per core\\) to 64"):
            settings_from_mapping({"http": {"workers": workers}})
