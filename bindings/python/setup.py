"""Bundles libcnnz into the package when it has been built (see README).

Without a library to bundle the package still installs (cnnz then looks for
libcnnz at run time: CNNZ_LIBRARY, or the repository's .build folder), but
says so at install time, where the mistake is made, instead of leaving the
surprise for the first cnnz.Model(...).
"""
import os
import pathlib
import shutil

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).resolve().parent
RELEASE_LIBRARY = HERE.parent.parent / ".build" / "release" / "libcnnz.so"


def library_to_bundle():
    """The libcnnz.so that `pip install` copies into the package, if one was built."""
    candidates = [os.environ.get("CNNZ_LIBRARY"), RELEASE_LIBRARY]
    return next((pathlib.Path(c) for c in candidates if c and pathlib.Path(c).exists()), None)


def warn_no_library(command):
    """Says, where the user will see it, that the installed package will not find libcnnz by itself."""
    looked_at = ", ".join(filter(None, [os.environ.get("CNNZ_LIBRARY"), str(RELEASE_LIBRARY)]))
    message = (f"WARNING: cnnz: no libcnnz to bundle (looked at {looked_at}). The package installs, but "
               f"cnnz.Model() will fail unless CNNZ_LIBRARY names a libcnnz.so at run time. To bundle it, "
               f"run `swift build -c release --product cnnz` in the cnnz repository, then install again.")
    command.warn(message)
    # pip shows a build's output only with -v, but the user's terminal, when there is one, always.
    try:
        with open("/dev/tty", "w") as tty:
            tty.write(message + "\n")
    except OSError:
        pass


# build-wheel.sh puts the library (and what it needs) in the package before building.
BUNDLES_LIBRARY = library_to_bundle() is not None or (HERE / "cnnz" / "libcnnz.so").exists()


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        library = library_to_bundle()
        if library is not None:
            shutil.copy(library, pathlib.Path(self.build_lib) / "cnnz" / "libcnnz.so")
        elif not (HERE / "cnnz" / "libcnnz.so").exists():  # a copy placed in the package beforehand
            warn_no_library(self)


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
