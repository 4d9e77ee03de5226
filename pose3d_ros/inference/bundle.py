"""Model bundles: the networks' ONNX files and their manifest, exported on a development machine and
run where there is no PyTorch (a robot).

    <bundle>/manifest.json   format, package version, joint sets, one entry per network
    <bundle>/<kind>.onnx     one file per network: hourglass, prcnn, lifter, blazepose_detector,
                             blazepose_landmarks (those exported)

`pose3d_export_onnx --out-dir <bundle>` writes one (training/export_onnx.py); the camera and lifter
nodes run it with their `model_bundle` parameter, and `pose3d_build_engines --bundle <bundle>`
builds TensorRT engines from it. Each entry is an OnnxModel record
(pose3d_ros.inference.networks): the network's role (`kind`), input and output names and shapes,
the file's sha256, and what it was exported from and with (checkpoint and its sha256, exporter,
opset, torch / onnx / onnxruntime versions). Reading a bundle checks every file's sha256 and that
its joint sets are this package's.
"""
import importlib.metadata
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from pose3d_ros.atomic import atomic_write
from pose3d_ros.inference.networks import OnnxModel
from pose3d_ros.skeleton import DETECTED_JOINTS, JOINT_NAMES

FORMAT = 'pose3d_ros.bundle/1'
MANIFEST = 'manifest.json'


def joint_sets():
    """The joint names of the networks' 2D inputs and of the lifted skeleton, in array order."""
    return {'joints_2d': [JOINT_NAMES[index] for index in DETECTED_JOINTS], 'joints_3d': list(JOINT_NAMES)}


@dataclass(frozen=True)
class Bundle:
    folder: Path
    models: tuple  # OnnxModel, one per kind

    def model(self, kind, landmark_model=None):
        """The bundle's `kind` network (blazepose_landmarks: the `landmark_model` one), checked to
        run at batch 1 as the nodes do; ValueError naming what is missing."""
        what = kind if landmark_model is None else f'{kind} ({landmark_model})'
        found = [model for model in self.models if model.kind == kind
                 and (landmark_model is None or model.source == f'pose_landmark_{landmark_model}.tflite')]
        if not found:
            held = ', '.join(f'{model.kind} ({model.source})' for model in self.models) or 'nothing'
            raise ValueError(f'{self.folder / MANIFEST}: no {what} network in this bundle (it holds {held}); '
                             f'export one with pose3d_export_onnx')
        [model] = found
        for name, shape in model.inputs.items():
            if shape[0] != 1:
                raise ValueError(f'{model.path}: input {name!r} has shape {shape}, and the nodes run batch 1: '
                                 f'export the bundle with --batch 1 (the default)')
        return model


def read_bundle(folder):
    """The bundle in `folder`, every file's sha256 checked; ValueError naming the file and field."""
    folder = Path(folder).expanduser()
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f'{path} not found: a model bundle is a folder written by pose3d_export_onnx') from None
    except (OSError, ValueError) as error:
        raise ValueError(f'{path}: not a readable manifest ({error})') from None
    if not isinstance(manifest, dict) or manifest.get('format') != FORMAT:
        found = manifest.get('format') if isinstance(manifest, dict) else type(manifest).__name__
        raise ValueError(f'{path}: format {found!r}, expected {FORMAT!r}')
    for key, names in joint_sets().items():
        if manifest.get(key) != names:
            raise ValueError(f'{path}: {key} {manifest.get(key)} are not this package\'s {names}')
    entries = manifest.get('models')
    if not isinstance(entries, list):
        raise ValueError(f'{path}: models must be a list of model entries, got {entries!r}')
    models = tuple(OnnxModel.from_entry(entry, folder, path) for entry in entries)
    kinds = [model.kind for model in models]
    if len(set(kinds)) != len(kinds):
        raise ValueError(f'{path}: a network kind appears twice in {kinds}')
    for model in models:
        model.check_file(path)
    return Bundle(folder, models)


def package_version():
    try:
        return importlib.metadata.version('pose3d_ros')
    except importlib.metadata.PackageNotFoundError:  # a colcon install has no distribution metadata
        return None


def write_bundle(folder, models):
    """Write `folder`/manifest.json for `models` (OnnxModels, one per kind), copying each file that
    is elsewhere to `folder`/<kind>.onnx, each file atomically -> the Bundle read back."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for model in models:
        target = folder / f'{model.kind}.onnx'
        if model.path.resolve() != target.resolve():
            with open(model.path, 'rb') as source:
                atomic_write(target, lambda file: shutil.copyfileobj(source, file))
        entries.append({**model.to_entry(), 'file': target.name})
    manifest = {'format': FORMAT, 'package_version': package_version(), **joint_sets(), 'models': entries}
    atomic_write(folder / MANIFEST, lambda file: file.write(json.dumps(manifest, indent=2).encode()))
    return read_bundle(folder)
