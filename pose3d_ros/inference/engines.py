"""TensorRT engines built from the project's ONNX files, cached per device, run without PyTorch.

The production path on Jetson-class GPUs (TensorRT 10 Python API). An engine is only valid for
the ONNX file, TensorRT version, GPU, precision and input shapes it was built for; together they
are its EngineKey. The cache keeps one slot per (ONNX file, precision) in a folder:

    <cache_dir>/<onnx stem>.<precision>.engine   the serialized engine
    <cache_dir>/<onnx stem>.<precision>.json     the EngineKey it was built for, and its sha256

An engine is used when its key and sha256 match; when it is missing, was built for another key
(stale), changed since it was written (damaged) or does not deserialize, the reason is logged
*before* the build starts (a build can take minutes on a Jetson), and the new engine and key are
written atomically. INT8 engines are calibrated with
TensorRT's entropy calibrator over a folder of calibration images; its calibration cache is
written next to the engine (<stem>.int8.calibration) and reused while the ONNX file is unchanged.

Everything but build_engine, EntropyCalibrator and TensorRTBackend runs without TensorRT.
"""
import hashlib
import json
import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from pose3d_ros.atomic import atomic_write
from pose3d_ros.inference.backends import single_or_tuple
from pose3d_ros.inference.cuda_runtime import DeviceArray, Stream, device_identity, import_cudart
from pose3d_ros.integrity import file_sha256

PRECISIONS = ('fp32', 'fp16', 'int8')
# The networks pose3d_build_engines calibrates for INT8: the image networks on whole-frame crops,
# the lifter on the people its front end finds in the same images. BlazePose's networks have no
# calibration: they run in FP16 where INT8 is asked for.
INT8_KINDS = ('hourglass', 'prcnn', 'lifter')
WORKSPACE_BYTES = 1 << 30
LOG = logging.getLogger('pose3d_ros.engines')


def engine_precision(kind, precision):
    """The precision of the `kind` engine built and run when `precision` is asked for."""
    return 'fp16' if precision == 'int8' and kind not in INT8_KINDS else precision


@dataclass(frozen=True)
class EngineKey:
    """Everything a serialized engine depends on."""
    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    precision: str
    input_shapes: tuple  # ((input name, (dims...)), ...) in the network's input order

    def to_record(self):
        """The JSON-ready fields."""
        return {**asdict(self), 'input_shapes': [[n, list(s)] for n, s in self.input_shapes]}

    @classmethod
    def from_record(cls, record):
        record = dict(record)
        record['input_shapes'] = tuple((name, tuple(shape)) for name, shape in record['input_shapes'])
        return cls(**record)

    def differences(self, other):
        """'field: ours -> theirs' for every field that differs from `other`."""
        return [f'{field.name}: {getattr(self, field.name)} -> {getattr(other, field.name)}'
                for field in fields(self) if getattr(self, field.name) != getattr(other, field.name)]


def engine_key(onnx_path, precision, input_shapes, tensorrt_version, gpu_name, compute_capability):
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    shapes = tuple((str(name), tuple(int(d) for d in shape)) for name, shape in input_shapes)
    return EngineKey(file_sha256(onnx_path), str(tensorrt_version), str(gpu_name), str(compute_capability),
                     precision, shapes)


class EngineCache:
    """The engine files of one cache folder (see the module docstring)."""

    def __init__(self, cache_dir):
        self.cache_dir = Path(cache_dir).expanduser()

    def engine_path(self, onnx_path, precision):
        return self.cache_dir / f'{Path(onnx_path).stem}.{precision}.engine'

    def key_path(self, onnx_path, precision):
        return self.cache_dir / f'{Path(onnx_path).stem}.{precision}.json'

    def calibration_path(self, onnx_path):
        return self.cache_dir / f'{Path(onnx_path).stem}.int8.calibration'

    def lookup(self, onnx_path, key):
        """-> (serialized engine bytes, None) when the slot holds an intact engine for `key`, else
        (None, why it must be built)."""
        engine_path, key_path = self.engine_path(onnx_path, key.precision), self.key_path(onnx_path, key.precision)
        if not engine_path.is_file():
            return None, f'{engine_path} is missing'
        try:
            record = json.loads(key_path.read_text())
            recorded_sha256 = record.pop('engine_sha256')
            cached = EngineKey.from_record(record)
        except (OSError, ValueError, KeyError, TypeError) as error:
            return None, f'{key_path} is missing or unreadable ({type(error).__name__})'
        if cached != key:
            return None, f'{engine_path} is stale ({"; ".join(cached.differences(key))})'
        serialized = engine_path.read_bytes()
        actual = hashlib.sha256(serialized).hexdigest()
        if actual != recorded_sha256:
            return None, f'{engine_path} is damaged (sha256 {actual}, {recorded_sha256} recorded in {key_path})'
        return serialized, None

    def store(self, onnx_path, key, serialized):
        """Write the engine, then its key and sha256: a crash in between leaves a slot that reads
        as stale."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self.engine_path(onnx_path, key.precision), lambda file: file.write(serialized))
        record = {**key.to_record(), 'engine_sha256': hashlib.sha256(serialized).hexdigest()}
        atomic_write(self.key_path(onnx_path, key.precision),
                     lambda file: file.write(json.dumps(record, indent=2).encode()))


def load_or_build(cache, onnx_path, key, deserialize, build, log=LOG):
    """The engine for `key`: deserialized from the cache, else built (and cached) after saying why.

    deserialize(bytes) -> engine or None (TensorRT returns None for a corrupt or foreign file);
    build() -> serialized engine bytes.
    """
    serialized, reason = cache.lookup(onnx_path, key)
    if serialized is not None:
        engine = deserialize(serialized)
        if engine is not None:
            return engine
        reason = f'{cache.engine_path(onnx_path, key.precision)} failed to deserialize'
    log.warning('%s; building a %s TensorRT engine from %s for %s (compute %s), which can take '
                'minutes', reason, key.precision, onnx_path, key.gpu_name, key.compute_capability)
    serialized = build()
    cache.store(onnx_path, key, serialized)
    engine = deserialize(serialized)
    if engine is None:
        raise ValueError(f'{cache.engine_path(onnx_path, key.precision)}: a freshly built engine does not '
                         f'deserialize')
    return engine


class CalibrationBatches:
    """Fixed-size batches of network inputs for INT8 calibration.

    images: (H, W, 3) uint8 RGB arrays; preprocess(image) -> {input name: (1, ...) float32} (the
    pipeline's own preprocessing, so calibration sees what inference sees); extra_inputs(batch)
    -> more named inputs computed from the batch (PRCNN's heatmaps from the hourglass). Only whole
    batches are produced; a set smaller than one batch is an error.
    """

    def __init__(self, images, batch_size, preprocess, extra_inputs=None):
        self.images = list(images)
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f'calibration batch size must be positive, got {batch_size}')
        if len(self.images) < self.batch_size:
            raise ValueError(f'{len(self.images)} calibration images make no batch of {self.batch_size}')
        self.preprocess, self.extra_inputs = preprocess, extra_inputs

    def __len__(self):
        return len(self.images) // self.batch_size

    def __iter__(self):
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            inputs = [self.preprocess(image) for image in self.images[start:start + self.batch_size]]
            batch = {name: np.ascontiguousarray(np.concatenate([one[name] for one in inputs]), np.float32)
                     for name in inputs[0]}
            if self.extra_inputs is not None:
                batch.update(self.extra_inputs(batch))
            yield batch


def read_calibration_images(folder, limit=None):
    """RGB uint8 images (.jpg, .jpeg, .png, .bmp) of a folder, sorted by name."""
    from pose3d_ros.images import read_rgb  # OpenCV only where calibration images are read

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f'{folder}: calibration image folder not found')
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in ('.jpg', '.jpeg', '.png', '.bmp'))
    images = [read_rgb(path) for path in paths[:limit]]
    if not images:
        raise ValueError(f'{folder}: no calibration images (.jpg, .jpeg, .png, .bmp)')
    return images


def import_tensorrt():
    try:
        import tensorrt
    except ImportError as error:
        raise ValueError(f'the TensorRT backend needs the tensorrt Python package ({error}); it ships '
                         f'with JetPack and with NVIDIA\'s TensorRT wheels') from None
    return tensorrt


class _TensorRTLogger:
    """A trt.ILogger that forwards to Python logging (made lazily: trt may be missing)."""

    @staticmethod
    def create(trt):
        class Logger(trt.ILogger):
            def __init__(self):
                trt.ILogger.__init__(self)

            def log(self, severity, message):
                level = {trt.ILogger.Severity.INTERNAL_ERROR: logging.ERROR,
                         trt.ILogger.Severity.ERROR: logging.ERROR,
                         trt.ILogger.Severity.WARNING: logging.WARNING}.get(severity, logging.DEBUG)
                LOG.log(level, 'TensorRT: %s', message)
        return Logger()


def build_engine(trt, logger, onnx_path, precision, input_shapes, calibrator=None):
    """Serialize a TensorRT engine for the ONNX file -> bytes. input_shapes fix every dynamic axis."""
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = '; '.join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ValueError(f'{onnx_path}: TensorRT cannot parse this ONNX file ({errors})')
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    shapes = dict(input_shapes)
    profile = builder.create_optimization_profile()
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        if tensor.name not in shapes:
            raise ValueError(f'{onnx_path}: no input shape given for {tensor.name!r}')
        profile.set_shape(tensor.name, shapes[tensor.name], shapes[tensor.name], shapes[tensor.name])
    config.add_optimization_profile(profile)
    if precision in ('fp16', 'int8'):
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == 'int8':
        if calibrator is None:
            raise ValueError(f'{onnx_path}: an INT8 engine needs calibration images')
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = calibrator
        config.set_calibration_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ValueError(f'{onnx_path}: TensorRT failed to build a {precision} engine (see the log above)')
    return bytes(serialized)


def entropy_calibrator(trt, batches, cache_path):
    """A trt.IInt8EntropyCalibrator2 over CalibrationBatches, its calibration cache at cache_path.
    Without batches (a rebuild: a new TensorRT version or GPU) the cache of an earlier calibration
    must exist: TensorRT then reads it and asks for no batch."""
    cache_path = Path(cache_path)
    if batches is None and not cache_path.is_file():
        raise ValueError(f'an INT8 engine needs calibration data: no calibration images were given and there is '
                         f'no calibration cache {cache_path} from an earlier build; build the INT8 engines with '
                         f'pose3d_build_engines --precision int8 (the lifter: --lifter-precision int8) '
                         f'--calibration-images <folder of frames from the camera>')

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.batches = iter(batches if batches is not None else ())
            self.buffers = {}
            if batches is not None:  # a rebuild from the cache copies nothing to the GPU
                self.cudart = import_cudart()
                self.stream = Stream(self.cudart)

        def get_batch_size(self):
            return batches.batch_size if batches is not None else 1

        def get_batch(self, names):
            batch = next(self.batches, None)
            if batch is None:
                return None
            for name in names:
                if name not in self.buffers:
                    self.buffers[name] = DeviceArray(self.cudart, batch[name].shape, np.float32)
            uploaded = [self.buffers[name].upload(batch[name], self.stream) for name in names]  # kept to the sync
            self.stream.synchronize()
            del uploaded
            return [self.buffers[name].pointer for name in names]

        def read_calibration_cache(self):
            return cache_path.read_bytes() if cache_path.is_file() else None

        def write_calibration_cache(self, cache):
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(cache_path, lambda file: file.write(bytes(cache)))

    return EntropyCalibrator()


class TensorRTBackend:
    """One engine behind the backend call, its inputs and outputs in GPU buffers of their own
    (cuda_runtime: no PyTorch), run on a CUDA stream of its own."""

    name = 'tensorrt'

    def __init__(self, onnx_path, precision='fp16', input_shapes=None, cache_dir='~/.cache/pose3d_ros/engines',
                 calibration=None, label=None):
        """input_shapes: {input name: shape} for the ONNX inputs; calibration: CalibrationBatches
        (INT8 only; without them the calibration cache of an earlier build)."""
        trt = import_tensorrt()
        cudart = import_cudart()
        onnx_path = Path(onnx_path)
        if not onnx_path.is_file():
            raise ValueError(f'{onnx_path}: ONNX model not found')
        gpu, capability = device_identity(cudart)
        self.precision, self.device = precision, 'cuda'
        self.logger = _TensorRTLogger.create(trt)
        cache = EngineCache(cache_dir)
        key = engine_key(onnx_path, precision, tuple(input_shapes.items()), trt.__version__, gpu, capability)
        runtime = trt.Runtime(self.logger)

        def deserialize(serialized):
            return runtime.deserialize_cuda_engine(serialized)

        def build():
            calibrator = None
            if precision == 'int8':
                calibrator = entropy_calibrator(trt, calibration, cache.calibration_path(onnx_path))
            return build_engine(trt, self.logger, onnx_path, precision, key.input_shapes, calibrator)

        self.engine = load_or_build(cache, onnx_path, key, deserialize, build)
        self.context = self.engine.create_execution_context()
        self.stream = Stream(cudart)
        self.inputs, self.outputs = {}, {}
        for index in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(index)
            if self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                self.context.set_input_shape(name, tuple(input_shapes[name]))
                self.inputs[name] = None
            else:
                self.outputs[name] = None
        for buffers in (self.inputs, self.outputs):  # outputs sized once every input shape is set
            for name in buffers:
                dtype = trt.nptype(self.engine.get_tensor_dtype(name))
                buffers[name] = DeviceArray(cudart, self.context.get_tensor_shape(name), dtype)
                self.context.set_tensor_address(name, buffers[name].pointer)
        self.input_names, self.output_names = tuple(self.inputs), tuple(self.outputs)
        self.input_shapes = {name: buffer.shape for name, buffer in self.inputs.items()}
        self.path, self.label = onnx_path, label or onnx_path.name

    def __call__(self, **inputs):
        if set(inputs) != set(self.input_names):
            raise ValueError(f'{self.path}: expects inputs {list(self.input_names)}, got {sorted(inputs)}')
        for name, value in inputs.items():
            if tuple(np.shape(value)) != self.inputs[name].shape:
                raise ValueError(f'{self.path}: input {name!r} must have shape {self.inputs[name].shape}, '
                                 f'got {tuple(np.shape(value))}')
        uploaded = [self.inputs[name].upload(value, self.stream) for name, value in inputs.items()]  # kept to the sync
        if not self.context.execute_async_v3(self.stream.handle):
            raise RuntimeError(f'{self.path}: TensorRT execution failed')
        outputs = [output.download(self.stream) for output in self.outputs.values()]
        self.stream.synchronize()
        del uploaded
        return single_or_tuple([output.astype(np.float32, copy=False) for output in outputs])
