import re

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from pose3d_ros.models import hourglass, prcnn
from pose3d_ros.paths import DEFAULT_LIFTER
from pose3d_ros.inference.bundle import read_bundle
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


def test_export_matches_pytorch_in_onnx_runtime(checkpoints, tmp_path, capsys):
    # A dynamic batch axis here; the batch-1 exports (cached_onnx) are what the node and bundle tests run.
    arguments = [argument for kind, path in checkpoints.items() for argument in (f'--{kind}', str(path))]
    arguments += ['--out-dir', str(tmp_path), '--dynamic-batch']
    assert export_onnx.main(arguments) == 0
    out = capsys.readouterr().out
    errors = [float(value) for value in re.findall(r'= ([0-9.e+-]+)', out)]
    print('max abs error hourglass, prcnn, lifter (mm):', errors)
    assert len(errors) == 3 and max(errors[:2]) < 1e-4 and errors[2] < 1e-2
    assert f'{tmp_path}/manifest.json: bundle of hourglass, prcnn, lifter' in out
    bundle = read_bundle(tmp_path)  # every file's sha256 checked
    for (name, output), error in zip((('hourglass', 'heatmaps'), ('prcnn', 'depth_scores'), ('lifter', 'pose_mm')),
                                     errors):
        model = onnx.load(tmp_path / f'{name}.onnx')
        onnx.checker.check_model(model)
        assert [o.name for o in model.graph.output] == [output]
        batch = model.graph.input[0].type.tensor_type.shape.dim[0]
        assert batch.dim_param != ''
        [entry] = [entry for entry in bundle.models if entry.kind == name]
        assert list(entry.outputs) == [output] and entry.outputs[output][0] == batch.dim_param
        assert f'{entry.max_abs_error:.2e}' == f'{error:.2e}'
    with pytest.raises(ValueError, match=r"lifter\.onnx: input 'joints_2d' has shape .*, and the nodes run batch 1"):
        bundle.model('lifter')
    session = onnxruntime.InferenceSession(str(tmp_path / 'hourglass.onnx'))
    shape = (5, 3, 64, 64)
    assert session.run(None, {'image': np.random.rand(*shape).astype(np.float32)})[0].shape == (shape[0], 16, 16, 16)


def test_export_errors_name_the_file(tmp_path, capsys):
    (tmp_path / 'broken.pt').write_bytes(b'\x00' * 10)
    assert export_onnx.main(['--prcnn', str(tmp_path / 'broken.pt'), '--out-dir', str(tmp_path)]) == 2
    assert 'broken.pt: not a readable prcnn checkpoint' in capsys.readouterr().err
    assert not (tmp_path / 'prcnn.onnx').exists()
    assert export_onnx.main(['--out-dir', str(tmp_path)]) == 2
    assert 'give at least one of --hourglass, --prcnn, --lifter, --blazepose' in capsys.readouterr().err
    assert export_onnx.main(['--blazepose', 'lite', '--cache-dir', str(tmp_path), '--out-dir', str(tmp_path)]) == 2
    assert f'{tmp_path}/blazepose/pose_detection.tflite does not exist' in capsys.readouterr().err
