"""The deployed networks, as every backend sees them: names, inputs, outputs, and their ONNX files.

    hourglass  image (B, 3, S, S) RGB in [0, 1]              -> heatmaps (B, 16, S/4, S/4), last stack
    prcnn      image, heatmaps (B, 16, S/4, S/4)              -> depth_scores (B, 16)
    lifter     joints_2d (B, 16, 2) normalized, ranking (B, 16, 16)
                                                              -> pose_mm (B, 17, 3), root-relative,
                                                                 mirror-averaged (no ranking input
                                                                 for the `baseline` lifter)
    blazepose_detector   image (B, 3, 224, 224) RGB in [0, 1] -> regressions (B, 2254, 12), scores (B, 2254)
    blazepose_landmarks  image (B, 3, 256, 256) RGB in [0, 1] -> landmarks (B, 39, 5), presence (B,),
                                                                 heatmaps (B, 39, 64, 64), world_landmarks (B, 39, 3)
    (pose3d_ros.models.blazepose; their "checkpoint" is the release's .tflite file)

Checkpoints (.pt, .tflite) are the source of truth; ONNX files are exported from them by
pose3d_ros.inference.pytorch (the `pose3d_export_onnx` command writes a bundle of them,
pose3d_ros.inference.bundle), or on first use into a cache folder keyed by the checkpoint's
sha256 (`cached_onnx`), so a node given only .pt files can still run ONNX Runtime or TensorRT.
Each ONNX file travels with an OnnxModel record (a bundle's manifest entry, or a JSON file beside
a cached export): what the runtime needs to know of it without PyTorch. This module imports no
PyTorch; only a cache miss loads pose3d_ros.inference.pytorch to export.
"""
import json
import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from pose3d_ros.atomic import atomic_write
from pose3d_ros.integrity import file_sha256

KINDS = ('hourglass', 'prcnn', 'lifter', 'blazepose_detector', 'blazepose_landmarks')
OUTPUT_NAMES = {'hourglass': ('heatmaps',), 'prcnn': ('depth_scores',), 'lifter': ('pose_mm',),
                'blazepose_detector': ('regressions', 'scores'),
                'blazepose_landmarks': ('landmarks', 'presence', 'heatmaps', 'world_landmarks')}
# Inputs each kind must have, and may have (the `baseline` lifter has no ranking input).
INPUT_NAMES = {'hourglass': (('image',), ()), 'prcnn': (('image', 'heatmaps'), ()),
               'lifter': (('joints_2d',), ('ranking',)), 'blazepose_detector': (('image',), ()),
               'blazepose_landmarks': (('image',), ())}
MAX_DYNAMIC_BATCH = 64
DETECTOR_INPUT = 224  # BlazePose's detector and landmark model input sides, pixels
LANDMARK_INPUT = 256
LOG = logging.getLogger('pose3d_ros.networks')


def check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f'network kind must be one of {KINDS}, got {kind!r}')


def check_role(kind, input_names, output_names, where):
    """ValueError naming `where` unless a network's inputs and outputs are those of a `kind`
    network (so a hourglass file in the lifter's place is refused at load, not at every frame)."""
    required, optional = INPUT_NAMES[kind]
    if (not set(required) <= set(input_names) <= set(required + optional)
            or tuple(output_names) != OUTPUT_NAMES[kind]):
        raise ValueError(f'{where}: inputs {list(input_names)} and outputs {list(output_names)} are not a {kind} '
                         f'network\'s (inputs {list(required)}{f" + optional {list(optional)}" if optional else ""}, '
                         f'outputs {list(OUTPUT_NAMES[kind])})')


def model_label(model_type, source):
    """'<model type>:<file name>', e.g. 'dpnet:lifter_dpnet_video_noise.pt' (the lifter's Skeleton3D.model)."""
    return f'{model_type}:{source}'


@dataclass(frozen=True)
class OnnxModel:
    """One exported network: its ONNX file and how it was made."""
    kind: str
    path: Path
    sha256: str
    inputs: dict          # {name: [dims]}; a dim is a size, or a name for a symbolic axis
    outputs: dict
    source: str           # the checkpoint or .tflite file name it was exported from
    source_sha256: str
    model_type: str       # the checkpoint's model type (dpnet, baseline, ordinal, hourglass, prcnn) or the kind
    exporter: str         # torch.onnx's `dynamo` exporter or the older `torchscript` one
    opset: int
    versions: dict        # {package: version} of torch, onnx, onnxruntime at export
    max_abs_error: float  # largest |ONNX Runtime - PyTorch| on seeded inputs at export

    @property
    def label(self):
        return model_label(self.model_type, self.source)

    def to_entry(self):
        """The JSON-ready record, with the file name relative to its folder."""
        return {'file': self.path.name, **{k: v for k, v in asdict(self).items() if k != 'path'}}

    @classmethod
    def from_entry(cls, entry, folder, where):
        """An entry read from `where` (a file named in errors) for a file in `folder`."""
        if not isinstance(entry, dict):
            raise ValueError(f'{where}: a model entry must be a JSON object, got {type(entry).__name__}')
        names = {field.name for field in fields(cls)} - {'path'}
        missing = sorted(names - set(entry)) + ([] if 'file' in entry else ['file'])
        if missing:
            raise ValueError(f'{where}: model entry {entry.get("file", "?")!r} lacks {missing}')
        if entry['kind'] not in KINDS:
            raise ValueError(f'{where}: model {entry["file"]!r} has kind {entry["kind"]!r}, not one of {KINDS}')
        return cls(path=Path(folder) / entry['file'], **{name: entry[name] for name in names})

    def check_file(self, where):
        """ValueError naming the file unless it exists with the recorded sha256."""
        if not self.path.is_file():
            raise ValueError(f'{where}: {self.path} is missing')
        actual = file_sha256(self.path)
        if actual != self.sha256:
            raise ValueError(f'{self.path}: sha256 {actual} differs from {self.sha256} recorded in {where} '
                             f'(a damaged or replaced file: copy or export it again)')


def cached_onnx(kind, checkpoint, cache_dir):
    """The ONNX export (batch 1) of a checkpoint in cache_dir, made on first use -> OnnxModel.

    <checkpoint stem>-<sha256 prefix>.onnx with its record in .json beside it; an export whose
    record is missing or does not match the file is made again, with a warning (logger
    'pose3d_ros.networks') naming the file when there was one.
    """
    check_kind(kind)
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise ValueError(f'{checkpoint}: {kind} checkpoint not found')
    digest = file_sha256(checkpoint)
    path = Path(cache_dir).expanduser() / f'{checkpoint.stem}-{digest[:16]}.onnx'
    record = path.with_suffix('.json')
    if record.exists() or path.exists():
        try:
            model = OnnxModel.from_entry(json.loads(record.read_text()), path.parent, record)
            model.check_file(record)
            if (model.kind, model.source_sha256) != (kind, digest):
                raise ValueError(f'{record} describes a {model.kind} export of another checkpoint')
            return model
        except (OSError, ValueError, TypeError) as error:  # damaged, replaced, or from an older version
            LOG.warning('%s: exporting %s again: %s', path, checkpoint, str(error).splitlines()[0])
    try:
        from pose3d_ros.inference.pytorch import export_checkpoint
    except ImportError as error:
        raise ValueError(f'{path} (the ONNX export of {checkpoint}) is not in the cache, and exporting it '
                         f'needs PyTorch ({error}); without PyTorch, run a model bundle exported on a '
                         f'development machine (pose3d_export_onnx; the nodes\' model_bundle)') from None
    path.parent.mkdir(parents=True, exist_ok=True)
    model = export_checkpoint(kind, checkpoint, path)
    atomic_write(record, lambda file: file.write(json.dumps(model.to_entry(), indent=2).encode()))
    return model
