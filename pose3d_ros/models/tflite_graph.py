"""TensorFlow Lite graphs run as PyTorch modules, read with the `tflite` flatbuffer package.

Google publishes the BlazePose networks (person detector; lite, full and heavy landmark models)
only as .tflite files, and TensorFlow is allowed neither in the setup nor on the robot. This
module rebuilds such a graph from its operators with torch ops, so the networks run through the
project's PyTorch, ONNX Runtime and TensorRT backends like the project's own ones (the ONNX file
is exported from the module).

Activations are kept NCHW throughout (weights and the axes of CONCATENATION, PAD and RESHAPE are
converted instead), so an ONNX export has no layout transposes between its convolutions. Only
the operators BlazePose uses are implemented; any other one is refused with its name and index.
Constant operators (DEQUANTIZE of float16 weights, DENSIFY of sparse weights) run once, when the
graph is loaded.
"""
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tflite
import torch
from torch import nn
from torch.nn import functional

NUMPY_TYPES = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
               tflite.TensorType.FLOAT64: np.float64, tflite.TensorType.INT8: np.int8,
               tflite.TensorType.UINT8: np.uint8, tflite.TensorType.INT16: np.int16,
               tflite.TensorType.INT32: np.int32, tflite.TensorType.INT64: np.int64,
               tflite.TensorType.BOOL: np.bool_}
SPARSE_INDEX_VECTORS = {tflite.SparseIndexVector.Int32Vector: tflite.Int32Vector,
                        tflite.SparseIndexVector.Uint16Vector: tflite.Uint16Vector,
                        tflite.SparseIndexVector.Uint8Vector: tflite.Uint8Vector}
NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)


def _identity(x):
    return x


def _relu_minus_one_to_one(x):
    return x.clamp(-1.0, 1.0)


# TFLite's float kernels apply a fused activation as a clamp and skip the others (TANH,
# SIGN_BIT) silently; those are refused here rather than guessed.
FUSED_ACTIVATIONS = {tflite.ActivationFunctionType.NONE: _identity,
                     tflite.ActivationFunctionType.RELU: torch.relu,
                     tflite.ActivationFunctionType.RELU_N1_TO_1: _relu_minus_one_to_one,
                     tflite.ActivationFunctionType.RELU6: functional.relu6}
ACTIVATION_NAMES = {code: name for name, code in vars(tflite.ActivationFunctionType).items()
                    if not name.startswith('_')}


@dataclass(frozen=True)
class SparseDimension:
    """One dimension of a sparse tensor's traversal (TFLite's DimensionMetadata): DENSE when
    `segments` is None (`dense_size` entries), else SPARSE_CSR (`segments`, `indices`)."""
    dense_size: int = 0
    segments: np.ndarray = None
    indices: np.ndarray = None


def densify(values, dense_shape, traversal_order, block_map, dimensions):
    """TFLite's sparse-to-dense conversion (DENSIFY; the FormatConverter of tensorflow/lite).

    The stored `values` are the leaves of the traversal tree, in order: the dimensions are
    walked in `traversal_order` (the original dimensions, then one per block dimension; block k
    splits original dimension block_map[k] into blocks of dimensions[rank + k].dense_size).
    A DENSE level visits every index; a SPARSE_CSR level visits indices[segments[p]:segments[p+1]]
    below parent position p.
    """
    rank = len(dense_shape)
    positions = np.zeros(1, np.int64)  # each visited node's position within its level
    coordinates = np.zeros((1, 0), np.int64)  # its index along each traversal dimension so far
    for dimension in dimensions:
        if dimension.segments is None:
            size = int(dimension.dense_size)
            children = np.tile(np.arange(size), len(positions))
            positions = (positions[:, None] * size + np.arange(size)).ravel()
            coordinates = np.repeat(coordinates, size, axis=0)
        else:
            starts = np.asarray(dimension.segments, np.int64)[positions]
            counts = np.asarray(dimension.segments, np.int64)[positions + 1] - starts
            first_of_parent = np.repeat(np.cumsum(counts) - counts, counts)
            positions = np.arange(counts.sum()) - first_of_parent + np.repeat(starts, counts)
            children = np.asarray(dimension.indices, np.int64)[positions]
            coordinates = np.repeat(coordinates, counts, axis=0)
        coordinates = np.concatenate([coordinates, children[:, None]], axis=1)
    values = np.asarray(values).ravel()
    if len(values) != len(coordinates):
        raise ValueError(f'{len(values)} stored values for {len(coordinates)} positions of the sparse traversal')
    dense_index = np.zeros((len(coordinates), rank), np.int64)
    for level in range(rank):
        dense_index[:, traversal_order[level]] = coordinates[:, level]
    for level in range(rank, len(dimensions)):
        block = traversal_order[level] - rank
        block_size = dimensions[rank + block].dense_size
        dense_index[:, block_map[block]] = dense_index[:, block_map[block]] * block_size + coordinates[:, level]
    dense = np.zeros(dense_shape, values.dtype)
    dense[tuple(dense_index.T)] = values
    return dense


def same_padding(size, kernel, stride, dilation):
    """TF's SAME padding of one spatial axis -> (before, after); the odd pixel goes after."""
    total = max((-(-size // stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def nhwc_to_nchw(array):
    """A constant in NHWC broadcasting (rank <= 4) -> the same constant for NCHW activations."""
    return np.expand_dims(array, tuple(range(4 - array.ndim))).transpose(NHWC_TO_NCHW)


class Conv2d(nn.Module):
    """CONV_2D and DEPTHWISE_CONV_2D (groups), SAME padding made explicit where asymmetric."""

    def __init__(self, weight, bias, stride, dilation, padding, groups, activation):
        super().__init__()
        self.register_buffer('weight', torch.from_numpy(weight))
        self.register_buffer('bias', None if bias is None else torch.from_numpy(bias))
        self.stride, self.dilation, self.groups, self.activation = stride, dilation, groups, activation
        (top, bottom), (left, right) = padding
        symmetric = top == bottom and left == right
        self.conv_padding = (top, left) if symmetric else (0, 0)
        self.explicit_padding = None if symmetric else (left, right, top, bottom)

    def forward(self, x):
        if self.explicit_padding:
            x = functional.pad(x, self.explicit_padding)
        return self.activation(functional.conv2d(x, self.weight, self.bias, self.stride, self.conv_padding,
                                                 self.dilation, self.groups))


class MaxPool2d(nn.Module):
    def __init__(self, kernel, stride, padding, activation):
        super().__init__()
        self.kernel, self.stride, self.activation = kernel, stride, activation
        (top, bottom), (left, right) = padding
        self.padding = (left, right, top, bottom) if top or bottom or left or right else None

    def forward(self, x):
        if self.padding:  # TFLite's SAME pooling ignores the padded pixels
            x = functional.pad(x, self.padding, value=float('-inf'))
        return self.activation(functional.max_pool2d(x, self.kernel, self.stride))


class Add(nn.Module):
    """ADD of two activations, or of an activation and a constant (already in NCHW broadcasting)."""

    def __init__(self, constant, activation):
        super().__init__()
        self.register_buffer('constant', None if constant is None else torch.from_numpy(constant))
        self.activation = activation

    def forward(self, x, y=None):
        return self.activation(x + (self.constant if y is None else y))


class Logistic(nn.Module):
    def forward(self, x):
        return torch.sigmoid(x)


class Concatenate(nn.Module):
    def __init__(self, axis, activation):
        super().__init__()
        self.axis, self.activation = axis, activation

    def forward(self, *xs):
        return self.activation(torch.cat(xs, self.axis))


class Pad(nn.Module):
    def __init__(self, padding):
        super().__init__()
        self.padding = padding  # functional.pad order: last axis first

    def forward(self, x):
        return functional.pad(x, self.padding)


class Reshape(nn.Module):
    """RESHAPE in TFLite's element order: 4-D activations are flattened as NHWC and rebuilt NCHW.

    The leading axis is the batch axis and stays free; the permutes are left out where they
    would not move any element (one channel, or 1 x 1 pixels)."""

    def __init__(self, input_shape, output_shape):
        super().__init__()
        self.input_to_nhwc = len(input_shape) == 4 and input_shape[3] > 1 and input_shape[1] * input_shape[2] > 1
        self.output_from_nhwc = (len(output_shape) == 4 and output_shape[3] > 1
                                 and output_shape[1] * output_shape[2] > 1)
        if len(output_shape) == 4 and not self.output_from_nhwc:
            output_shape = [output_shape[i] for i in NHWC_TO_NCHW]
        self.shape = (-1, *output_shape[1:])

    def forward(self, x):
        if self.input_to_nhwc:
            x = x.permute(NCHW_TO_NHWC)
        x = x.reshape(self.shape)
        return x.permute(NHWC_TO_NCHW) if self.output_from_nhwc else x


class DepthToSpace(nn.Module):
    """DEPTH_TO_SPACE in TF's DCR order: input channel (i * block + j) * C + c -> pixel (i, j) of c
    (torch's pixel_shuffle reads c * block * block + i * block + j instead)."""

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, x):
        _, channels, height, width = x.shape
        depth = channels // (self.block * self.block)
        x = x.reshape(-1, self.block, self.block, depth, height, width)
        return x.permute(0, 3, 4, 1, 5, 2).reshape(-1, depth, height * self.block, width * self.block)


class ResizeBilinear(nn.Module):
    """RESIZE_BILINEAR: half_pixel_centers and align_corners are torch's align_corners=False and
    True; TF's legacy mode (neither: source = destination * input / output) interpolates from
    precomputed rows and columns."""

    def __init__(self, input_size, output_size, align_corners, half_pixel_centers):
        super().__init__()
        self.output_size = tuple(output_size)
        self.align_corners = bool(align_corners)
        self.legacy = not align_corners and not half_pixel_centers
        if self.legacy:
            for axis, (source_size, size) in enumerate(zip(input_size, output_size)):
                source = np.arange(size, dtype=np.float32) * np.float32(source_size / size)  # float32 as TFLite
                low = np.floor(source).astype(np.int64)
                self.register_buffer(f'low_{axis}', torch.from_numpy(low))
                self.register_buffer(f'high_{axis}', torch.from_numpy(np.minimum(low + 1, source_size - 1)))
                self.register_buffer(f'fraction_{axis}', torch.from_numpy((source - low).astype(np.float32)))

    def forward(self, x):
        if not self.legacy:
            return functional.interpolate(x, self.output_size, mode='bilinear', align_corners=self.align_corners)
        fraction = self.fraction_0.view(-1, 1)
        x = x[:, :, self.low_0] * (1 - fraction) + x[:, :, self.high_0] * fraction
        return x[:, :, :, self.low_1] * (1 - self.fraction_1) + x[:, :, :, self.high_1] * self.fraction_1


@dataclass
class Step:
    """What one operator module reads (activation tensors, in order) and the tensor it writes."""
    inputs: tuple
    output: int


class TFLiteGraph(nn.Module):
    """A single-input TFLite subgraph as a module: forward(image) -> tuple of the selected outputs.

    The input is float32, NCHW when 4-D, with the values TFLite would get (no normalization); 4-D
    outputs come back NCHW, the others shaped as in TFLite with a free batch axis. One named
    argument (not *inputs) keeps torch.export's dynamic_shapes the project's ({0: batch},)."""

    def __init__(self, path, operators, steps, input_tensor, input_name, input_shape, output_tensors, output_names):
        super().__init__()
        self.path = Path(path)
        self.operators = nn.ModuleList(operators)
        self.steps = steps
        self.input_tensor, self.input_name, self.input_shape = input_tensor, input_name, tuple(input_shape)
        self.output_tensors, self.output_names = tuple(output_tensors), tuple(output_names)

    def forward(self, image):
        values = {self.input_tensor: image}
        for operator, step in zip(self.operators, self.steps):
            values[step.output] = operator(*(values[tensor] for tensor in step.inputs))
        return tuple(values[tensor] for tensor in self.output_tensors)


class _Reader:
    """The flatbuffer's tensors and operators, with the build of each supported operator."""

    def __init__(self, path, data):
        self.path = path
        self.data = data
        if len(data) < 8 or not tflite.Model.ModelBufferHasIdentifier(data, 0):
            raise ValueError(f'{path}: not a TFLite flatbuffer (no "TFL3" file identifier)')
        self.model = tflite.Model.GetRootAs(data, 0)
        if self.model.SubgraphsLength() != 1:
            raise ValueError(f'{path}: has {self.model.SubgraphsLength()} subgraphs; only single-subgraph '
                             'models are supported')
        self.graph = self.model.Subgraphs(0)
        self.constants = {}  # tensor index -> numpy array (dense, as TFLite stores it: NHWC, OHWI)

    def name(self, tensor):
        return self.graph.Tensors(tensor).Name().decode()

    def shape(self, tensor):
        return [int(size) for size in self.graph.Tensors(tensor).ShapeAsNumpy()] \
            if self.graph.Tensors(tensor).ShapeLength() else []

    def operator_tensors(self, index):
        """Operator `index` -> (input tensor indices, -1 for an absent optional input; output tensor indices)."""
        operator = self.graph.Operators(index)
        return ([int(t) for t in operator.InputsAsNumpy()] if operator.InputsLength() else [],
                [int(t) for t in operator.OutputsAsNumpy()] if operator.OutputsLength() else [])

    def operator_name(self, index):
        code = self.model.OperatorCodes(self.graph.Operators(index).OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == tflite.BuiltinOperator.CUSTOM:
            return f'CUSTOM:{code.CustomCode().decode()}'
        return tflite.utils.BUILTIN_OPCODE2NAME.get(builtin, f'builtin code {builtin}')

    def is_constant(self, tensor):
        return tensor in self.constants or self._stored_bytes(tensor) is not None

    def _stored_bytes(self, tensor):
        buffer = self.model.Buffers(self.graph.Tensors(tensor).Buffer())
        if buffer.Offset() > 1:  # large models keep their buffers after the flatbuffer
            return self.data[buffer.Offset():buffer.Offset() + buffer.Size()]
        return buffer.DataAsNumpy().tobytes() if buffer.DataLength() else None

    def constant(self, tensor, index):
        """The value of a constant tensor (densified when stored sparse) that operator `index` reads."""
        if tensor not in self.constants:
            stored = self._stored_bytes(tensor)
            if stored is None:
                raise ValueError(f'{self.path}: operator {index} ({self.operator_name(index)}) reads the activation '
                                 f'{tensor} ({self.name(tensor)!r}) where only a constant is supported')
            details = self.graph.Tensors(tensor)
            if details.Type() not in NUMPY_TYPES:
                raise ValueError(f'{self.path}: constant tensor {tensor} ({self.name(tensor)!r}) has the '
                                 f'unsupported type code {details.Type()}')
            values = np.frombuffer(stored, NUMPY_TYPES[details.Type()])
            if details.Sparsity() is None:
                self.constants[tensor] = values.reshape(self.shape(tensor))
            else:
                try:
                    self.constants[tensor] = densify(values, self.shape(tensor), *self._sparsity(details.Sparsity()))
                except (ValueError, IndexError) as error:
                    raise ValueError(f'{self.path}: sparse tensor {tensor} ({self.name(tensor)!r}): {error}') from None
        return self.constants[tensor]

    @staticmethod
    def _sparsity(parameters):
        def index_vector(kind, table):
            vector = SPARSE_INDEX_VECTORS[kind]()
            vector.Init(table.Bytes, table.Pos)
            return vector.ValuesAsNumpy()

        dimensions = []
        for level in range(parameters.DimMetadataLength()):
            metadata = parameters.DimMetadata(level)
            if metadata.Format() == tflite.DimensionType.DENSE:
                dimensions.append(SparseDimension(dense_size=metadata.DenseSize()))
            else:
                dimensions.append(SparseDimension(
                    segments=index_vector(metadata.ArraySegmentsType(), metadata.ArraySegments()),
                    indices=index_vector(metadata.ArrayIndicesType(), metadata.ArrayIndices())))
        block_map = parameters.BlockMapAsNumpy() if parameters.BlockMapLength() else []
        return list(parameters.TraversalOrderAsNumpy()), list(block_map), dimensions

    def options(self, index, options_class):
        table = self.graph.Operators(index).BuiltinOptions()
        if table is None:
            raise ValueError(f'{self.path}: operator {index} ({self.operator_name(index)}) has no options')
        options = options_class()
        options.Init(table.Bytes, table.Pos)
        return options

    def activation(self, index, options):
        code = options.FusedActivationFunction()
        if code not in FUSED_ACTIVATIONS:
            raise ValueError(f'{self.path}: operator {index} ({self.operator_name(index)}) has the unsupported '
                             f'fused activation {ACTIVATION_NAMES.get(code, code)}; supported: '
                             f'{", ".join(ACTIVATION_NAMES[code] for code in FUSED_ACTIVATIONS)}')
        return FUSED_ACTIVATIONS[code]

    def padding(self, index, options, kernel):
        """SAME or VALID -> ((top, bottom), (left, right)) for the operator's input."""
        _, height, width, _ = self.shape(self.graph.Operators(index).Inputs(0))
        if options.Padding() == tflite.Padding.VALID:
            return (0, 0), (0, 0)
        dilation = (options.DilationHFactor(), options.DilationWFactor()) \
            if hasattr(options, 'DilationHFactor') else (1, 1)
        return (same_padding(height, kernel[0], options.StrideH(), dilation[0]),
                same_padding(width, kernel[1], options.StrideW(), dilation[1]))

    def build(self, index):
        """Operator `index` -> (module, the activation tensors it reads), or None for a constant
        operator (its output is computed now and kept as a constant)."""
        name = self.operator_name(index)
        inputs, (output, *_) = self.operator_tensors(index)
        if name in ('DEQUANTIZE', 'DENSIFY'):
            value = self.constant(inputs[0], index)
            if name == 'DEQUANTIZE' and value.dtype != np.float16:
                raise ValueError(f'{self.path}: operator {index} (DEQUANTIZE) of a {value.dtype} tensor: only '
                                 'float16 weights are supported')
            self.constants[output] = value.astype(np.float32) if name == 'DEQUANTIZE' else value
            return None
        builder = getattr(self, f'_build_{name.lower()}', None)
        if builder is None:
            raise ValueError(f'{self.path}: operator {index} ({name}) is not supported; supported: '
                             f'{", ".join(sorted(SUPPORTED_OPERATORS))}')
        module, activations = builder(index, inputs, output)
        for tensor in activations:
            if self.is_constant(tensor):
                raise ValueError(f'{self.path}: operator {index} ({name}) reads the constant tensor {tensor} '
                                 f'({self.name(tensor)!r}) where only activations are supported')
        return module, activations

    def _bias(self, index, inputs):
        return self.constant(inputs[2], index).astype(np.float32) if len(inputs) > 2 and inputs[2] >= 0 else None

    def _build_conv_2d(self, index, inputs, output):
        options = self.options(index, tflite.Conv2DOptions)
        weight = self.constant(inputs[1], index).astype(np.float32)  # (out, height, width, in / groups)
        groups = self.shape(inputs[0])[3] // weight.shape[3]
        module = Conv2d(np.ascontiguousarray(weight.transpose(0, 3, 1, 2)), self._bias(index, inputs),
                        (options.StrideH(), options.StrideW()),
                        (options.DilationHFactor(), options.DilationWFactor()),
                        self.padding(index, options, weight.shape[1:3]), groups, self.activation(index, options))
        return module, inputs[:1]

    def _build_depthwise_conv_2d(self, index, inputs, output):
        options = self.options(index, tflite.DepthwiseConv2DOptions)
        weight = self.constant(inputs[1], index).astype(np.float32)  # (1, height, width, in * multiplier)
        # output channel c * multiplier + m reads input channel c: torch's grouped convolution order
        module = Conv2d(np.ascontiguousarray(weight.transpose(3, 0, 1, 2)), self._bias(index, inputs),
                        (options.StrideH(), options.StrideW()),
                        (options.DilationHFactor(), options.DilationWFactor()),
                        self.padding(index, options, weight.shape[1:3]), self.shape(inputs[0])[3],
                        self.activation(index, options))
        return module, inputs[:1]

    def _build_max_pool_2d(self, index, inputs, output):
        options = self.options(index, tflite.Pool2DOptions)
        kernel = (options.FilterHeight(), options.FilterWidth())
        return MaxPool2d(kernel, (options.StrideH(), options.StrideW()), self.padding(index, options, kernel),
                         self.activation(index, options)), inputs

    def _build_add(self, index, inputs, output):
        activation = self.activation(index, self.options(index, tflite.AddOptions))
        constants = [tensor for tensor in inputs if self.is_constant(tensor)]
        if not constants:
            ranks = {len(self.shape(tensor)) for tensor in inputs}
            if len(ranks) > 1 and 4 in ranks:  # NHWC broadcasting would need the other operand transposed
                raise ValueError(f'{self.path}: operator {index} (ADD) broadcasts activations of ranks '
                                 f'{sorted(ranks)}; only equal ranks are supported')
            return Add(None, activation), inputs
        if len(constants) == 2:
            raise ValueError(f'{self.path}: operator {index} (ADD) adds two constants')
        constant = self.constant(constants[0], index).astype(np.float32)
        if len(self.shape(output)) == 4:
            constant = np.ascontiguousarray(nhwc_to_nchw(constant))
        return Add(constant, activation), [tensor for tensor in inputs if tensor not in constants]

    def _build_logistic(self, index, inputs, output):
        return Logistic(), inputs

    def _build_concatenation(self, index, inputs, output):
        options = self.options(index, tflite.ConcatenationOptions)
        rank = len(self.shape(output))
        axis = options.Axis() % rank
        return Concatenate(NHWC_TO_NCHW.index(axis) if rank == 4 else axis, self.activation(index, options)), inputs

    def _build_pad(self, index, inputs, output):
        paddings = self.constant(inputs[1], index)  # (rank, 2): before and after, in TFLite's axis order
        if len(paddings) == 4:
            paddings = paddings[list(NHWC_TO_NCHW)]
        return Pad(tuple(int(size) for size in paddings[::-1].ravel())), inputs[:1]

    def _build_reshape(self, index, inputs, output):
        return Reshape(self.shape(inputs[0]), self.shape(output)), inputs[:1]

    def _build_depth_to_space(self, index, inputs, output):
        return DepthToSpace(self.options(index, tflite.DepthToSpaceOptions).BlockSize()), inputs

    def _build_resize_bilinear(self, index, inputs, output):
        options = self.options(index, tflite.ResizeBilinearOptions)
        size = [int(value) for value in self.constant(inputs[1], index)]
        return ResizeBilinear(self.shape(inputs[0])[1:3], size, options.AlignCorners(),
                              options.HalfPixelCenters()), inputs[:1]


SUPPORTED_OPERATORS = ('DEQUANTIZE', 'DENSIFY') + tuple(
    name[len('_build_'):].upper() for name in vars(_Reader) if name.startswith('_build_'))


def load_tflite_graph(path, outputs=None):
    """A .tflite file -> TFLiteGraph in eval mode.

    outputs: names or indices of the subgraph outputs to compute, in the order wanted (default:
    all); only the operators they need are built and run.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f'{path}: TFLite model not found')
    try:
        return _load(path, outputs)
    except (struct.error, IndexError) as error:  # offsets past the end of a truncated file
        raise ValueError(f'{path}: truncated or corrupt TFLite flatbuffer ({error})') from None


def _load(path, outputs):
    reader = _Reader(path, path.read_bytes())
    graph = reader.graph
    inputs = [int(tensor) for tensor in graph.InputsAsNumpy()] if graph.InputsLength() else []
    if len(inputs) != 1:
        raise ValueError(f'{path}: has {len(inputs)} inputs; only single-input graphs are supported')
    all_outputs = [int(tensor) for tensor in graph.OutputsAsNumpy()]
    output_tensors = [_select_output(path, reader, all_outputs, wanted)
                      for wanted in (range(len(all_outputs)) if outputs is None else outputs)]

    producers = {tensor: index for index in range(graph.OperatorsLength())
                 for tensor in reader.operator_tensors(index)[1]}
    needed, pending = set(), list(output_tensors)
    while pending:
        tensor = pending.pop()
        if tensor in producers and producers[tensor] not in needed:
            needed.add(producers[tensor])
            pending.extend(t for t in reader.operator_tensors(producers[tensor])[0] if t >= 0)

    operators, steps = [], []
    for index in sorted(needed):  # TFLite stores the operators in execution order
        built = reader.build(index)
        if built is not None:
            module, activations = built
            operators.append(module)
            steps.append(Step(tuple(activations), reader.operator_tensors(index)[1][0]))

    (input_tensor,) = inputs
    input_shape = reader.shape(input_tensor)
    if len(input_shape) == 4:
        input_shape = [input_shape[axis] for axis in NHWC_TO_NCHW]
    return TFLiteGraph(path, operators, steps, input_tensor, reader.name(input_tensor), input_shape,
                       output_tensors, [reader.name(tensor) for tensor in output_tensors]).eval()


def _select_output(path, reader, all_outputs, wanted):
    names = [reader.name(tensor) for tensor in all_outputs]
    if isinstance(wanted, (int, np.integer)):
        if not -len(all_outputs) <= wanted < len(all_outputs):
            raise ValueError(f'{path}: output index {wanted} out of range; the model has {len(all_outputs)} '
                             f'outputs {names}')
        return all_outputs[wanted]
    if wanted not in names:
        raise ValueError(f'{path}: unknown output {wanted!r}; the model outputs {names}')
    return all_outputs[names.index(wanted)]
