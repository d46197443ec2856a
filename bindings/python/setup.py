"""Bundles libcnnz into the package when it has been built (see README).

Without a library to bundle the package still installs (cnnz then looks for
libcnnz at run time: CNNZ_LIBRARY, or the repository's .build folder), but
says so at install time, where the mistake is made, instead of leaving the
surprise for the first cnnz.Model(...).
"""
import os
import pathlib
import shutil

from setuptools import setup
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


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        library = library_to_bundle()
        if library is not None:
            shutil.copy(library, pathlib.Path(self.build_lib) / "cnnz" / "libcnnz.so")
        elif not (HERE / "cnnz" / "libcnnz.so").exists():  # a copy placed in the package beforehand
            warn_no_library(self)


setup(cmdclass={"build_py": BuildWithLibrary})
