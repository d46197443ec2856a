"""`python -m cnnz.export MODEL.keras -o MODEL.json [--cnnz] [--labels labels.txt]`.

Writes the model.json of a Keras model for cnnz's `convert`; see
`cnnz.keras_export` and docs/model-json.md. Keras 3 is needed
(`pip install keras jax`, or `pip install "./bindings/python[keras]"`).
"""
import sys
import types

from .keras_export import ExportError, export, main

__all__ = ["export", "ExportError", "main"]


class _CallableModule(types.ModuleType):
    """`import cnnz.export` makes the attribute `cnnz.export` this module, hiding the
    function of that name; calling the module calls the function, so
    `cnnz.export(model, "model.json")` works either way."""

    def __call__(self, *args, **kwargs):
        return export(*args, **kwargs)


if __name__ == "__main__":
    sys.exit(main())
else:
    sys.modules[__name__].__class__ = _CallableModule
