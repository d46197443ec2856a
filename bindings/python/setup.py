"""Bundles libcnnz into the package when it has been built (see README).

Without a library to bundle the package still installs (cnnz then looks for
libcnnz at run time: CNNZ_LIBRARY, or the repository's .build folder), but
says so at install time, where the mistake is made, instead of leaving the
surprise for the first cnnz.Model(...).
"""
import os
import pathlib
import shutil
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).resolve().parent
BUILD_COMMAND = "swift build -c release --product cnnz"


def find_library():
    """The libcnnz.so to bundle: CNNZ_LIBRARY if set, else the repository's release build; None if absent."""
    explicit = os.environ.get("CNNZ_LIBRARY")
    candidates = [explicit] if explicit else [HERE.parent.parent / ".build" / "release" / "libcnnz.so"]
    for candidate in candidates:
        if pathlib.Path(candidate).is_file():
            return pathlib.Path(candidate)
    return None


def missing_library_warning():
    where = os.environ.get("CNNZ_LIBRARY") or HERE.parent.parent / ".build" / "release" / "libcnnz.so"
    return (f"WARNING: cnnz: no libcnnz to bundle (looked at {where}). The package installs, but "
            f"cnnz.Model() will fail unless CNNZ_LIBRARY points at a libcnnz.so at run time. To bundle "
            f"it, run `{BUILD_COMMAND}` in the cnnz repository, then install again.")


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        library = find_library()
        if library is None:
            message = missing_library_warning()
            self.warn(message)
            # pip shows a build's output only with -v; the terminal, when there is one, always.
            try:
                with open("/dev/tty", "w") as tty:
                    tty.write(message + "\n")
            except OSError:
                pass
            return
        shutil.copy(library, pathlib.Path(self.build_lib) / "cnnz" / "libcnnz.so")


setup(cmdclass={"build_py": BuildWithLibrary})
