import sys
from pathlib import Path

import pytest

from pose3d_ros.paths import DEFAULT_LIFTER

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from random_networks import write_networks  # noqa: E402

INPUT_SIZE = 64


@pytest.fixture(scope='session')
def checkpoints(tmp_path_factory):
    """Small random hourglass and PRCNN checkpoints, the shipped lifter, and an ONNX cache folder."""
    folder = tmp_path_factory.mktemp('networks')
    return {**write_networks(folder, INPUT_SIZE, suffix=''), 'lifter': DEFAULT_LIFTER, 'cache_dir': folder / 'cache'}


@pytest.fixture(scope='session')
def bundle(checkpoints, tmp_path_factory):
    """A model bundle of the session's cached exports of the hourglass, PRCNN and the shipped lifter."""
    from pose3d_ros.inference.bundle import write_bundle
    from pose3d_ros.inference.networks import cached_onnx

    models = [cached_onnx(kind, checkpoints[kind], checkpoints['cache_dir'] / 'onnx')
              for kind in ('hourglass', 'prcnn', 'lifter')]
    return write_bundle(tmp_path_factory.mktemp('bundle'), models)
