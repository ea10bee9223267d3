"""The alert rules, evaluated by Prometheus' own promtool on synthetic series (alerts/*.test.yaml).

promtool comes with Debian's `prometheus` package; without it the test is skipped, and
test_manifests.py still checks each rule's metrics, labels and runbook.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TESTS = Path(__file__).resolve().parent / "alerts"


def prometheus_rules() -> dict[str, object]:
    """Return the rule groups of the prod overlay's PrometheusRule, without annotations."""
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(REPO / "deploy" / "k8s" / "overlays" / "prod")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    (rule,) = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "PrometheusRule"]
    for group in rule["spec"]["groups"]:
        for item in group["rules"]:
            # The expected alerts compare labels; annotations are prose, checked elsewhere.
            item.pop("annotations", None)
    spec: dict[str, object] = rule["spec"]
    return spec


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed (Debian kubernetes-client)")
@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed (Debian package prometheus)")
def test_alerts_fire_on_the_conditions_they_name_and_stay_quiet_otherwise(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(prometheus_rules(), sort_keys=False))
    check = subprocess.run(
        ["promtool", "check", "rules", str(tmp_path / "rules.yaml")], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    for test_file in sorted(TESTS.glob("*.test.yaml")):
        shutil.copy(test_file, tmp_path / test_file.name)
        result = subprocess.run(
            ["promtool", "test", "rules", test_file.name],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"{test_file.name}:\n{result.stdout}{result.stderr}"
