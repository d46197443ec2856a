"""classify on PNG and JPEG files (the formats are read by libcnnz itself)."""
import pytest

import cnnz

IMAGES = ("Tests", "CnnzTests", "Fixtures", "images")


@pytest.fixture(scope="module")
def example(repository):
    return cnnz.Model(repository / "Examples" / "fashion-mnist-small.cnnz")


@pytest.mark.parametrize("name", ["bag", "sneaker", "trouser"])
def test_classify_png_and_jpeg(repository, example, name):
    pgm = example.classify(repository / "Examples" / "images" / f"{name}.pgm", top=10)
    folder = repository.joinpath(*IMAGES, "examples")
    # The PNG holds the PGM's pixels: the same probabilities, to the bit.
    assert example.classify(folder / f"{name}.png", top=10) == pgm
    # The JPEG is lossy: its scores are those of the pixels Pillow's libjpeg-turbo decodes from it.
    jpeg = example.classify(folder / f"{name}.jpg", top=10)
    assert jpeg == example.classify(folder / f"{name}.pillow.pgm", top=10)
    assert jpeg[0][0] == pgm[0][0]


def test_classify_refuses_other_formats(example, tmp_path):
    gif = tmp_path / "image.png"
    gif.write_bytes(b"GIF89a\x01\x00\x01\x00")
    with pytest.raises(cnnz.Error) as error:
        example.classify(gif)
    assert error.value.status == cnnz.ERROR_FORMAT
    assert "looks like a GIF image; cnnz reads PNG, JPEG and Netpbm" in error.value.message
