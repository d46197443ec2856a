"""Model.layers and Model.profile: the layer list and per-layer times, as `infer --profile` prints."""
import ctypes
from collections import namedtuple

import numpy as np

#: One layer of a model, in execution order: its name (possibly empty), its Keras class name
#: ("Conv2D", "Dense", ...) and its multiply-adds per image.
Layer = namedtuple("Layer", ["name", "type", "macs"])

#: One layer's line of a profile: `milliseconds` is the median over the timed runs of one batch
#: (0 for a Flatten and for a residual Add computed in the convolution before it), `macs` per image.
LayerTime = namedtuple("LayerTime", ["index", "name", "type", "milliseconds", "macs"])


def read_layers(lib, model, check):
    """The model's layers through cnnz_model_layer_count and cnnz_model_layer."""
    layers = []
    name, kind, macs = ctypes.c_char_p(), ctypes.c_char_p(), ctypes.c_uint64()
    for i in range(lib.cnnz_model_layer_count(model)):
        check(lib, lib.cnnz_model_layer(model, i, ctypes.byref(name), ctypes.byref(kind), ctypes.byref(macs)))
        layers.append(Layer(name.value.decode(), kind.value.decode(), macs.value))
    return layers


class Profile(list):
    """A list of LayerTime, one per layer in execution order; str() renders it as a table."""

    def __init__(self, rows, batch, runs, threads):
        super().__init__(rows)
        self.batch, self.runs, self.threads = batch, runs, threads

    @property
    def milliseconds(self):
        """The layers' times added up: one batch's kernels back to back."""
        return sum(row.milliseconds for row in self)

    def __str__(self):
        total = self.milliseconds
        header = ("#", "Layer", "Time (ms)", "Share", "MACs", "GFLOP/s")
        lines = [header]
        for row in self:
            label = f'{row.type} "{row.name}"' if row.name else row.type
            rate = 2 * row.macs * self.batch / (row.milliseconds * 1e6) if row.milliseconds > 0 and row.macs else None
            lines.append((str(row.index), label, f"{row.milliseconds:.4f}" if row.milliseconds > 0 else "-",
                          f"{100 * row.milliseconds / total:.1f} %" if total > 0 else "-", f"{row.macs:,}",
                          f"{rate:.2f}" if rate else "-"))
        macs = sum(row.macs for row in self)
        lines.append(("", "Total", f"{total:.4f}", "100.0 %", f"{macs:,}",
                      f"{2 * macs * self.batch / (total * 1e6):.2f}" if total > 0 else "-"))
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        def render(cells):
            return "  ".join(cell.ljust(w) if i == 1 else cell.rjust(w)
                             for i, (cell, w) in enumerate(zip(cells, widths))).rstrip()
        rule = "-" * len(render(header))
        title = (f"profile: {self.runs} runs, batch {self.batch}, {self.threads} thread"
                 f"{'' if self.threads == 1 else 's'}; time: each layer's median; MACs per image")
        return "\n".join([title, rule, render(header), rule] + [render(line) for line in lines[1:-1]]
                         + [rule, render(lines[-1])])


def profile(model, session, x, runs, check):
    """Times each layer of `model` on `session` over `runs` passes of the batch `x`."""
    lib = model._lib
    milliseconds = np.zeros(len(model.layers), dtype=np.float64)
    check(lib, lib.cnnz_session_profile(session, x.ctypes.data, x.size, x.shape[0], runs,
                                        milliseconds.ctypes.data, milliseconds.size))
    rows = [LayerTime(i, layer.name, layer.type, float(milliseconds[i]), layer.macs)
            for i, layer in enumerate(model.layers)]
    return Profile(rows, x.shape[0], runs, lib.cnnz_session_thread_count(session))
