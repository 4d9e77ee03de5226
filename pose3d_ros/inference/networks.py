"""The deployed networks, as every backend sees them: names, inputs, outputs, ONNX export.

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

Checkpoints (.pt, .tflite) are the source of truth; ONNX files are exported from them with
`export_onnx` (the `pose3d_export_onnx` command), or on first use into a cache folder keyed by
the checkpoint's sha256 (`cached_onnx`), so a node given only .pt files can still run ONNX
Runtime or TensorRT.
"""
import hashlib
import tempfile
from pathlib import Path

import numpy as np
import torch

from pose3d_ros.atomic import atomic_write
from pose3d_ros.models.blazepose import load_blazepose
from pose3d_ros.models.hourglass import HEATMAP_STRIDE, LastStack, load_hourglass
from pose3d_ros.models.lifter import LifterInference, load_lifter
from pose3d_ros.models.prcnn import load_prcnn
from pose3d_ros.skeleton import DETECTED_JOINTS

KINDS = ('hourglass', 'prcnn', 'lifter', 'blazepose_detector', 'blazepose_landmarks')
OUTPUT_NAMES = {'hourglass': ('heatmaps',), 'prcnn': ('depth_scores',), 'lifter': ('pose_mm',),
                'blazepose_detector': ('regressions', 'scores'),
                'blazepose_landmarks': ('landmarks', 'presence', 'heatmaps', 'world_landmarks')}
OPSET = 18
MAX_DYNAMIC_BATCH = 64
_JOINTS = len(DETECTED_JOINTS)


def check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f'network kind must be one of {KINDS}, got {kind!r}')


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


def export_onnx(kind, module, shapes, path, batch=1, dynamic_batch=False):
    """Write a deployed module to ONNX at `path` atomically -> max |ONNX Runtime - PyTorch| on
    seeded inputs (batch 3 for a dynamic batch axis)."""
    check_kind(kind)
    module.eval()
    # torch.export specializes size-1 dimensions, so a symbolic batch is traced at batch 2.
    inputs = example_inputs(kind, shapes, 2 if dynamic_batch else batch)
    dynamic_shapes = None
    if dynamic_batch:
        batch_dim = torch.export.Dim('batch', min=1, max=MAX_DYNAMIC_BATCH)
        dynamic_shapes = tuple({0: batch_dim} for _ in inputs)
    with torch.no_grad():
        program = torch.onnx.export(module, tuple(inputs.values()), None, dynamo=True, opset_version=OPSET,
                                    input_names=list(inputs), output_names=list(OUTPUT_NAMES[kind]),
                                    dynamic_shapes=dynamic_shapes, verbose=False)
    with tempfile.TemporaryDirectory() as folder:
        staged = Path(folder) / 'model.onnx'
        program.save(str(staged))
        data = staged.read_bytes()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda file: file.write(data))
    return onnx_max_abs_error(kind, module, shapes, path, 3 if dynamic_batch else batch)


def onnx_max_abs_error(kind, module, shapes, path, batch):
    """Largest |ONNX Runtime - PyTorch| over the outputs, on seeded inputs."""
    import onnxruntime

    inputs = example_inputs(kind, shapes, batch, seed=1)
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    onnx_outputs = session.run(None, {name: tensor.numpy() for name, tensor in inputs.items()})
    with torch.no_grad():
        torch_outputs = module(*inputs.values())
    torch_outputs = torch_outputs if isinstance(torch_outputs, tuple) else (torch_outputs,)
    return max(float(np.abs(onnx - torch_output.numpy()).max())
               for onnx, torch_output in zip(onnx_outputs, torch_outputs))


def cached_onnx(kind, checkpoint, cache_dir):
    """The ONNX export (batch 1) of a checkpoint in cache_dir, made on first use -> its path."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise ValueError(f'{checkpoint}: {kind} checkpoint not found')
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:16]
    path = Path(cache_dir).expanduser() / f'{checkpoint.stem}-{digest}.onnx'
    if not path.is_file():
        module, shapes = load_network(kind, checkpoint)
        export_onnx(kind, module, shapes, path)
    return path
