"""Reading the project's model checkpoints: {'format', 'model': spec, 'state_dict', ...} files."""
from pathlib import Path

import torch

from pose3d_ros.integrity import check_model_file


def build_model(registry, spec):
    """{'type': a key of registry, **constructor arguments} -> the model."""
    spec = dict(spec)
    kind = spec.pop('type', None)
    if kind not in registry:
        raise ValueError(f'model type must be one of {sorted(registry)}, got {kind!r}')
    try:
        return registry[kind](**spec)
    except TypeError as error:
        raise ValueError(f'bad arguments for model type {kind!r}: {error}') from None


def load_checkpoint(path, expected_format, build, required=('model', 'state_dict'), device='cpu'):
    """Read a checkpoint of `expected_format` -> (model in eval mode on device, checkpoint).

    build(spec) makes the model; fp16 weights load as float32. Anything that is not such a
    checkpoint, or whose bytes changed since it was written (pose3d_ros.integrity), raises
    ValueError naming the file and what is wrong.
    """
    what = expected_format.split('/')[0].rsplit('.', 1)[-1]  # 'pose3d_ros.lifter/1' -> 'lifter'
    if Path(path).is_file():
        check_model_file(path)
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise ValueError(f'{path}: {what} checkpoint not found') from None
    except Exception as error:  # torch raises many types for truncated or foreign files
        raise ValueError(f'{path}: not a readable {what} checkpoint ({type(error).__name__}: '
                         f'{str(error).splitlines()[0] if str(error) else ""})') from None
    if not isinstance(checkpoint, dict) or checkpoint.get('format') != expected_format:
        found = checkpoint.get('format') if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ValueError(f'{path}: expected a {expected_format!r} checkpoint, found {found!r}')
    for key in required:
        if key not in checkpoint:
            raise ValueError(f'{path}: checkpoint has no {key!r} entry')
    try:
        model = build(checkpoint['model'])
    except ValueError as error:
        raise ValueError(f'{path}: {error}') from None
    state = checkpoint['state_dict']
    expected = model.state_dict()
    missing = [name for name in expected if name not in state]
    unexpected = [name for name in state if name not in expected]
    reshaped = [name for name in expected if name in state and state[name].shape != expected[name].shape]
    if missing or unexpected or reshaped:
        problems = [f'{len(names)} {what} (e.g. {names[0]!r})' for names, what in
                    ((missing, 'missing'), (unexpected, 'unexpected'), (reshaped, 'of another shape')) if names]
        raise ValueError(f'{path}: the state_dict does not fit the {checkpoint["model"]} model: '
                         f'{", ".join(problems)} tensors')
    model.load_state_dict({name: value.float() if value.is_floating_point() else value
                           for name, value in state.items()})
    return model.to(device).eval(), checkpoint
