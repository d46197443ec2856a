"""classify() and predict() behave as the `infer` CLI does, and say so when they cannot (issue 13)."""
import os
import pathlib
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

import cnnz


@pytest.fixture(scope="module")
def example(repository):
    return cnnz.Model(repository / "Examples" / "fashion-mnist-small.cnnz")


@pytest.fixture(scope="module")
def infer(repository):
    path = repository / ".build" / "debug" / "infer"
    if not path.exists():
        subprocess.run(["swift", "build", "--package-path", str(repository), "--product", "infer"], check=True,
                       capture_output=True)
    return path


def test_classify_defaults_to_the_top_3_that_infer_prints(repository, example, infer):
    image = repository / "Examples" / "images" / "shirt.pgm"
    cli = subprocess.run([str(infer), str(repository / "Examples" / "fashion-mnist-small.cnnz"), str(image)],
                         capture_output=True, text=True, check=True)
    printed = [line.split() for line in cli.stdout.splitlines()[1:]]
    top = example.classify(image)
    assert len(top) == len(printed) == 3
    for (label, probability), row in zip(top, printed):
        assert label == " ".join(row[:-1])
        assert f"{probability:.4f}" == row[-1]


def test_classify_warns_when_it_resizes_as_infer_notes(repository, example, infer, tmp_path):
    small = tmp_path / "small.pgm"
    small.write_bytes(b"P5 4 2 255\n" + bytes(range(0, 240, 30)))
    cli = subprocess.run([str(infer), str(repository / "Examples" / "fashion-mnist-small.cnnz"), str(small)],
                         capture_output=True, text=True, check=True)
    with pytest.warns(cnnz.ResizeWarning) as caught:
        top = example.classify(small)
    assert len(caught) == 1
    assert cli.stderr == f"note: {caught[0].message}\n"
    assert str(caught[0].message) == f"{small} is 4x2, resized to 28x28"
    assert caught[0].filename == __file__  # points at the caller, not at cnnz
    assert len(top) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an image of the model's size warns of nothing
        example.classify(repository / "Examples" / "images" / "bag.pgm")


def test_classify_of_a_missing_image_raises_without_a_warning(example, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(cnnz.Error) as missing:
            example.classify(tmp_path / "none.pgm")
    assert missing.value.status == cnnz.ERROR_IO


@pytest.mark.parametrize("array, hint", [
    (np.zeros((2, 28, 28, 1)), "x.astype(np.float32)"),  # float64, NumPy's default
    (np.zeros((2, 28, 28, 1), dtype=np.float16), "x.astype(np.float32)"),
    (np.zeros((2, 28, 28, 1), dtype=np.int64), "x.astype(np.uint8) for pixels"),
    (np.zeros((28, 28, 1), dtype=np.float32), "x[np.newaxis]"),
    (np.zeros((28, 28, 1), dtype=np.uint8), "x[np.newaxis]"),
])
def test_predict_refuses_what_it_would_have_to_guess(example, array, hint):
    with pytest.raises(cnnz.Error) as refused:
        example.predict(array)
    assert refused.value.status == cnnz.ERROR_ARGUMENT
    assert hint in refused.value.message


def test_predict_after_the_explicit_conversion_equals_float32(example):
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, size=(3, 28, 28, 1))
    expected = example.predict(x.astype(np.float32))
    assert expected.shape == (3, 10) and expected.dtype == np.float32
    np.testing.assert_array_equal(example.predict(x[0].astype(np.float32)[np.newaxis]), expected[:1])


def _package_copy(tmp_path, repository):
    """The binding's source, copied where no libcnnz lies nearby."""
    source = tmp_path / "src" / "bindings" / "python"
    shutil.copytree(repository / "bindings" / "python", source,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "libcnnz.so", "tests"))
    return source


def test_setup_warns_when_there_is_no_library_to_bundle(repository, tmp_path):
    source = _package_copy(tmp_path, repository)
    env = {key: value for key, value in os.environ.items() if key != "CNNZ_LIBRARY"}
    built = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path / "lib")],
                           cwd=source, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert built.returncode == 0, built.stderr
    assert "no libcnnz to bundle" in built.stderr
    assert "swift build -c release --product cnnz" in built.stderr
    assert not (tmp_path / "lib" / "cnnz" / "libcnnz.so").exists()
    # With a library named by CNNZ_LIBRARY it is bundled and nothing is said.
    library = tmp_path / "libcnnz.so"
    library.write_bytes(b"stand-in")
    env["CNNZ_LIBRARY"] = str(library)
    bundled = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path / "lib2")],
                             cwd=source, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert bundled.returncode == 0, bundled.stderr
    assert "no libcnnz" not in bundled.stderr
    assert (tmp_path / "lib2" / "cnnz" / "libcnnz.so").read_bytes() == b"stand-in"
    # A library already placed in the package (as a wheel build script does) needs no warning either.
    del env["CNNZ_LIBRARY"]
    shutil.copy(library, source / "cnnz" / "libcnnz.so")
    placed = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path / "lib3")],
                            cwd=source, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert placed.returncode == 0, placed.stderr
    assert "no libcnnz" not in placed.stderr


@pytest.mark.skipif(shutil.which("script") is None, reason="needs `script` (util-linux) for a terminal")
def test_pip_install_on_a_terminal_shows_the_warning(repository, tmp_path):
    # pip hides a build's output unless -v; the warning reaches the user's terminal all the same.
    source = _package_copy(tmp_path, repository)
    env = {key: value for key, value in os.environ.items() if key != "CNNZ_LIBRARY"}
    command = f"{sys.executable} -m pip install -q --no-deps --target {tmp_path / 'site'} {source}"
    result = subprocess.run(["script", "-qec", command, "/dev/null"], env=env, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING: cnnz: no libcnnz to bundle" in result.stdout
    assert (tmp_path / "site" / "cnnz" / "__init__.py").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_classify_reads_the_image_once(repository, example, tmp_path):
    # A named pipe delivers the image once: a second read of it would wait for another writer.
    # The writer below gives the bytes once; if classify is still waiting after they were read,
    # it is unblocked with an empty second write (a failed read) and the test fails.
    import threading
    import time

    image = (repository / "Examples" / "images" / "trouser.pgm").read_bytes()
    expected = example.classify(repository / "Examples" / "images" / "trouser.pgm")
    pipe = tmp_path / "trouser.pgm"
    os.mkfifo(pipe)
    opened = []

    def write_once():
        with open(pipe, "wb") as writer:
            writer.write(image)
        opened.append(time.monotonic())

    threading.Thread(target=write_once, daemon=True).start()
    result, errors = [], []

    def classify():
        try:
            result.append(example.classify(pipe))
        except cnnz.Error as error:
            errors.append(error)

    worker = threading.Thread(target=classify, daemon=True)
    worker.start()
    worker.join(timeout=10)
    reads = 1
    while worker.is_alive():  # waiting to read the pipe again: open it with no bytes
        reads += 1
        with open(pipe, "wb"):
            pass
        worker.join(timeout=1)
    assert opened, "the image was never read"
    assert reads == 1, f"classify read the image {reads} times ({errors})"
    assert result == [expected]


def test_layers_and_profile_list_what_infer_profile_lists(repository, example, infer):
    cli = subprocess.run([str(infer), str(repository / "Examples" / "fashion-mnist-small.cnnz"),
                          str(repository / "Examples" / "images" / "bag.pgm"), "--profile", "--bench", "5",
                          "--threads", "1"], capture_output=True, text=True, check=True)
    # Rows: index, type, activation, shape, time, share (2 tokens), cumulative (2 tokens), MACs, ...
    rows = [line.split() for line in cli.stdout.splitlines() if line[:1].isdigit()]
    assert [(row[1], int(row[9].replace(",", ""))) for row in rows] == [(l.type, l.macs) for l in example.layers]
    # The architecture's own count: Conv2D(32, 3x3, same) on 28x28x1; Dense(128 -> 10) last.
    assert example.layers[0] == cnnz.Layer("", "Conv2D", 28 * 28 * 32 * 9)
    assert example.layers[-1].macs == 128 * 10

    profile = example.profile(runs=20)
    assert isinstance(profile, cnnz.Profile) and len(profile) == len(example.layers)
    for row, layer in zip(profile, example.layers):
        assert (row.name, row.type, row.macs) == tuple(layer)
        assert (row.milliseconds == 0) == (layer.type == "Flatten")
        assert row.milliseconds >= 0
    assert profile.milliseconds == pytest.approx(sum(row.milliseconds for row in profile))
    table = str(profile)
    assert "Total" in table and len(table.splitlines()) == len(profile) + 6
    # A batch of pixels, and the errors predict gives.
    assert len(example.profile(np.zeros((3, 28, 28, 1), np.uint8), runs=2)) == len(example.layers)
    with pytest.raises(cnnz.Error, match="batch capacity"):
        example.profile(np.zeros((9, 28, 28, 1), np.float32), runs=2)
    with pytest.raises(cnnz.Error, match="runs 0"):
        example.profile(runs=0)
    with pytest.raises(cnnz.Error, match="does not match"):
        example.profile(np.zeros((1, 28, 28, 3), np.float32))
    with pytest.raises(cnnz.Error, match="float32 or uint8"):
        example.profile(np.zeros((1, 28, 28, 1), np.float64))
