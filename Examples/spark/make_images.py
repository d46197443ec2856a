"""Writes a folder of test images for the Spark example and its benchmark.

    python3 Examples/spark/make_images.py OUT_DIR [--count 300] [--shape 28x28x1] [--seed 1] [--format pnm]

Variations of the ten shipped Fashion-MNIST images (Examples/images): shifted,
mirrored, with other contrast and seeded noise, resampled to the shape asked
for (HxWx1 gray or HxWx3 RGB, tinted). --format says how they are stored:

- pnm (the default): Netpbm, mostly binary (P5, P6); every seventh is ASCII
  (P2, P3) with a comment, so both decoders are exercised. Uncompressed: a
  96x96 RGB image is 27.6 KB, an ASCII one about 100 KB.
- png: PNG, 8-bit gray or RGB, each row filtered (None, Sub or Up, whichever
  is smallest, as encoders do) and deflated with zlib at its default level.
- jpeg: baseline JPEG, quality 90, 4:2:0 chroma for RGB, as cameras and web
  images are; needs Pillow (`pip install pillow`), which nothing else needs.

Only NumPy is needed for pnm and png.
"""
import argparse
import pathlib
import re
import struct
import zlib

import numpy as np

SHIPPED = pathlib.Path(__file__).resolve().parent.parent / "images"


def read_pgm(path: pathlib.Path) -> np.ndarray:
    data = path.read_bytes()
    header = re.match(rb"P5\s+(\d+)\s+(\d+)\s+255\s", data)
    width, height = int(header.group(1)), int(header.group(2))
    return np.frombuffer(data, dtype=np.uint8, count=width * height, offset=header.end()).reshape(height, width)


def write_netpbm(path: pathlib.Path, pixels: np.ndarray, ascii_form: bool) -> None:
    height, width, channels = pixels.shape
    kind = {(1, False): "P5", (3, False): "P6", (1, True): "P2", (3, True): "P3"}[(channels, ascii_form)]
    header = f"{kind}\n# made by make_images.py\n{width} {height}\n255\n".encode()
    if ascii_form:
        rows = (" ".join(str(v) for v in row) for row in pixels.reshape(height, width * channels))
        path.write_bytes(header + "\n".join(rows).encode() + b"\n")
    else:
        path.write_bytes(header + pixels.tobytes())


def write_png(path: pathlib.Path, pixels: np.ndarray) -> None:
    height, width, channels = pixels.shape
    rows = pixels.reshape(height, width * channels).astype(np.int16)
    above = np.vstack([np.zeros((1, width * channels), np.int16), rows[:-1]])
    left = np.hstack([np.zeros((height, channels), np.int16), rows[:, :-channels]])
    # Filters 0 (None), 1 (Sub), 2 (Up); per row the one with the smallest sum of |signed bytes|.
    candidates = np.stack([rows, rows - left, rows - above]).astype(np.uint8)
    cost = np.abs(candidates.astype(np.int8).astype(np.int32)).sum(axis=2)
    chosen = cost.argmin(axis=0)
    filtered = np.hstack([chosen[:, None].astype(np.uint8), candidates[chosen, np.arange(height)]])

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0 if channels == 1 else 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(filtered.tobytes()))
                     + chunk(b"IEND", b""))


def write_jpeg(path: pathlib.Path, pixels: np.ndarray) -> None:
    try:
        from PIL import Image
    except ImportError:
        raise SystemExit("error: --format jpeg needs Pillow: pip install pillow") from None
    image = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)
    image.save(path, "JPEG", quality=90, subsampling="4:2:0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--shape", default="28x28x1", help="HxWxC, C 1 or 3")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", choices=("pnm", "png", "jpeg"), default="pnm",
                        help="Netpbm (every seventh ASCII), PNG or JPEG (needs Pillow)")
    args = parser.parse_args()
    height, width, channels = (int(v) for v in args.shape.split("x"))
    rng = np.random.default_rng(args.seed)
    sources = [(path.stem, read_pgm(path)) for path in sorted(SHIPPED.glob("*.pgm"))]
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(args.count):
        name, image = sources[i % len(sources)]
        rows = np.arange(height) * image.shape[0] // height
        columns = np.arange(width) * image.shape[1] // width
        pixels = image[rows][:, columns].astype(np.float32)
        pixels = np.roll(pixels, (rng.integers(-3, 4), rng.integers(-3, 4)), axis=(0, 1))
        if rng.random() < 0.5:
            pixels = pixels[:, ::-1]
        pixels = pixels * rng.uniform(0.6, 1.2) + rng.normal(0, 8, pixels.shape)
        pixels = pixels[:, :, None] * (rng.uniform(0.5, 1.0, channels) if channels == 3 else np.ones(1))
        pixels = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
        if args.format == "png":
            write_png(out / f"{i:05d}-{name}.png", pixels)
        elif args.format == "jpeg":
            write_jpeg(out / f"{i:05d}-{name}.jpg", pixels)
        else:
            suffix = ".pgm" if channels == 1 else ".ppm"
            write_netpbm(out / f"{i:05d}-{name}{suffix}", pixels, ascii_form=i % 7 == 3)
    size = sum(path.stat().st_size for path in out.iterdir()) / max(1, sum(1 for _ in out.iterdir()))
    print(f"{args.count} images ({height}x{width}x{channels}, {args.format}, {size / 1024:.1f} KB on average) in {out}")


if __name__ == "__main__":
    main()
