import subprocess
import sys
from pathlib import Path

import pytest

from fedhealth import settings
from fedhealth.errors import ConfigError
from fedhealth_coordinator.settings import CoordinatorSettings
from fedhealth_node.settings import NodeSettings


def test_env_yaml_and_flags_in_order_of_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("rounds: 7\nhospitals: 4\nbatch_size: 16\nprivacy: none\n")
    monkeypatch.setenv("FEDHEALTH_COORDINATOR_HOSPITALS", "5")
    s = settings.load(CoordinatorSettings, cfg, batch_size=8)
    assert (s.rounds, s.hospitals, s.batch_size) == (7, 5, 8)


def test_every_bad_setting_is_named_with_its_env_var() -> None:
    with pytest.raises(ConfigError) as err:
        settings.load(NodeSettings, None, coordinator="nowhere", threads="0")
    msg = str(err.value)
    assert "coordinator (FEDHEALTH_NODE_COORDINATOR)" in msg and "threads (FEDHEALTH_NODE_THREADS)" in msg


def test_yaml_errors_name_the_file_and_key(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("roundz: 3\n")
    with pytest.raises(ConfigError, match="roundz"):
        settings.load(CoordinatorSettings, cfg)
    with pytest.raises(ConfigError, match="does not exist"):
        settings.load(CoordinatorSettings, tmp_path / "missing.yaml")


def test_inconsistent_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="proximal_mu"):
        settings.load(CoordinatorSettings, None, strategy="fedprox", privacy="none")


def test_deployed_services_default_to_dp_and_secure_aggregation() -> None:
    """A coordinator started without privacy settings runs dp+secagg, so it needs the key
    server; a hospital refuses unmasked updates unless told otherwise."""
    with pytest.raises(ConfigError, match="dp\\+secagg needs the keyserver.*privacy none or dp"):
        settings.load(CoordinatorSettings, None)
    s = settings.load(CoordinatorSettings, None, keyserver="127.0.0.1:1")
    assert (s.privacy, s.epsilon, s.delta) == ("dp+secagg", 1.0, 1e-5)
    assert settings.load(NodeSettings, None).require_secure_aggregation


def test_generated_stubs_match_the_protos() -> None:
    proc = subprocess.run([sys.executable, "-m", "fedhealth.protogen", "--check"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
