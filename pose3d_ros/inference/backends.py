"""Backends that run one network behind the same call: backend(image=..., heatmaps=...) -> array,
or a tuple of arrays (in `output_names` order) for a network with several outputs.

Inputs and outputs are numpy float32 arrays with a batch axis; names are those of
pose3d_ros.inference.networks (`image`, `heatmaps`; `joints_2d`, `ranking`). ONNX Runtime runs
ONNX exports (CPU here; CUDA or TensorRT execution providers where installed); PyTorch runs the
checkpoints and is the reference; TensorRT (pose3d_ros.inference.engines) runs engines built
from the ONNX exports. `make_backend` builds any of them from a checkpoint.
"""
from pathlib import Path

import numpy as np
import torch

from pose3d_ros.inference.networks import OUTPUT_NAMES, cached_onnx, load_network
from pose3d_ros.paths import DEFAULT_CACHE_DIR

BACKENDS = ('onnxruntime', 'pytorch', 'tensorrt')
PRECISIONS = {'onnxruntime': ('fp32',), 'pytorch': ('fp32', 'fp16'), 'tensorrt': ('fp32', 'fp16', 'int8')}


class OnnxRuntimeBackend:
    """One ONNX file in an ONNX Runtime session."""

    def __init__(self, path, providers=None, threads=None):
        import onnxruntime

        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f'{self.path}: ONNX model not found')
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        # The pipeline runs three sessions in turn: idle workers spinning for more work would
        # steal the cores from the next session.
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
        available = onnxruntime.get_available_providers()
        providers = [p for p in (providers or available) if p in available] or ['CPUExecutionProvider']
        try:
            self.session = onnxruntime.InferenceSession(str(self.path), options, providers=providers)
        except Exception as error:  # onnxruntime raises its own types for truncated or foreign files
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ValueError(f'{self.path}: not a loadable ONNX model ({message})') from None
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.output_names = tuple(o.name for o in self.session.get_outputs())
        self.name = 'onnxruntime'
        self.device = self.session.get_providers()[0]
        self.precision = 'fp32'

    def __call__(self, **inputs):
        if set(inputs) != set(self.input_names):
            raise ValueError(f'{self.path}: expects inputs {list(self.input_names)}, got {sorted(inputs)}')
        feeds = {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in inputs.items()}
        return single_or_tuple(self.session.run(None, feeds))


def single_or_tuple(outputs):
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


class TorchBackend:
    """A PyTorch module (eval mode) on a device, optionally in half precision.

    On CUDA it replays CUDA graphs (cuda_graphs, the default there): the first call with a new
    set of input shapes warms the module up on a side stream and captures one graph over static
    input buffers; later calls copy their inputs into those buffers and replay it, so a frame
    costs one graph launch instead of one kernel launch per layer.
    """

    def __init__(self, module, input_names, device='cpu', half=False, cuda_graphs=None, output_names=None):
        self.device = torch.device(device)
        self.half = bool(half)
        self.dtype = torch.float16 if self.half else torch.float32
        self.module = module.eval().to(self.device, self.dtype)
        self.input_names = tuple(input_names)
        self.output_names = tuple(output_names or ('output',))
        self.cuda_graphs = self.device.type == 'cuda' if cuda_graphs is None else bool(cuda_graphs)
        if self.cuda_graphs and self.device.type != 'cuda':
            raise ValueError(f'CUDA graphs need a CUDA device, not {self.device}')
        self._graphs = {}  # input shapes -> (graph, static inputs, static output)
        self.name = 'pytorch'
        self.precision = 'fp16' if self.half else 'fp32'

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


def set_process_threads(backend, threads, device='cpu'):
    """Give PyTorch `threads` CPU threads for this whole process when `backend` is pytorch on the
    CPU (ONNX Runtime's are per session, make_backend's `threads`). PyTorch's default of one thread
    per core makes its threads wait on each other when other processes share the cores (2 busy
    cores: 0.5-6 s instead of 0.1-0.2 s per BlazePose frame)."""
    if threads and backend == 'pytorch' and torch.device(device).type == 'cpu':
        torch.set_num_threads(int(threads))


def make_backend(kind, checkpoint, backend='onnxruntime', precision='fp32', device='cpu', threads=None,
                 cache_dir=DEFAULT_CACHE_DIR, calibration=None):
    """A backend running the `kind` network of a .pt checkpoint.

    ONNX Runtime and TensorRT run the checkpoint's ONNX export, made once into cache_dir/onnx;
    TensorRT keeps its engines in cache_dir/engines (calibration: CalibrationBatches, INT8 only).
    threads: ONNX Runtime's intra-op threads (None: its default); PyTorch's are process-wide,
    set by set_process_threads.
    """
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
    if precision not in PRECISIONS[backend]:
        raise ValueError(f'the {backend} backend runs {PRECISIONS[backend]}, not {precision!r}')
    cache_dir = Path(cache_dir).expanduser()
    if backend == 'pytorch':
        module, shapes = load_network(kind, checkpoint, device)
        return TorchBackend(module, shapes, device, half=precision == 'fp16', output_names=OUTPUT_NAMES[kind])
    onnx_path = cached_onnx(kind, checkpoint, cache_dir / 'onnx')
    if backend == 'onnxruntime':
        return OnnxRuntimeBackend(onnx_path, threads=threads)
    from pose3d_ros.inference.engines import TensorRTBackend

    _, shapes = load_network(kind, checkpoint)
    return TensorRTBackend(onnx_path, precision, shapes, cache_dir / 'engines', calibration)
