"""Model.predict_encoded: encoded image bytes in, the engine's scores out, bit for bit as classify."""
import ctypes

import numpy as np
import pytest

import cnnz

IMAGES = ("Tests", "CnnzTests", "Fixtures", "images")
GOOD = ["examples/bag.png", "examples/bag.jpg", "examples/coat.pillow.pgm", "jpeg-rgb-420.jpg", "gray16.png",
        "palette2-interlaced.png", "examples/dress.jpg"]


@pytest.fixture(scope="module")
def example(repository):
    return cnnz.Model(repository / "Examples" / "fashion-mnist-small.cnnz", batch_capacity=3)


@pytest.fixture(scope="module")
def files(repository):
    return [repository.joinpath(*IMAGES, name) for name in GOOD]


def file_scores(model, path):
    """What cnnz_classify_file computes for the file: the scores classify ranks."""
    out = np.empty(model.output_size, dtype=np.float32)
    status = model._lib.cnnz_classify_file(model._session(), str(path).encode(), out.ctypes.data, out.size)
    assert status == cnnz.OK, model._lib.cnnz_last_error()
    return out


def test_equal_to_classify_file_bit_for_bit(example, files):
    # 7 images through a session of capacity 3: passes of 3, 3 and 1.
    outputs = example.predict_encoded([path.read_bytes() for path in files])
    assert outputs.shape == (len(files), example.output_size) and outputs.dtype == np.float32
    for path, row in zip(files, outputs):
        assert np.array_equal(row.view(np.uint32), file_scores(example, path).view(np.uint32)), path
    # The ranking classify gives comes from those scores.
    assert example.classify(files[0], top=1)[0][0] == example.labels[int(outputs[0].argmax())] == "Bag"


def test_bytes_like_inputs(example, files):
    data = files[0].read_bytes()
    expected = example.predict_encoded([data])
    for same in (bytearray(data), memoryview(data), np.frombuffer(data, dtype=np.uint8)):
        assert np.array_equal(example.predict_encoded([same]), expected)
    with pytest.raises(TypeError, match=r"not one image: pass \[data\]"):
        example.predict_encoded(data)


def test_bad_images_raise_one_line(example, files):
    good = files[0].read_bytes()
    with pytest.raises(cnnz.Error) as error:
        example.predict_encoded([good, b"GIF89a\x01\x00", good[:60]])
    assert error.value.status == cnnz.ERROR_FORMAT
    assert error.value.message.startswith("image 1: not an image cnnz reads: this looks like a GIF image")
    assert "\n" not in error.value.message
    with pytest.raises(cnnz.Error, match="image 0: the image is empty"):
        example.predict_encoded([b""])
    with pytest.raises(cnnz.Error, match=r"image 1: no bytes \(None or null\)"):
        example.predict_encoded([good, None])
    with pytest.raises(cnnz.Error, match="no images"):
        example.predict_encoded([])
    with pytest.raises(ValueError, match="errors must be"):
        example.predict_encoded([good], errors="ignore")


def test_errors_return(example, files, repository):
    good = files[1].read_bytes()
    cmyk = repository.joinpath(*IMAGES, "jpeg-cmyk.jpg").read_bytes()
    outputs, messages = example.predict_encoded([b"P5\n28 28\n255\n", good, None, cmyk, good, b""], errors="return")
    assert messages[1] is None and messages[4] is None
    assert messages[0] == "Netpbm data: 28x28x1 needs 784 bytes of samples, the file has 0"
    assert messages[2] == "no bytes (None or null)"
    assert "CMYK" in messages[3]
    assert messages[5].startswith("the image is empty (0 bytes)")
    assert all("\n" not in message for message in messages if message)
    assert np.isnan(outputs[[0, 2, 3, 5]]).all()
    expected = file_scores(example, files[1]).view(np.uint32)
    assert np.array_equal(outputs[1].view(np.uint32), expected) and np.array_equal(outputs[4].view(np.uint32), expected)


def test_short_buffers_are_refused(example, files):
    """The C function refuses offsets past the data, a short output and counts that do not fit."""
    data = files[0].read_bytes()
    session = example._session()
    out = np.full((2, example.output_size), 42.0, dtype=np.float32)
    statuses = np.full(2, 99, dtype=np.intc)
    offsets = np.array([0, len(data), 2 * len(data)], dtype=np.uintp)
    lib = example._lib
    status = lib.cnnz_classify_images(session, data, len(data), offsets.ctypes.data, 2, out.ctypes.data, out.size,
                                      statuses.ctypes.data)
    assert status == cnnz.ERROR_ARGUMENT
    assert "image 1 spans bytes" in lib.cnnz_last_error().decode()
    status = lib.cnnz_classify_images(session, data * 2, 2 * len(data), offsets.ctypes.data, 2, out.ctypes.data,
                                      out.size - 1, statuses.ctypes.data)
    assert status == cnnz.ERROR_ARGUMENT
    assert (out == 42.0).all() and (statuses == 99).all()  # nothing written
    status = lib.cnnz_classify_image(session, data, len(data), out.ctypes.data, example.output_size - 1)
    assert status == cnnz.ERROR_ARGUMENT
    assert lib.cnnz_classify_image(session, None, 5, out.ctypes.data, out.size) == cnnz.ERROR_ARGUMENT
    assert lib.cnnz_classify_image(session, ctypes.c_char_p(data), len(data), out.ctypes.data,
                                   example.output_size) == cnnz.OK


def test_arrow_arrays_read_in_place(example, files):
    pa = pytest.importorskip("pyarrow")
    images = [path.read_bytes() for path in files]
    expected = example.predict_encoded(images)
    for kind in (pa.binary(), pa.large_binary()):
        array = pa.array([b"junk"] + images + [None], kind)
        assert np.array_equal(example.predict_encoded(array.slice(1, len(images))), expected)
        outputs, messages = example.predict_encoded(array, errors="return")
        assert np.array_equal(outputs[1:-1], expected)
        assert messages[0].startswith("unknown image format") and messages[-1] == "no bytes (None or null)"
        assert messages[1:-1] == [None] * len(images)
    assert np.array_equal(example.predict_encoded(pa.chunked_array([images[:2], images[2:]], pa.binary())), expected)


def test_threads_share_a_model(example, files):
    """Each thread runs its own session, the GIL released: the same outputs from every thread."""
    from concurrent.futures import ThreadPoolExecutor

    images = [path.read_bytes() for path in files] * 20
    expected = example.predict_encoded(images)
    with ThreadPoolExecutor(4) as pool:
        for outputs in pool.map(lambda _: example.predict_encoded(images), range(8)):
            assert np.array_equal(outputs, expected)
