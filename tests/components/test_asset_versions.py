"""What a registered version is made of: its files and defining settings, not where they are."""

from __future__ import annotations

import shutil
from pathlib import Path

from components.asset_versions import fingerprint
from components.specs.assets import DataAssetSpec, EnvironmentAssetSpec, ModelAssetSpec

ASSETS = Path(__file__).parent / "fixtures" / "assets"


def test_a_models_fingerprint_follows_its_files_not_their_place_or_description(tmp_path: Path) -> None:
    first, moved = tmp_path / "a" / "model", tmp_path / "b" / "elsewhere"
    shutil.copytree(ASSETS / "model", first)
    shutil.copytree(ASSETS / "model", moved)
    v1 = fingerprint(ModelAssetSpec(name="m", path=first, description="one"))
    assert fingerprint(ModelAssetSpec(name="m", path=moved, description="two")) == v1
    assert (v1.files, v1.size) == (1, 62)
    assert fingerprint(ModelAssetSpec(name="m", path=first, type="mlflow_model")).digest != v1.digest
    (first / "model.txt").write_text("other\n")
    assert fingerprint(ModelAssetSpec(name="m", path=first)).digest != v1.digest
    (first / "__pycache__").mkdir()
    (first / "__pycache__" / "x.pyc").write_bytes(b"\0")  # caches are not content
    assert fingerprint(ModelAssetSpec(name="m", path=first)).files == 1


def test_environment_and_data_fingerprints(tmp_path: Path) -> None:
    conda = tmp_path / "conda.yaml"
    shutil.copy(ASSETS / "environment" / "conda.yaml", conda)
    env = fingerprint(
        EnvironmentAssetSpec(name="e", image="mlendpoints/base:bookworm-py311", conda_file=conda)
    )
    assert fingerprint(EnvironmentAssetSpec(name="e", image="other:1", conda_file=conda)).digest != env.digest
    conda.write_text(conda.read_text() + "\n# changed\n")
    after = fingerprint(
        EnvironmentAssetSpec(name="e", image="mlendpoints/base:bookworm-py311", conda_file=conda)
    )
    assert after.digest != env.digest
    data = fingerprint(DataAssetSpec(name="d", path=ASSETS / "model"))
    assert fingerprint(DataAssetSpec(name="d", path=ASSETS / "model", type="uri_file")).digest != data.digest
