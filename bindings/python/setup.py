"""Bundles libcnnz into the package when it has been built (see README)."""
import os
import pathlib
import shutil

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).resolve().parent


def library_to_bundle():
    """The libcnnz.so that `pip install` copies into the package, if one was built."""
    candidates = [os.environ.get("CNNZ_LIBRARY"), HERE.parent.parent / ".build" / "release" / "libcnnz.so"]
    return next((pathlib.Path(c) for c in candidates if c and pathlib.Path(c).exists()), None)


# build-wheel.sh puts the library (and what it needs) in the package before building.
BUNDLES_LIBRARY = library_to_bundle() is not None or (HERE / "cnnz" / "libcnnz.so").exists()


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        library = library_to_bundle()
        if library is not None:
            shutil.copy(library, pathlib.Path(self.build_lib) / "cnnz" / "libcnnz.so")


class NativeDistribution(Distribution):
    """With libcnnz.so inside, the package is native code (installed to platlib, a platform wheel)."""

    def has_ext_modules(self):
        return BUNDLES_LIBRARY


commands = {"build_py": BuildWithLibrary}
try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools before 70.1
    try:
        from wheel.bdist_wheel import bdist_wheel
    except ImportError:
        bdist_wheel = None

if bdist_wheel is not None and BUNDLES_LIBRARY:

    class PlatformWheel(bdist_wheel):
        """A wheel carrying libcnnz.so is native code for one platform, but for any Python 3 (ctypes)."""

        def get_tag(self):
            return ("py3", "none", super().get_tag()[2])

    commands["bdist_wheel"] = PlatformWheel

setup(cmdclass=commands, distclass=NativeDistribution)
