"""Packs encoded images for cnnz_classify_images: one buffer of bytes and size_t offsets, as Arrow does."""
import ctypes
from typing import List, Optional, Tuple

import numpy as np


class Packed:
    """Images back to back: `address`/`size` of the bytes (kept alive by `owner`), `offsets` (count + 1,
    size_t) and which images were null (None, or a null in an Arrow array)."""

    def __init__(self, owner, address: Optional[int], size: int, offsets: np.ndarray, nulls: List[int]):
        self.owner = owner
        self.address = address
        self.size = size
        self.offsets = offsets
        self.nulls = nulls

    def image(self, index: int) -> Tuple[Optional[int], int]:
        """The address and size of image `index`."""
        start = int(self.offsets[index])
        return (None if self.address is None else self.address + start), int(self.offsets[index + 1]) - start


def _is_arrow_binary(images) -> bool:
    kind = str(getattr(images, "type", ""))
    return hasattr(images, "buffers") and kind in ("binary", "large_binary")


def pack(images) -> Packed:
    """Packs a sequence of bytes-like objects (None for a missing image), or a pyarrow binary or
    large_binary array (read in place: its offsets are widened, its bytes are not copied)."""
    if hasattr(images, "combine_chunks") and str(getattr(images, "type", "")) in ("binary", "large_binary"):
        images = images.combine_chunks()  # a ChunkedArray (a column of a Table)
    if _is_arrow_binary(images):
        _, offsets_buffer, data_buffer = images.buffers()[:3]
        width = np.int64 if str(images.type) == "large_binary" else np.int32
        count = len(images)
        offsets = np.frombuffer(offsets_buffer, dtype=width, count=images.offset + count + 1)[images.offset:]
        nulls = np.flatnonzero(images.is_null().to_numpy(zero_copy_only=False)).tolist() if images.null_count else []
        address = data_buffer.address if data_buffer is not None and data_buffer.size else None
        size = data_buffer.size if address is not None else 0
        return Packed(data_buffer, address, size, offsets.astype(np.uintp), nulls)
    if isinstance(images, (bytes, bytearray, memoryview, str)):
        raise TypeError("predict_encoded takes a sequence of images (e.g. a list of bytes), not one image: "
                        "pass [data]")
    images = list(images)
    nulls = [i for i, image in enumerate(images) if image is None]
    if nulls:
        images = [b"" if image is None else image for image in images]
    views = [memoryview(image).cast("B") if not isinstance(image, bytes) else image for image in images]
    offsets = np.zeros(len(views) + 1, dtype=np.uintp)
    np.cumsum(np.fromiter(map(len, views), dtype=np.uintp, count=len(views)), out=offsets[1:])
    data = b"".join(views)
    address = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value if data else None
    return Packed(data, address, len(data), offsets, nulls)
