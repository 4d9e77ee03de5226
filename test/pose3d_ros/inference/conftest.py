import pytest
import torch

from pose3d_ros.models import hourglass, prcnn
from pose3d_ros.models.lifter import DEFAULT_LIFTER

INPUT_SIZE = 64


@pytest.fixture(scope='session')
def checkpoints(tmp_path_factory):
    """Small random hourglass and PRCNN checkpoints, the shipped lifter, and an ONNX cache folder."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp('networks')
    saved = {}
    for kind, spec, fmt in (('hourglass', {'type': 'hourglass', 'stacks': 1, 'channels': 16, 'depth': 2},
                             hourglass.CHECKPOINT_FORMAT),
                            ('prcnn', {'type': 'prcnn', 'depth': 18, 'width': 8}, prcnn.CHECKPOINT_FORMAT)):
        model = (hourglass.build_hourglass if kind == 'hourglass' else prcnn.build_prcnn)(spec)
        saved[kind] = folder / f'{kind}.pt'
        torch.save({'format': fmt, 'model': spec, 'state_dict': model.state_dict(), 'input_size': INPUT_SIZE}, saved[kind])
    return {**saved, 'lifter': DEFAULT_LIFTER, 'cache_dir': folder / 'cache'}
