"""Classifies images (PNG, JPEG or Netpbm) with a .cnnz model through the Python binding.

    swift build -c release --product cnnz
    PYTHONPATH=bindings/python python3 Examples/python/classify.py Examples/fashion-mnist-small.cnnz Examples/images/bag.pgm

Prints, per image, "<file>: <label> (<probability>)".
"""
import sys

import cnnz


def main(argv):
    if len(argv) < 3:
        print(f"usage: {argv[0]} model.cnnz image [more images...]", file=sys.stderr)
        return 2
    try:
        model = cnnz.Model(argv[1])
        for path in argv[2:]:
            label, probability = model.classify(path, top=1)[0]
            print(f"{path}: {label} ({probability:.4f})")
    except cnnz.Error as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
