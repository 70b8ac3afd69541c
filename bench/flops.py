"""Counting a Keras model's multiply-add work from its layers (for the benchmark's utilisation).

Forward FLOPs per layer call (2 per multiply-add) for the layers that carry the work: convolutions
(plain, transposed, depthwise, separable) and dense layers. Nested models (the parts) are counted
once per call in the outer graph, so the shared encoder counts twice per A+B pair. Training is taken
as three times the forward pass (forward, gradient wrt inputs, gradient wrt weights); one
example is one face, half of a call that trains an A and a B face.
"""

from __future__ import annotations

import math

import keras


def _shape(tensor) -> tuple:
    return tuple(int(d) for d in tensor.shape[1:])


def layer_flops(layer, inputs, outputs) -> int:
    name = type(layer).__name__
    out = _shape(outputs)
    if name in ("Conv2D",):
        kh, kw, cin, cout = layer.kernel.shape
        return 2 * out[0] * out[1] * kh * kw * cin * cout
    if name == "Conv2DTranspose":
        kh, kw, cout, cin = layer.kernel.shape
        inp = _shape(inputs)
        return 2 * inp[0] * inp[1] * kh * kw * cin * cout
    if name == "DepthwiseConv2D":
        kh, kw, cin, mult = layer.kernel.shape
        return 2 * out[0] * out[1] * kh * kw * cin * mult
    if name == "SeparableConv2D":
        kh, kw, cin, mult = layer.depthwise_kernel.shape
        cout = layer.pointwise_kernel.shape[-1]
        return 2 * out[0] * out[1] * (kh * kw * cin * mult + cin * mult * cout)
    if name == "Dense":
        fan_in, units = layer.kernel.shape
        positions = math.prod(out[:-1]) if len(out) > 1 else 1
        return 2 * positions * fan_in * units
    return 0


def forward_flops(model: keras.Model) -> int:
    """Forward FLOPs of one call of ``model`` (nested models expanded per call)."""
    total = 0
    for node in _nodes(model):
        layer = node.operation
        if isinstance(layer, keras.Model):
            total += forward_flops(layer) * _stacked_batches(node)
            continue
        inputs = node.input_tensors[0] if node.input_tensors else None
        outputs = node.output_tensors[0]
        if inputs is not None:
            total += layer_flops(layer, inputs, outputs)
    return total


def _stacked_batches(node) -> int:
    """How many batches a call carries: models that run both sides through the encoder at once
    feed it a Concatenate along the batch axis, which counts once per stacked input."""
    source = getattr(node.input_tensors[0], "_keras_history", None) if node.input_tensors else None
    operation = getattr(source, "operation", None)
    if isinstance(operation, keras.layers.Concatenate) and operation.axis == 0:
        return len(operation._inbound_nodes[0].input_tensors)
    return 1


def _nodes(model: keras.Model):
    """The call nodes inside a functional model, each layer call once."""
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if node.operation is not None and not isinstance(
                node.operation, keras.layers.InputLayer
            ):
                yield node


def training_flops_per_example(model: keras.Model) -> float:
    """Training FLOPs of one example (one face): a call of the model trains one A and one B face."""
    return 3 * forward_flops(model) / 2
