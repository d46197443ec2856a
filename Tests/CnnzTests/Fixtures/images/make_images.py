#!/usr/bin/env python3
"""Writes the PNG and JPEG test images in this folder, and what they should decode to.

    python3 Tests/CnnzTests/Fixtures/images/make_images.py    # from the repository root

PNGs are written here byte by byte (zlib and struct only), so that every kind
is exactly what its name says: each bit depth and colour type, palettes with
and without tRNS, Adam7 interlacing, ancillary chunks. Beside each `NAME.png`
goes `NAME.pgm` or `NAME.ppm`: the same pixels as Netpbm, alpha dropped, gray
below 8 bits at maxval 2^bits - 1, 16 bits at maxval 65535. The Swift tests
require both to decode to the same image.

`examples/NAME.png` holds the pixels of `Examples/images/NAME.pgm` (infer must
give bit-identical scores). The JPEGs (`examples/NAME.jpg` and `jpeg-*.jpg`) need
Pillow (`pip install pillow`); beside each goes `NAME.pillow.pgm` / `.ppm`: the
pixels Pillow's libjpeg-turbo decodes from it, which cnnz must match exactly.
"""

import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPOSITORY = os.path.normpath(os.path.join(HERE, "..", "..", "..", ".."))
WIDTH, HEIGHT = 7, 5  # odd sizes: Adam7's passes are partly empty


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def pack_row(samples, bit_depth):
    """One scanline's bytes: samples below 8 bits packed MSB first, 16 bits big-endian."""
    if bit_depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    if bit_depth == 8:
        return bytes(samples)
    per_byte = 8 // bit_depth
    out = bytearray()
    for i in range(0, len(samples), per_byte):
        byte = 0
        group = samples[i:i + per_byte]
        for j, s in enumerate(group):
            byte |= s << (8 - bit_depth * (j + 1))
        out.append(byte)
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png(width, height, color_type, bit_depth, pixels, interlace=False, palette=None, trns=None, extra=b""):
    """pixels[y][x] is a tuple of the samples stored (index, gray, gray+alpha, RGB or RGBA)."""
    raw = bytearray()
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for x0, y0, dx, dy in passes:
        xs = range(x0, width, dx)
        if not xs:
            continue
        for y in range(y0, height, dy):
            # Alternate filter types 0...4 so that libpng's unfiltering is exercised; all decode the same.
            samples = [s for x in xs for s in pixels[y][x]]
            data = pack_row(samples, bit_depth)
            bpp = max(1, len(pixels[0][0]) * bit_depth // 8)
            raw += filtered(data, previous_rows.get((x0, y0, dx, dy)), y % 5, bpp)
            previous_rows[(x0, y0, dx, dy)] = data
        previous_rows.pop((x0, y0, dx, dy), None)
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 1 if interlace else 0)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra
    if palette is not None:
        out += chunk(b"PLTE", b"".join(bytes(c) for c in palette))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    compressed = zlib.compress(bytes(raw), 9)
    # Two IDAT chunks: the decoder must join them.
    half = len(compressed) // 2
    out += chunk(b"IDAT", compressed[:half]) + chunk(b"IDAT", compressed[half:]) + chunk(b"IEND", b"")
    return out


previous_rows = {}


def filtered(row, previous, kind, bpp):
    previous = previous or bytes(len(row))
    out = bytearray([kind])
    for i, value in enumerate(row):
        left = row[i - bpp] if i >= bpp else 0
        up = previous[i]
        corner = previous[i - bpp] if i >= bpp else 0
        if kind == 0:
            predictor = 0
        elif kind == 1:
            predictor = left
        elif kind == 2:
            predictor = up
        elif kind == 3:
            predictor = (left + up) // 2
        else:
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            predictor = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
        out.append((value - predictor) & 0xFF)
    return bytes(out)


def netpbm(channels, maxval, width, height, samples):
    kind = b"P5" if channels == 1 else b"P6"
    header = b"%s\n%d %d\n%d\n" % (kind, width, height, maxval)
    if maxval > 255:
        return header + b"".join(struct.pack(">H", s) for s in samples)
    return header + bytes(samples)


def write(path, data):
    with open(os.path.join(HERE, path), "wb") as f:
        f.write(data)


def value(x, y, c, top):
    """A pattern that uses the whole range 0...top and differs per channel."""
    return (x * 37 + y * 101 + c * 59 + x * y * 13) % (top + 1)


def make_pngs():
    w, h = WIDTH, HEIGHT
    grid = [(x, y) for y in range(h) for x in range(w)]
    for bits in (1, 2, 4, 8, 16):
        top = (1 << bits) - 1
        pixels = [[(value(x, y, 0, top),) for x in range(w)] for y in range(h)]
        samples = [pixels[y][x][0] for x, y in grid]
        for interlace in (False, True):
            if interlace and bits not in (1, 8, 16):
                continue
            name = "gray%d%s" % (bits, "-interlaced" if interlace else "")
            write(name + ".png", png(w, h, 0, bits, pixels, interlace))
            write(name + ".pgm", netpbm(1, top, w, h, samples))
    # Gray with tRNS: the transparent value is ignored like alpha.
    pixels = [[(value(x, y, 0, 255),) for x in range(w)] for y in range(h)]
    write("gray8-trns.png", png(w, h, 0, 8, pixels, trns=struct.pack(">H", pixels[0][0][0])))
    write("gray8-trns.pgm", netpbm(1, 255, w, h, [pixels[y][x][0] for x, y in grid]))
    for bits in (8, 16):
        top = (1 << bits) - 1
        for channels, color_type, label in ((2, 4, "gray-alpha"), (3, 2, "rgb"), (4, 6, "rgba")):
            pixels = [[tuple(value(x, y, c, top) for c in range(channels)) for x in range(w)] for y in range(h)]
            kept = 1 if channels <= 2 else 3
            samples = [s for x, y in grid for s in pixels[y][x][:kept]]
            for interlace in (False, True):
                name = "%s%d%s" % (label, bits, "-interlaced" if interlace else "")
                write(name + ".png", png(w, h, color_type, bits, pixels, interlace))
                write(name + (".pgm" if kept == 1 else ".ppm"), netpbm(kept, top, w, h, samples))
    for bits in (1, 2, 4, 8):
        entries = min(1 << bits, 200)
        palette = [((i * 53) % 256, (i * 97 + 11) % 256, (255 - i * 29) % 256) for i in range(entries)]
        pixels = [[(value(x, y, 0, 255) % entries,) for x in range(w)] for y in range(h)]
        samples = [s for x, y in grid for s in palette[pixels[y][x][0]]]
        variants = [("", False, None), ("-interlaced", True, None)]
        if bits == 8:
            variants.append(("-trns", False, bytes(range(0, 250, 5))[:entries]))
        for suffix, interlace, trns in variants:
            name = "palette%d%s" % (bits, suffix)
            write(name + ".png", png(w, h, 3, bits, pixels, interlace, palette=palette, trns=trns))
            write(name + ".ppm", netpbm(3, 255, w, h, samples))
    # Ancillary chunks the decoder skips: gamma, text, compressed text, an unknown private chunk.
    pixels = [[tuple(value(x, y, c, 255) for c in range(3)) for x in range(w)] for y in range(h)]
    extra = (chunk(b"gAMA", struct.pack(">I", 45455)) + chunk(b"tEXt", b"Comment\0made by make_images.py")
             + chunk(b"zTXt", b"Title\0\0" + zlib.compress(b"cnnz" * 100)) + chunk(b"prVt", b"\1\2\3"))
    write("rgb8-chunks.png", png(w, h, 2, 8, pixels, extra=extra))
    write("rgb8-chunks.ppm", netpbm(3, 255, w, h, [s for x, y in grid for s in pixels[y][x]]))


def read_pgm(path):
    with open(path, "rb") as f:
        data = f.read()
    parts = data.split(maxsplit=4)
    assert parts[0] == b"P5" and parts[3] == b"255", path
    width, height = int(parts[1]), int(parts[2])
    return width, height, data[len(data) - width * height:]


def make_examples():
    os.makedirs(os.path.join(HERE, "examples"), exist_ok=True)
    folder = os.path.join(REPOSITORY, "Examples", "images")
    for file in sorted(os.listdir(folder)):
        if not file.endswith(".pgm"):
            continue
        width, height, pixels = read_pgm(os.path.join(folder, file))
        rows = [[(pixels[y * width + x],) for x in range(width)] for y in range(height)]
        write(os.path.join("examples", file[:-4] + ".png"), png(width, height, 0, 8, rows))


def make_jpegs():
    try:
        from PIL import Image
    except ImportError:
        sys.exit("the JPEGs need Pillow: pip install pillow")

    def save(image, name, **options):
        path = os.path.join(HERE, name)
        image.save(path, "JPEG", **options)
        decoded = Image.open(path)
        decoded.load()
        expected = path[:-4] + (".pillow.pgm" if decoded.mode == "L" else ".pillow.ppm")
        if decoded.mode in ("L", "RGB"):
            decoded.save(expected)

    folder = os.path.join(REPOSITORY, "Examples", "images")
    for file in sorted(os.listdir(folder)):
        if file.endswith(".pgm"):
            save(Image.open(os.path.join(folder, file)), os.path.join("examples", file[:-4] + ".jpg"), quality=90)
    # 21x13: partial MCUs at the right and bottom edges for every subsampling.
    w, h = 21, 13
    rgb = Image.new("RGB", (w, h))
    rgb.putdata([(x * 12, y * 19, (x * y * 7 + 40) % 256) for y in range(h) for x in range(w)])
    save(rgb, "jpeg-rgb-420.jpg", quality=85, subsampling=2)
    save(rgb, "jpeg-rgb-422.jpg", quality=85, subsampling=1)
    save(rgb, "jpeg-rgb-444.jpg", quality=95, subsampling=0)
    save(rgb, "jpeg-rgb-progressive.jpg", quality=85, progressive=True)
    save(rgb.convert("L"), "jpeg-gray.jpg", quality=85)
    save(rgb.convert("L"), "jpeg-gray-progressive.jpg", quality=85, progressive=True)
    save(rgb.convert("CMYK"), "jpeg-cmyk.jpg", quality=85)


if __name__ == "__main__":
    make_pngs()
    make_examples()
    make_jpegs()
