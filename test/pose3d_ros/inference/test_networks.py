from pathlib import Path

import pytest
import torch
import yaml

from pose3d_ros.inference import networks
from pose3d_ros.models import hourglass, prcnn
from pose3d_ros.models.lifter import DEFAULT_LIFTER
from pose3d_ros.skeleton import DETECTED_FLIP_PERMUTATION, FLIP_PERMUTATION

CONFIGS = Path(__file__).resolve().parents[3] / 'training' / 'configs' / 'image'


@pytest.mark.parametrize('kind', ['hourglass', 'prcnn'])
def test_the_paper_configurations_export(kind, tmp_path):
    # 8 stacks of 256 channels / ResNet-34: the same graph at any input size, so 64 x 64 keeps it
    # quick. The 8 stacks are one block repeated: the paper's 8 build, and 2 of them, which hold
    # every connection between stacks, are exported (the export's time grows with the graph).
    spec = yaml.safe_load((CONFIGS / f'{kind}_paper.yaml').read_text())['model']
    if kind == 'hourglass':
        assert spec['stacks'] == 8 and len(hourglass.build_hourglass(spec).hourglasses) == 8
        spec = {**spec, 'stacks': 2}
    model = (hourglass.build_hourglass if kind == 'hourglass' else prcnn.build_prcnn)(spec).eval()
    module = hourglass.LastStack(model) if kind == 'hourglass' else model
    shapes = networks.image_input_shapes(64, model.joints if kind == 'prcnn' else None)
    error = networks.export_onnx(kind, module, shapes, tmp_path / f'{kind}.onnx')
    print(f'{kind} paper configuration: max abs error {error:.2e}')
    assert error < 1e-3


def test_the_lifter_exports_with_mirror_averaging_inside(tmp_path):
    module, shapes = networks.load_network('lifter', DEFAULT_LIFTER)
    assert shapes == {'joints_2d': (1, 16, 2), 'ranking': (1, 16, 16)}
    error = networks.export_onnx('lifter', module, shapes, tmp_path / 'lifter.onnx')
    print(f'lifter: max abs error {error:.2e} mm')
    assert error < 1e-2
    joints, ranking = networks.example_inputs('lifter', shapes, batch=2).values()
    flip = DETECTED_FLIP_PERMUTATION
    with torch.no_grad():
        pose = module(joints, ranking)
        of_mirrored = module(joints[:, flip] * torch.tensor([-1.0, 1.0]), ranking[:, flip][:, :, flip])
    assert pose.shape == (2, 17, 3) and torch.all(pose[:, 0] == 0)
    # Averaged over both, the output commutes with mirroring the camera.
    torch.testing.assert_close(of_mirrored, pose[:, FLIP_PERMUTATION] * torch.tensor([-1.0, 1.0, 1.0]),
                               atol=1e-3, rtol=0)


def test_cached_onnx_exports_once_per_checkpoint_content(tmp_path):
    torch.manual_seed(0)
    spec = {'type': 'prcnn', 'depth': 18, 'width': 8}
    checkpoint = tmp_path / 'prcnn.pt'
    torch.save({'format': prcnn.CHECKPOINT_FORMAT, 'model': spec, 'state_dict': prcnn.build_prcnn(spec).state_dict(),
                'input_size': 64}, checkpoint)
    first = networks.cached_onnx('prcnn', checkpoint, tmp_path / 'cache')
    assert first.is_file() and first.name.startswith('prcnn-')
    stamp = first.stat().st_mtime_ns
    assert networks.cached_onnx('prcnn', checkpoint, tmp_path / 'cache') == first
    assert first.stat().st_mtime_ns == stamp
    torch.save({'format': prcnn.CHECKPOINT_FORMAT, 'model': spec, 'state_dict': prcnn.build_prcnn(spec).state_dict(),
                'input_size': 64}, checkpoint)
    assert networks.cached_onnx('prcnn', checkpoint, tmp_path / 'cache') != first
    with pytest.raises(ValueError, match=r'missing\.pt: lifter checkpoint not found'):
        networks.cached_onnx('lifter', tmp_path / 'missing.pt', tmp_path / 'cache')
    with pytest.raises(ValueError, match=r"network kind must be one of \('hourglass', 'prcnn', 'lifter', "
                                         r"'blazepose_detector', 'blazepose_landmarks'\), got 'vit'"):
        networks.load_network('vit', checkpoint)
