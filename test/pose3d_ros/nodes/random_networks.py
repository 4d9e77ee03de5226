"""Random-weight image networks for the node tests: the camera node's behaviour without the
shipped weights (and with a chosen frame time: the input size sets it)."""
import torch

from pose3d_ros.models import hourglass, prcnn


def write_networks(folder, input_size):
    """Random-weight hourglass (1 stack, 16 channels) and PRCNN (depth 18, width 8) checkpoints."""
    torch.manual_seed(0)
    paths = {}
    for kind, spec, fmt, build in (
            ('hourglass', {'type': 'hourglass', 'stacks': 1, 'channels': 16, 'depth': 2},
             hourglass.CHECKPOINT_FORMAT, hourglass.build_hourglass),
            ('prcnn', {'type': 'prcnn', 'depth': 18, 'width': 8}, prcnn.CHECKPOINT_FORMAT, prcnn.build_prcnn)):
        paths[kind] = folder / f'{kind}_{input_size}.pt'
        torch.save({'format': fmt, 'model': spec, 'state_dict': build(spec).state_dict(),
                    'input_size': input_size}, paths[kind])
    return paths
