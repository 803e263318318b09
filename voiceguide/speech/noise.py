"""Seeded noise for a Piper (VITS) voice: the same line and seed give the same audio.

A VITS voice draws Gaussian noise at each synthesis (RandomNormalLike nodes,
scaled by noise_scale and noise_w): it gives the voice its natural variation
in timing and tone, but makes every synthesis of a line a little different.
onnxruntime seeds those nodes once per session, so no seed can be given per
line. Here each RandomNormalLike node is replaced by noise computed from a
`noise_seed` input: for element i, four uniforms from a hash of i and the
seed (an affine start, then three rounds of x -> x*x + k mod 2^31-1, all in
int64 without overflow) are summed (Irwin-Hall: mean 0 and variance 1 once
centred and scaled, within ±3.46). It is white (lag-1 correlation 0.002 over
800 000 draws) and the same on any machine: integer arithmetic, then exact
float32 sums, no transcendental function. The variation is kept; only its
seed is fixed.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from voiceguide.files import atomic_write

SEED_INPUT = "noise_seed"
# Bump when a line's audio changes: part of the engine's identity, so old clips miss.
NOISE_VERSION = 2  # 2: Piper on one onnxruntime thread
_PRIME = 2_147_483_647  # 2^31 - 1: x * x stays within int64
_ROUNDS = (69_621, 40_692, 16_807)
_EDITING = threading.Lock()  # one edit at a time in a process (it takes 1 s and 200 MB)


def seed_of(identity: str, text: str) -> int:
    """Return the noise seed for a line: from the cache key's parts, so equal keys agree."""
    digest = hashlib.sha256(f"{identity}\0{text}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % _PRIME


def seeded_model(model: Path, digest: str, folder: Path | None) -> Path | bytes:
    """Return the voice with seeded noise: a file kept in folder, or the model's bytes.

    digest names the voice file (its content), so a changed voice is edited anew.
    Engines loading side by side (a session's synthesis threads) edit it once.
    """
    with _EDITING:
        if folder is not None:
            kept = folder / f"{model.stem}-{digest}-noise{NOISE_VERSION}.onnx"
            if kept.is_file():
                return kept
        data = _edit(model)
        if folder is not None:
            try:
                atomic_write(kept, data, make_parents=True)
            except OSError:
                return data  # an unwritable cache: edit again next time
            return kept
        return data


def _edit(model: Path) -> bytes:
    """Replace each RandomNormalLike node of the model by seeded noise of the same shape."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph_model = onnx.load(str(model))
    graph = graph_model.graph
    graph.input.append(helper.make_tensor_value_info(SEED_INPUT, TensorProto.INT64, [1]))

    def const(name: str, value: Any, dtype: Any = np.int64) -> str:
        graph.initializer.append(numpy_helper.from_array(np.array(value, dtype=dtype), name))
        return name

    prime, zero, one = const("noise_prime", _PRIME), const("noise_0", 0), const("noise_1", 1)
    nodes: list[Any] = []
    for node in graph.node:
        if node.op_type != "RandomNormalLike":
            nodes.append(node)
            continue
        p = "noise" + node.name.replace("/", "_")
        shape_of, out = node.input[0], node.output[0]
        salt = int(hashlib.sha256(node.name.encode()).hexdigest()[:7], 16)
        step, start = const(f"{p}_step", 48_271 + salt % 1000), const(f"{p}_start", salt % _PRIME)

        def op(kind: str, inputs: list[str], name: str, **attributes: Any) -> str:
            nodes.append(helper.make_node(kind, inputs, [name], **attributes))
            return name

        shape = op("Shape", [shape_of], f"{p}_shape")
        count = op("ReduceProd", [shape], f"{p}_count", keepdims=0)
        draws = op("Mul", [count, const(f"{p}_4", 4)], f"{p}_draws")
        index = op("Range", [zero, draws, one], f"{p}_index")
        x = op("Mul", [index, step], f"{p}_x0")
        x = op("Add", [x, SEED_INPUT], f"{p}_x0s")
        x = op("Add", [x, start], f"{p}_x0k")
        x = op("Mod", [x, prime], f"{p}_x1")
        for round_, constant in enumerate(_ROUNDS, start=2):
            squared = op("Mul", [x, x], f"{p}_sq{round_}")
            added = op("Add", [squared, const(f"{p}_k{round_}", constant)], f"{p}_ad{round_}")
            x = op("Mod", [added, prime], f"{p}_x{round_}")
        uniform = op("Cast", [x], f"{p}_xf", to=TensorProto.FLOAT)
        uniform = op("Div", [uniform, const(f"{p}_pf", float(_PRIME), np.float32)], f"{p}_u")
        grouped = op("Reshape", [uniform, const(f"{p}_by4", [-1, 4])], f"{p}_u4")
        total = op("ReduceSum", [grouped, const(f"{p}_axis", [1])], f"{p}_sum", keepdims=0)
        centred = op("Sub", [total, const(f"{p}_2", 2.0, np.float32)], f"{p}_c")
        normal = op("Mul", [centred, const(f"{p}_sd", np.sqrt(3.0), np.float32)], f"{p}_z")
        op("Reshape", [normal, shape], out)
    del graph.node[:]
    graph.node.extend(nodes)
    return bytes(graph_model.SerializeToString())


class SeededSession:
    """An onnxruntime session that feeds the seed of the line being synthesized."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.seed = 0

    def run(self, output_names: Any, feed: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        """Run the model with the current seed."""
        import numpy as np  # loaded by onnxruntime already

        feed = {**feed, SEED_INPUT: np.array([self.seed], dtype=np.int64)}
        return self.session.run(output_names, feed, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)
