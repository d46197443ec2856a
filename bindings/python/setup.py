"""Bundles libcnnz into the package when it has been built (see README)."""
import os
import pathlib
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).resolve().parent


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        candidates = [os.environ.get("CNNZ_LIBRARY"), HERE.parent.parent / ".build" / "release" / "libcnnz.so"]
        for candidate in candidates:
            if candidate and pathlib.Path(candidate).exists():
                shutil.copy(candidate, pathlib.Path(self.build_lib) / "cnnz" / "libcnnz.so")
                break


setup(cmdclass={"build_py": BuildWithLibrary})
