from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
import yaml

from pose3d_ros.inference import pytorch
from pose3d_ros.inference.networks import cached_onnx
from pose3d_ros.inference.pytorch import TorchBackend, load_network
from pose3d_ros.models import hourglass, prcnn
from pose3d_ros.paths import DEFAULT_LIFTER
from pose3d_ros.skeleton import DETECTED_FLIP_PERMUTATION, FLIP_PERMUTATION

CONFIGS = Path(__file__).resolve().parents[3] / 'training' / 'configs' / 'image'
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason='CUDA graphs need a CUDA device')


def test_cuda_graphs_are_refused_off_cuda(checkpoints):
    module, shapes = load_network('prcnn', checkpoints['prcnn'])
    with pytest.raises(ValueError, match='CUDA graphs need a CUDA device, not cpu'):
        TorchBackend(module, shapes, 'cpu', cuda_graphs=True)
    assert not TorchBackend(module, shapes, 'cpu').cuda_graphs  # eager by default on the CPU


@needs_cuda
@pytest.mark.parametrize('half', [False, True])
def test_cuda_graph_replays_match_eager_runs_for_new_inputs(checkpoints, half):
    module, shapes = load_network('prcnn', checkpoints['prcnn'], 'cuda')
    graphed = TorchBackend(module, shapes, 'cuda', half=half)
    eager = TorchBackend(module, shapes, 'cuda', half=half, cuda_graphs=False)
    assert graphed.cuda_graphs
    rng = np.random.default_rng(0)
    outputs = []
    for _ in range(3):  # every replay reads the inputs of its own call
        inputs = {name: rng.random(shape, dtype=np.float32) for name, shape in shapes.items()}
        outputs.append(graphed(**inputs))
        np.testing.assert_allclose(outputs[-1], eager(**inputs), atol=2e-2 if half else 1e-4)
    assert not np.allclose(outputs[0], outputs[1])
    assert len(graphed._graphs) == 1  # one capture for one set of shapes


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
    shapes = pytorch.image_input_shapes(64, model.joints if kind == 'prcnn' else None)
    error = pytorch.export_onnx(kind, module, shapes, tmp_path / f'{kind}.onnx')
    print(f'{kind} paper configuration: max abs error {error:.2e}')
    assert error < 1e-3


def test_the_lifter_exports_with_mirror_averaging_inside(tmp_path):
    module, shapes = pytorch.load_network('lifter', DEFAULT_LIFTER)
    assert shapes == {'joints_2d': (1, 16, 2), 'ranking': (1, 16, 16)}
    error = pytorch.export_onnx('lifter', module, shapes, tmp_path / 'lifter.onnx')
    print(f'lifter: max abs error {error:.2e} mm')
    assert error < 1e-2
    joints, ranking = pytorch.example_inputs('lifter', shapes, batch=2).values()
    flip = DETECTED_FLIP_PERMUTATION
    with torch.no_grad():
        pose = module(joints, ranking)
        of_mirrored = module(joints[:, flip] * torch.tensor([-1.0, 1.0]), ranking[:, flip][:, :, flip])
    assert pose.shape == (2, 17, 3) and torch.all(pose[:, 0] == 0)
    # Averaged over both, the output commutes with mirroring the camera.
    torch.testing.assert_close(of_mirrored, pose[:, FLIP_PERMUTATION] * torch.tensor([-1.0, 1.0, 1.0]),
                               atol=1e-3, rtol=0)


def test_without_the_dynamo_exporter_the_torchscript_one_exports_the_same_network(checkpoints, monkeypatch, tmp_path):
    """Older PyTorch (such as Jetson wheels) has no torch.onnx.export(dynamo=...): the TorchScript
    exporter runs instead, and its file computes what the dynamo export computes."""
    dynamo = cached_onnx('prcnn', checkpoints['prcnn'], checkpoints['cache_dir'] / 'onnx')  # once per session
    export = torch.onnx.export

    def export_of_pytorch_2_4(model, args, f, *, input_names, output_names, opset_version, dynamic_axes=None):
        return export(model, args, f, dynamo=False, input_names=input_names, output_names=output_names,
                      opset_version=opset_version, dynamic_axes=dynamic_axes)

    monkeypatch.setattr(torch.onnx, 'export', export_of_pytorch_2_4)  # no `dynamo` argument
    assert pytorch.onnx_exporter() == 'torchscript'
    torchscript = pytorch.export_checkpoint('prcnn', checkpoints['prcnn'], tmp_path / 'torchscript.onnx')
    assert (dynamo.exporter, dynamo.opset, torchscript.exporter, torchscript.opset) == ('dynamo', 18, 'torchscript', 17)
    assert torchscript.inputs == dynamo.inputs and torchscript.outputs == dynamo.outputs
    assert torchscript.max_abs_error < 1e-4
    inputs = {name: np.random.default_rng(0).random(shape, dtype=np.float32) for name, shape in dynamo.inputs.items()}
    outputs = [onnxruntime.InferenceSession(str(model.path)).run(None, inputs)[0] for model in (dynamo, torchscript)]
    np.testing.assert_allclose(outputs[1], outputs[0], atol=1e-5)
