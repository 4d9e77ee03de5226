"""Everything of the inference runtime that needs PyTorch: the deployed networks as modules, their
ONNX export, and the PyTorch backend.

The ONNX Runtime and TensorRT backends (pose3d_ros.inference.backends, .engines) run ONNX files
without it: pose3d_ros.inference.networks imports this module only to export a checkpoint that is
not in its cache yet, and backends.make_backend only for the `pytorch` backend. The networks'
inputs and outputs are listed in pose3d_ros.inference.networks.

ONNX export uses torch.onnx's `dynamo` exporter where this PyTorch has it (2.5 and later, with
onnxscript installed), else the TorchScript exporter (older PyTorch, such as some Jetson wheels).
"""
import importlib.metadata
import importlib.util
import inspect
import io
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from pose3d_ros.atomic import atomic_write
from pose3d_ros.heatmaps import HEATMAP_STRIDE
from pose3d_ros.inference.backends import single_or_tuple
from pose3d_ros.inference.networks import MAX_DYNAMIC_BATCH, OUTPUT_NAMES, OnnxModel, check_kind
from pose3d_ros.integrity import file_sha256
from pose3d_ros.models.blazepose import load_blazepose
from pose3d_ros.models.hourglass import LastStack, load_hourglass
from pose3d_ros.models.lifter import LifterInference, load_lifter
from pose3d_ros.models.prcnn import load_prcnn
from pose3d_ros.skeleton import DETECTED_JOINTS

# The opset each exporter writes (TorchScript: the highest that PyTorch 1.13 and later all know).
OPSETS = {'dynamo': 18, 'torchscript': 17}
EXPORT_VERSIONS = ('torch', 'onnx', 'onnxscript', 'onnxruntime')
_JOINTS = len(DETECTED_JOINTS)


def load_network(kind, checkpoint, device='cpu'):
    """A checkpoint -> (deployed module in eval mode, {input name: shape at batch 1})."""
    check_kind(kind)
    if kind == 'lifter':
        lifter, _ = load_lifter(checkpoint, device)
        return LifterInference(lifter).eval(), lifter_input_shapes(lifter)
    if kind.startswith('blazepose'):
        module = load_blazepose(kind, checkpoint).to(device)
        return module.eval(), image_input_shapes(module.input_size)
    model, saved = (load_hourglass if kind == 'hourglass' else load_prcnn)(checkpoint, device)
    shapes = image_input_shapes(saved['input_size'], model.joints if kind == 'prcnn' else None)
    return (LastStack(model) if kind == 'hourglass' else model).eval(), shapes


def image_input_shapes(input_size, heatmap_joints=None):
    """{input name: shape at batch 1} of the hourglass, or of PRCNN when heatmap_joints is given."""
    shapes = {'image': (1, 3, input_size, input_size)}
    if heatmap_joints:
        side = input_size // HEATMAP_STRIDE
        shapes['heatmaps'] = (1, heatmap_joints, side, side)
    return shapes


def lifter_input_shapes(lifter):
    shapes = {'joints_2d': (1, _JOINTS, 2)}
    if lifter.uses_ranking:
        shapes['ranking'] = (1, _JOINTS, _JOINTS)
    return shapes


def example_inputs(kind, shapes, batch=1, seed=0):
    """Seeded inputs of the right range for each input: images and heatmaps in [0, 1], joints
    around the optical axis, rankings in {0, 0.5, 1}."""
    generator = torch.Generator().manual_seed(seed)
    inputs = {}
    for name, shape in shapes.items():
        shape = (batch,) + tuple(shape[1:])
        if name == 'joints_2d':
            inputs[name] = 0.3 * torch.randn(shape, generator=generator)
        elif name == 'ranking':
            inputs[name] = torch.randint(0, 3, shape, generator=generator).float() / 2
        else:
            inputs[name] = torch.rand(shape, generator=generator)
    return inputs


def export_takes_dynamo():
    """Whether torch.onnx.export has the `dynamo` argument (PyTorch 2.5 and later)."""
    return 'dynamo' in inspect.signature(torch.onnx.export).parameters


def onnx_exporter():
    """`dynamo` where torch.onnx.export has it and onnxscript is installed, else `torchscript`."""
    return 'dynamo' if export_takes_dynamo() and importlib.util.find_spec('onnxscript') else 'torchscript'


def export_onnx(kind, module, shapes, path, batch=1, dynamic_batch=False, exporter=None):
    """Write a deployed module to ONNX at `path` atomically with `exporter` (default: onnx_exporter())
    -> max |ONNX Runtime - PyTorch| on seeded inputs (batch 3 for a dynamic batch axis)."""
    check_kind(kind)
    exporter = exporter or onnx_exporter()
    module.eval()
    # torch.export specializes size-1 dimensions, so a symbolic batch is traced at batch 2.
    inputs = example_inputs(kind, shapes, 2 if dynamic_batch else batch)
    names = dict(input_names=list(inputs), output_names=list(OUTPUT_NAMES[kind]), opset_version=OPSETS[exporter])
    with torch.no_grad():
        if exporter == 'dynamo':
            dynamic_shapes = None
            if dynamic_batch:
                batch_dim = torch.export.Dim('batch', min=1, max=MAX_DYNAMIC_BATCH)
                dynamic_shapes = tuple({0: batch_dim} for _ in inputs)
            program = torch.onnx.export(module, tuple(inputs.values()), None, dynamo=True,
                                        dynamic_shapes=dynamic_shapes, verbose=False, **names)
            with tempfile.TemporaryDirectory() as folder:
                staged = Path(folder) / 'model.onnx'
                program.save(str(staged))
                data = staged.read_bytes()
        else:
            buffer = io.BytesIO()
            legacy = {'dynamo': False} if export_takes_dynamo() else {}  # 2.5 and later default to dynamo
            dynamic_axes = None
            if dynamic_batch:
                dynamic_axes = {name: {0: 'batch'} for name in names['input_names'] + names['output_names']}
            torch.onnx.export(module, tuple(inputs.values()), buffer, dynamic_axes=dynamic_axes, **legacy, **names)
            data = buffer.getvalue()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda file: file.write(data))
    return onnx_max_abs_error(kind, module, shapes, path, 3 if dynamic_batch else batch)


def onnx_max_abs_error(kind, module, shapes, path, batch):
    """Largest |ONNX Runtime - PyTorch| over the outputs, on seeded inputs."""
    inputs = example_inputs(kind, shapes, batch, seed=1)
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    onnx_outputs = session.run(None, {name: tensor.numpy() for name, tensor in inputs.items()})
    with torch.no_grad():
        torch_outputs = module(*inputs.values())
    torch_outputs = torch_outputs if isinstance(torch_outputs, tuple) else (torch_outputs,)
    return max(float(np.abs(onnx - torch_output.numpy()).max())
               for onnx, torch_output in zip(onnx_outputs, torch_outputs))


def checkpoint_model_type(kind, checkpoint):
    """The `model.type` of a .pt checkpoint (dpnet, baseline, ...); the kind for a .tflite file."""
    if kind.startswith('blazepose'):
        return kind
    saved = torch.load(checkpoint, map_location='cpu', weights_only=True)
    return saved['model']['type']


def export_checkpoint(kind, checkpoint, path, batch=1, dynamic_batch=False):
    """Export the deployed network of a checkpoint to ONNX at `path` -> its OnnxModel record."""
    module, shapes = load_network(kind, checkpoint)
    exporter = onnx_exporter()
    error = export_onnx(kind, module, shapes, path, batch, dynamic_batch, exporter)
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    versions = {}
    for package in EXPORT_VERSIONS:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return OnnxModel(
        kind=kind, path=Path(path), sha256=file_sha256(path),
        inputs={i.name: list(i.shape) for i in session.get_inputs()},
        outputs={o.name: list(o.shape) for o in session.get_outputs()},
        source=Path(checkpoint).name, source_sha256=file_sha256(checkpoint),
        model_type=checkpoint_model_type(kind, checkpoint), exporter=exporter, opset=OPSETS[exporter],
        versions=versions, max_abs_error=error)



class TorchBackend:
    """A PyTorch module (eval mode) on a device, optionally in half precision.

    On CUDA it replays CUDA graphs (cuda_graphs, the default there): the first call with a new
    set of input shapes warms the module up on a side stream and captures one graph over static
    input buffers; later calls copy their inputs into those buffers and replay it, so a frame
    costs one graph launch instead of one kernel launch per layer.
    """

    def __init__(self, module, input_shapes, device='cpu', half=False, cuda_graphs=None, output_names=None,
                 label=None):
        self.device = torch.device(device)
        self.half = bool(half)
        self.dtype = torch.float16 if self.half else torch.float32
        self.module = module.eval().to(self.device, self.dtype)
        self.input_shapes = dict(input_shapes)
        self.input_names = tuple(self.input_shapes)
        self.output_names = tuple(output_names or ('output',))
        self.cuda_graphs = self.device.type == 'cuda' if cuda_graphs is None else bool(cuda_graphs)
        if self.cuda_graphs and self.device.type != 'cuda':
            raise ValueError(f'CUDA graphs need a CUDA device, not {self.device}')
        self._graphs = {}  # input shapes -> (graph, static inputs, static output)
        self.name = 'pytorch'
        self.precision = 'fp16' if self.half else 'fp32'
        self.label = label or type(module).__name__

    def _graph(self, shapes):
        if shapes not in self._graphs:
            static = [torch.zeros(shape, device=self.device, dtype=self.dtype) for shape in shapes]
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):  # cuDNN autotuning and allocations stay out of the graph
                for _ in range(3):
                    self.module(*static)
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                output = self.module(*static)
            self._graphs[shapes] = (graph, static, output)
        return self._graphs[shapes]

    @torch.no_grad()
    def __call__(self, **inputs):
        if set(inputs) != set(self.input_names):
            raise ValueError(f'expects inputs {list(self.input_names)}, got {sorted(inputs)}')
        tensors = [torch.as_tensor(inputs[name]) for name in self.input_names]
        if not self.cuda_graphs:
            outputs = self.module(*(t.to(self.device, self.dtype) for t in tensors))
        else:
            graph, static, outputs = self._graph(tuple(tuple(t.shape) for t in tensors))
            for buffer, tensor in zip(static, tensors):
                buffer.copy_(tensor)
            graph.replay()
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return single_or_tuple([output.float().cpu().numpy() for output in outputs])
