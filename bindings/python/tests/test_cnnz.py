import json
import subprocess
import sys
import threading

import numpy as np
import pytest

import cnnz


@pytest.fixture(scope="module")
def example(repository):
    return cnnz.Model(repository / "Examples" / "fashion-mnist-small.cnnz")


def test_metadata(example):
    assert example.input_shape == (28, 28, 1)
    assert example.output_size == 10
    assert example.labels[0] == "T-shirt/top" and example.labels[9] == "Ankle boot"
    assert example.name == "fashion-mnist-small"
    assert example.precision == "float32"
    assert cnnz.version() == "0.3.0"
    assert "fashion-mnist-small" in repr(example)


def test_int8_models_run_through_the_same_calls(repository):
    model = cnnz.Model(repository / "Tests" / "CnnzTests" / "Fixtures" / "format-v2" / "tiny-graph-int8.cnnz")
    assert model.precision == "int8"
    floats = model.predict(np.zeros((2,) + model.input_shape, dtype=np.float32))
    pixels = model.predict(np.full((1,) + model.input_shape, 128, dtype=np.uint8))
    assert floats.shape == (2, 3) and pixels.shape == (1, 3)
    assert floats.dtype == np.float32 and np.all((floats >= 0) & (floats <= 1))  # a sigmoid's outputs
    assert np.array_equal(floats[0], floats[1])


def test_any_array_layout_gives_the_same_outputs(example):
    # predict's fast path takes C-contiguous float32 and uint8 arrays; every other layout,
    # byte order and array subclass goes through the checked path and must give the same bits.
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (3, 28, 28, 1), dtype=np.uint8)
    floats = pixels.astype(np.float32) * np.float32(1 / 255)
    expected = example.predict(floats)
    wide = np.zeros((3, 28, 56, 1), dtype=np.float32)
    wide[:, :, ::2] = floats
    np.testing.assert_array_equal(example.predict(wide[:, :, ::2]), expected)
    np.testing.assert_array_equal(example.predict(np.asfortranarray(floats)), expected)
    np.testing.assert_array_equal(example.predict(floats[::-1])[::-1], expected)
    np.testing.assert_array_equal(example.predict(pixels), example.predict(np.asfortranarray(pixels)))
    # Read-only arrays (a frozen copy, bytes seen through np.frombuffer) export no writable buffer
    # for ctypes' from_buffer: the fast path takes their address instead.
    frozen = floats.copy()
    frozen.flags.writeable = False
    np.testing.assert_array_equal(example.predict(frozen), expected)
    from_bytes = np.frombuffer(pixels.tobytes(), dtype=np.uint8).reshape(pixels.shape)
    assert not from_bytes.flags.writeable
    np.testing.assert_array_equal(example.predict(from_bytes), example.predict(pixels))
    with pytest.raises(cnnz.Error, match="input dtype >f4"):
        example.predict(floats.astype(">f4"))
    with pytest.raises(cnnz.Error, match="input dtype float64"):
        example.predict(floats.astype(np.float64))


@pytest.mark.parametrize("name", ["tiny", "tiny-graph"])
def test_golden_examples(repository, golden_models, name):
    fixtures = repository / "Tests" / "CnnzTests" / "Fixtures"
    x = np.array(json.loads((fixtures / f"{name}.input.json").read_text()), dtype=np.float32)
    expected = np.array(json.loads((fixtures / f"{name}.expected.json").read_text()), dtype=np.float32)
    model = cnnz.Model(golden_models / f"{name}.cnnz")
    single = model.predict(x[np.newaxis])[0]
    assert single.shape == expected.shape
    np.testing.assert_allclose(single, expected, atol=1e-5)
    batch = model.predict(np.stack([x, x, x]))
    assert batch.shape == (3, expected.size)
    for row in batch:
        np.testing.assert_array_equal(row, single)
    assert 0 <= model.selftest() <= 1e-4
    if name == "tiny-graph":
        assert model.labels == []


def test_uint8_pixels_get_the_models_preprocessing(example):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(5, 28, 28, 1), dtype=np.uint8)
    from_pixels = example.predict(pixels)
    # Scaled as the model's preprocessing scales (pixel * scale, in float32), to the
    # bit: a Winograd convolution's rounding depends on the input's bits, so inputs
    # 1 ulp apart (pixel / 255) can give probabilities more than 1e-6 apart.
    from_floats = example.predict(pixels.astype(np.float32) * np.float32(1 / 255))
    np.testing.assert_allclose(from_pixels, from_floats, atol=1e-6)
    assert from_pixels.dtype == np.float32
    np.testing.assert_allclose(from_pixels.sum(axis=1), 1, atol=1e-5)


def test_load_from_bytes_equals_load_from_path(repository, example):
    data = (repository / "Examples" / "fashion-mnist-small.cnnz").read_bytes()
    from_bytes = cnnz.Model(data)
    x = np.linspace(0, 1, 784, dtype=np.float32).reshape(1, 28, 28, 1)
    np.testing.assert_array_equal(from_bytes.predict(x), example.predict(x))
    np.testing.assert_array_equal(cnnz.Model(memoryview(data)).predict(x), example.predict(x))


def test_classify(repository, example):
    top = example.classify(repository / "Examples" / "images" / "trouser.pgm", top=3)
    assert len(top) == 3
    assert top[0][0] == "Trouser"
    assert top[0][1] >= top[1][1] >= top[2][1]
    assert all(isinstance(label, str) and 0 <= p <= 1 for label, p in top)


def test_errors_carry_the_engines_message(repository, example, tmp_path):
    with pytest.raises(cnnz.Error) as missing:
        cnnz.Model(tmp_path / "none.cnnz")
    assert missing.value.status == cnnz.ERROR_IO
    assert "no such file" in str(missing.value)
    with pytest.raises(cnnz.Error) as garbage:
        cnnz.Model(b"P5 28 28 255\n" + bytes(784))
    assert garbage.value.status == cnnz.ERROR_FORMAT
    assert "magic" in garbage.value.message
    data = (repository / "Examples" / "fashion-mnist-small.cnnz").read_bytes()
    with pytest.raises(cnnz.Error) as truncated:
        cnnz.Model(data[:1000])
    assert truncated.value.status == cnnz.ERROR_FORMAT
    with pytest.raises(cnnz.Error) as shape:
        example.predict(np.zeros((2, 28, 27, 1), dtype=np.float32))
    assert shape.value.status == cnnz.ERROR_ARGUMENT
    with pytest.raises(cnnz.Error):
        example.predict(np.zeros((0, 28, 28, 1), dtype=np.float32))
    bad_image = tmp_path / "bad.pgm"
    bad_image.write_bytes(b"P5 28 28 255\n" + bytes(10))
    with pytest.raises(cnnz.Error) as image:
        example.classify(bad_image)
    assert image.value.status == cnnz.ERROR_FORMAT
    assert "needs 784 bytes" in image.value.message
    with pytest.raises(TypeError):
        cnnz.Model(42)


def test_engine_threads_give_the_same_outputs(repository, example):
    threaded = cnnz.Model(repository / "Examples" / "fashion-mnist-small.cnnz", threads=3)
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, size=(9, 28, 28, 1), dtype=np.uint8)
    np.testing.assert_array_equal(threaded.predict(pixels), example.predict(pixels))
    with pytest.raises(cnnz.Error) as bad:
        cnnz.Model(repository / "Examples" / "fashion-mnist-small.cnnz", threads=0).predict(pixels)
    assert "thread count" in bad.value.message


def test_closed_model_raises(repository):
    model = cnnz.Model(repository / "Examples" / "fashion-mnist-small.cnnz")
    with model:
        model.predict(np.zeros((1, 28, 28, 1), dtype=np.float32))
    with pytest.raises(cnnz.Error):
        model.predict(np.zeros((1, 28, 28, 1), dtype=np.float32))


def test_threads_share_one_model(golden_models):
    model = cnnz.Model(golden_models / "tiny-graph.cnnz")
    rng = np.random.default_rng(1)
    inputs = rng.uniform(-1, 1, size=(16, 6, 7, 3)).astype(np.float32)
    expected = [model.predict(x[np.newaxis]) for x in inputs]
    mismatches = []
    errors = []
    runs = []

    def work(offset):
        # An exception in a thread is lost unless it is kept: keep it, and count the runs that finished.
        try:
            for i in range(300):
                k = (i * 7 + offset) % len(inputs)
                if not np.array_equal(model.predict(inputs[k][np.newaxis]), expected[k]):
                    mismatches.append((offset, i))
                runs.append(1)
        except BaseException as error:  # noqa: BLE001 - re-raised below in the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    assert len(runs) == 8 * 300
    assert mismatches == []
    assert len(model._sessions) >= 2  # one session per thread


def test_memory_budget(repository):
    path = str(repository / "Examples" / "fashion-mnist-small.cnnz")
    with pytest.raises(cnnz.Error) as refused:
        cnnz.Model(path, max_memory=20000)
    assert refused.value.status == cnnz.ERROR_MEMORY
    assert "memory budget" in str(refused.value) and "20000 bytes" in str(refused.value)
    with open(path, "rb") as f:
        data = f.read()
    with pytest.raises(cnnz.Error):
        cnnz.Model(data, max_memory=20000)
    # Enough for the model and a session of 8, not for one of 10,000.
    model = cnnz.Model(path, max_memory=4 << 20)
    assert model.predict(np.zeros((1, 28, 28, 1), np.uint8)).shape == (1, 10)
    big = cnnz.Model(path, max_memory=4 << 20, batch_capacity=10000)
    with pytest.raises(cnnz.Error) as session_refused:
        big.predict(np.zeros((1, 28, 28, 1), np.uint8))
    assert session_refused.value.status == cnnz.ERROR_MEMORY
    for bad in (0, -1, 1.5, "1M", True):
        with pytest.raises(cnnz.Error):
            cnnz.Model(path, max_memory=bad)


def test_missing_library_says_how_to_build(tmp_path):
    code = "import cnnz\ntry:\n    cnnz.version()\nexcept cnnz.LibraryNotFound as e:\n    print(e)\n"
    env = {"CNNZ_LIBRARY": str(tmp_path / "libcnnz.so"), "PYTHONPATH": ":".join(sys.path)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "swift build -c release --product cnnz" in result.stdout
