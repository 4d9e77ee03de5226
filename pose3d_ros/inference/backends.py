"""Backends that run one network behind the same call: backend(image=..., heatmaps=...) -> array,
or a tuple of arrays (in `output_names` order) for a network with several outputs.

Inputs and outputs are numpy float32 arrays with a batch axis; names are those of
pose3d_ros.inference.networks (`image`, `heatmaps`; `joints_2d`, `ranking`). ONNX Runtime runs
ONNX exports (CPU here; CUDA or TensorRT execution providers where installed); PyTorch runs the
checkpoints and is the reference (pose3d_ros.inference.pytorch); TensorRT
(pose3d_ros.inference.engines) runs engines built from the ONNX exports. `make_backend` builds any
of them from a checkpoint, or the ONNX Runtime and TensorRT ones from a bundle's OnnxModel. Every
backend has `input_shapes` ({name: shape at the batch it runs}) and a `label` naming its model.

This module imports no PyTorch: only the `pytorch` backend, and exporting a checkpoint missing
from the ONNX cache, load it.
"""
from pathlib import Path

import numpy as np

from pose3d_ros.inference.networks import OUTPUT_NAMES, OnnxModel, cached_onnx, check_kind, check_role, model_label
from pose3d_ros.paths import DEFAULT_CACHE_DIR

BACKENDS = ('onnxruntime', 'pytorch', 'tensorrt')
PRECISIONS = {'onnxruntime': ('fp32',), 'pytorch': ('fp32', 'fp16'), 'tensorrt': ('fp32', 'fp16', 'int8')}


class OnnxRuntimeBackend:
    """One ONNX file in an ONNX Runtime session."""

    def __init__(self, path, providers=None, threads=None, label=None):
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
        self.input_shapes = {i.name: tuple(i.shape) for i in self.session.get_inputs()}
        self.input_names = tuple(self.input_shapes)
        self.output_names = tuple(o.name for o in self.session.get_outputs())
        self.name = 'onnxruntime'
        self.device = self.session.get_providers()[0]
        self.precision = 'fp32'
        self.label = label or self.path.name

    def __call__(self, **inputs):
        if set(inputs) != set(self.input_names):
            raise ValueError(f'{self.path}: expects inputs {list(self.input_names)}, got {sorted(inputs)}')
        feeds = {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in inputs.items()}
        return single_or_tuple(self.session.run(None, feeds))


def single_or_tuple(outputs):
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


def set_process_threads(backend, threads, device='cpu'):
    """Give PyTorch `threads` CPU threads for this whole process when `backend` is pytorch on the
    CPU (ONNX Runtime's are per session, make_backend's `threads`). PyTorch's default of one thread
    per core makes its threads wait on each other when other processes share the cores (2 busy
    cores: 0.5-6 s instead of 0.1-0.2 s per BlazePose frame)."""
    if threads and backend == 'pytorch' and str(device).split(':')[0] == 'cpu':
        import torch

        torch.set_num_threads(int(threads))


def make_backend(kind, model, backend='onnxruntime', precision='fp32', device='cpu', threads=None,
                 cache_dir=DEFAULT_CACHE_DIR, calibration=None):
    """A backend running the `kind` network of `model`: a .pt checkpoint (or BlazePose's .tflite
    file), or an OnnxModel (a bundle's: pose3d_ros.inference.bundle).

    ONNX Runtime and TensorRT run a checkpoint's ONNX export, made once into cache_dir/onnx;
    TensorRT keeps its engines in cache_dir/engines (calibration: CalibrationBatches, INT8 only;
    the precision each network runs at is engines.engine_precision's). threads: ONNX Runtime's
    intra-op threads (None: its default); PyTorch's are process-wide, set by set_process_threads.
    """
    check_kind(kind)
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
    if precision not in PRECISIONS[backend]:
        raise ValueError(f'the {backend} backend runs {PRECISIONS[backend]}, not {precision!r}')
    cache_dir = Path(cache_dir).expanduser()
    if backend == 'pytorch':
        if isinstance(model, OnnxModel):
            raise ValueError(f'{model.path}: the pytorch backend runs checkpoints, not ONNX files: run a '
                             f'bundle with the onnxruntime or tensorrt backend')
        from pose3d_ros.inference.pytorch import TorchBackend, checkpoint_model_type, load_network

        module, shapes = load_network(kind, model, device)
        return TorchBackend(module, shapes, device, half=precision == 'fp16', output_names=OUTPUT_NAMES[kind],
                            label=model_label(checkpoint_model_type(kind, model), Path(model).name))
    if not isinstance(model, OnnxModel):
        model = cached_onnx(kind, model, cache_dir / 'onnx')
    elif model.kind != kind:
        raise ValueError(f'{model.path}: a {model.kind} network, not a {kind}')
    if backend == 'onnxruntime':
        network = OnnxRuntimeBackend(model.path, threads=threads, label=model.label)
    else:
        from pose3d_ros.inference.engines import TensorRTBackend, engine_precision

        network = TensorRTBackend(model.path, engine_precision(kind, precision), model.inputs, cache_dir / 'engines',
                                  calibration, label=model.label)
    check_role(kind, network.input_names, network.output_names, model.path)
    return network
