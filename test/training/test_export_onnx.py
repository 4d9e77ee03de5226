import re

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from pose3d_ros.models import hourglass, prcnn
from pose3d_ros.models.lifter import DEFAULT_LIFTER
from training import export_onnx


def save(tmp_path, kind, model, spec, name):
    fmt = hourglass.CHECKPOINT_FORMAT if kind == 'hourglass' else prcnn.CHECKPOINT_FORMAT
    torch.save({'format': fmt, 'model': spec, 'state_dict': model.state_dict(), 'input_size': 64}, tmp_path / name)
    return tmp_path / name


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp('image_models')
    torch.manual_seed(0)
    hourglass_spec = {'type': 'hourglass', 'stacks': 2, 'channels': 16, 'depth': 2}
    prcnn_spec = {'type': 'prcnn', 'depth': 18, 'width': 8}
    return {'hourglass': save(folder, 'hourglass', hourglass.build_hourglass(hourglass_spec), hourglass_spec,
                              'hourglass.pt'),
            'prcnn': save(folder, 'prcnn', prcnn.build_prcnn(prcnn_spec), prcnn_spec, 'prcnn.pt'),
            'lifter': DEFAULT_LIFTER}


@pytest.mark.parametrize('dynamic', [False, True])
def test_export_matches_pytorch_in_onnx_runtime(checkpoints, tmp_path, capsys, dynamic):
    arguments = [argument for kind, path in checkpoints.items() for argument in (f'--{kind}', str(path))]
    arguments += ['--out-dir', str(tmp_path)] + (['--dynamic-batch'] if dynamic else ['--batch', '2'])
    assert export_onnx.main(arguments) == 0
    errors = [float(value) for value in re.findall(r'= ([0-9.e+-]+)', capsys.readouterr().out)]
    print('max abs error hourglass, prcnn, lifter (mm):', errors)
    assert len(errors) == 3 and max(errors[:2]) < 1e-4 and errors[2] < 1e-2
    for name, output in (('hourglass', 'heatmaps'), ('prcnn', 'depth_scores'), ('lifter', 'pose_mm')):
        model = onnx.load(tmp_path / f'{name}.onnx')
        onnx.checker.check_model(model)
        assert [o.name for o in model.graph.output] == [output]
        batch = model.graph.input[0].type.tensor_type.shape.dim[0]
        assert (batch.dim_param != '') == dynamic and (dynamic or batch.dim_value == 2)
    session = onnxruntime.InferenceSession(str(tmp_path / 'hourglass.onnx'))
    shape = (5 if dynamic else 2, 3, 64, 64)
    assert session.run(None, {'image': np.random.rand(*shape).astype(np.float32)})[0].shape == (shape[0], 16, 16, 16)


def test_export_errors_name_the_file(tmp_path, capsys):
    (tmp_path / 'broken.pt').write_bytes(b'\x00' * 10)
    assert export_onnx.main(['--prcnn', str(tmp_path / 'broken.pt'), '--out-dir', str(tmp_path)]) == 2
    assert 'broken.pt: not a readable prcnn checkpoint' in capsys.readouterr().err
    assert not (tmp_path / 'prcnn.onnx').exists()
    assert export_onnx.main(['--out-dir', str(tmp_path)]) == 2
    assert 'give at least one of --hourglass, --prcnn, --lifter' in capsys.readouterr().err
