import json

import torch

from pose3d_ros.models import hourglass
from pose3d_ros.models.hourglass import StackedHourglass
from pose3d_ros.models.lifter import CHECKPOINT_FORMAT, build_lifter, load_lifter
from pose3d_ros.skeleton import JOINT_NAMES
from training import export_weights, plot_lifter
from training.datasets.h36m import ACTIONS

SPEC = {'type': 'dpnet', 'width': 32}


def test_export_drops_the_optimizer_and_halves_the_weights(tmp_path):
    model = build_lifter(SPEC).eval()
    optimizer = torch.optim.Adam(model.parameters())
    training = tmp_path / 'checkpoint.pt'
    torch.save({'format': CHECKPOINT_FORMAT, 'model': SPEC, 'data': {'ranking': 'noisy'},
                'state_dict': model.state_dict(), 'optimizer': optimizer.state_dict(), 'epoch': 3,
                'history': [{'epoch': 3}]}, training)
    shipped = tmp_path / 'lifter.pt'
    assert export_weights.main(['--checkpoint', str(training), '--out', str(shipped)]) == 0
    slim = torch.load(shipped, weights_only=True)
    assert 'optimizer' not in slim and slim['epoch'] == 3
    assert all(value.dtype == torch.float16 for value in slim['state_dict'].values()
               if value.is_floating_point())
    loaded, _ = load_lifter(shipped)
    joints, ranking = torch.randn(4, 16, 2) * 0.1, torch.full((4, 16, 16), 0.5)
    assert torch.allclose(loaded.predict(joints, ranking), model.predict(joints, ranking), atol=2.0)
    assert export_weights.main(['--checkpoint', str(tmp_path / 'none.pt'), '--out', str(shipped)]) == 2


def test_export_slims_image_models_and_names_foreign_files(tmp_path, capsys):
    model = StackedHourglass(stacks=1, channels=16, depth=2).eval()
    torch.save({'format': hourglass.CHECKPOINT_FORMAT, 'model': {'type': 'hourglass', 'stacks': 1, 'channels': 16,
                'depth': 2}, 'input_size': 64, 'state_dict': model.state_dict(), 'optimizer': {}}, tmp_path / 'hg.pt')
    assert export_weights.main(['--checkpoint', str(tmp_path / 'hg.pt'), '--out', str(tmp_path / 'slim.pt')]) == 0
    loaded, checkpoint = hourglass.load_hourglass(tmp_path / 'slim.pt')
    assert checkpoint['input_size'] == 64 and 'optimizer' not in checkpoint
    image = torch.rand(1, 3, 64, 64)
    assert torch.allclose(loaded(image)[-1], model(image)[-1], atol=1e-2)
    torch.save({'format': 'other/1'}, tmp_path / 'other.pt')
    assert export_weights.main(['--checkpoint', str(tmp_path / 'other.pt'), '--out', str(tmp_path / 'x.pt')]) == 2
    assert "other.pt: checkpoint format 'other/1' is none of" in capsys.readouterr().err


def report(protocol, scale):
    return {'protocol': protocol, 'subjects': [9],
            'per_joint_mm': {name: scale * (index + 1) for index, name in enumerate(JOINT_NAMES)},
            'per_action_mm': {action: scale * 40 for action in ACTIONS}}


def test_plot_writes_both_charts(tmp_path, capsys):
    paths = []
    for name, scale in (('a', 1.0), ('b', 2.0)):
        paths.append(tmp_path / f'{name}.json')
        paths[-1].write_text(json.dumps(report(1, scale)))
    out = tmp_path / 'img' / 'lifter'
    assert plot_lifter.main(['--reports', *map(str, paths), '--labels', 'A', 'B', '--out', str(out)]) == 0
    for suffix in ('_per_joint.png', '_per_action.png'):
        png = (tmp_path / 'img' / f'lifter{suffix}').read_bytes()
        assert png.startswith(b'\x89PNG') and len(png) > 10000
    (tmp_path / 'bad.json').write_text('{"protocol": 1}')
    assert plot_lifter.main(['--reports', str(tmp_path / 'bad.json'), '--out', str(out)]) == 2
    assert "bad.json: not an evaluation report, missing ['per_action_mm', 'per_joint_mm', 'subjects']" in capsys.readouterr().err
    assert plot_lifter.main(['--reports', str(paths[0]), '--labels', 'A', 'B', '--out', str(out)]) == 2
