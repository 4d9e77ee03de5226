import numpy as np
import pytest
import torch

from pose3d_ros.inference.backends import TorchBackend
from pose3d_ros.inference.networks import load_network

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
