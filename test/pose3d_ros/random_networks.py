"""Random-weight image networks for the tests: the pipeline and the camera node without the
shipped weights (and with a chosen frame time: the input size sets it)."""
import torch

from pose3d_ros.models import hourglass, prcnn


def write_networks(folder, input_size, suffix=None):
    """Random-weight hourglass (1 stack, 16 channels) and PRCNN (depth 18, width 8) checkpoints,
    <kind><suffix>.pt in folder (suffix: '_<input_size>' unless given) -> {kind: path}."""
    suffix = f'_{input_size}' if suffix is None else suffix
    torch.manual_seed(0)
    paths = {}
    for kind, spec, fmt, build in (
            ('hourglass', {'type': 'hourglass', 'stacks': 1, 'channels': 16, 'depth': 2},
             hourglass.CHECKPOINT_FORMAT, hourglass.build_hourglass),
            ('prcnn', {'type': 'prcnn', 'depth': 18, 'width': 8}, prcnn.CHECKPOINT_FORMAT, prcnn.build_prcnn)):
        paths[kind] = folder / f'{kind}{suffix}.pt'
        torch.save({'format': fmt, 'model': spec, 'state_dict': build(spec).state_dict(),
                    'input_size': input_size}, paths[kind])
    return paths
