import os
import pathlib
import subprocess
import sys

import pytest

REPOSITORY = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPOSITORY / "bindings" / "python"))


@pytest.fixture(scope="session")
def repository():
    return REPOSITORY


@pytest.fixture(scope="session")
def golden_models(tmp_path_factory):
    """tiny.cnnz and tiny-graph.cnnz, converted from the shared spec's examples."""
    out = tmp_path_factory.mktemp("models")
    convert = REPOSITORY / ".build" / "debug" / "convert"
    for name in ("tiny", "tiny-graph"):
        source = REPOSITORY / "Tests" / "CnnzTests" / "Fixtures" / f"{name}.json"
        command = [str(convert)] if convert.exists() else ["swift", "run", "--package-path", str(REPOSITORY), "convert"]
        subprocess.run(command + [str(source), "-o", str(out / f"{name}.cnnz")], check=True, capture_output=True)
    return out
