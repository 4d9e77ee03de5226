import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pose3d_ros.models import hourglass, prcnn
from training import evaluate_image_models
from training.datasets.photo_crops import PhotoCrops

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from h36m_data import H36M_ROOT, needs_h36m  # noqa: E402
from photo_samples import DETECTED, photo  # noqa: E402

MPII = H36M_ROOT.parent / 'mpii-samples' / 'test_mpii.json'


@needs_h36m
def test_the_command_reports_pckh_ranking_accuracy_the_pair_figure_and_mpii(tmp_path, capsys):
    torch.manual_seed(0)
    for name, module, model in (('hourglass', hourglass, hourglass.StackedHourglass(1, 16, 2)),
                                ('prcnn', prcnn, prcnn.PRCNN(18, 8))):
        torch.save({'format': module.CHECKPOINT_FORMAT, 'model': {'type': name, **(
            {'stacks': 1, 'channels': 16, 'depth': 2} if name == 'hourglass' else {'depth': 18, 'width': 8})},
            'state_dict': model.state_dict(), 'input_size': 64,
            'config': {'data': {'camera_distance_mm': [4000.0, 1200.0], 'heatmap_sigma': 1.0, 'tie_mm': 20.0}}},
            tmp_path / f'{name}.pt')
    arguments = ['--hourglass', str(tmp_path / 'hourglass.pt'), '--prcnn', str(tmp_path / 'prcnn.pt'),
                 '--data', str(H36M_ROOT), '--count', '24', '--json', str(tmp_path / 'report.json'),
                 '--pair-figure', str(tmp_path / 'pairs.png')]
    if MPII.is_file():
        arguments += ['--mpii', str(MPII), '--mpii-figure', str(tmp_path / 'mpii.png')]
    assert evaluate_image_models.main(arguments) == 0
    report = json.loads((tmp_path / 'report.json').read_text())
    assert 0 <= report['hourglass']['pckh'] <= 1 and len(report['hourglass']['pckh_per_joint']) == 16
    matrix = np.array(report['prcnn']['pair_accuracy'], dtype=float)
    assert matrix.shape == (16, 16) and np.isnan(np.diag(matrix)).all()
    assert report['prcnn']['heatmaps'] == 'hourglass' and report['prcnn']['pairs'] > 0
    assert (tmp_path / 'pairs.png').read_bytes()[:4] == b'\x89PNG'
    if MPII.is_file():
        assert report['mpii']['people'] == 5
        assert (tmp_path / 'mpii.png').read_bytes()[:4] == b'\x89PNG'
    assert 'pairwise ranking accuracy' in capsys.readouterr().out


def test_the_command_needs_a_model(capsys):
    assert evaluate_image_models.main([]) == 2
    assert 'give --hourglass, --prcnn or both' in capsys.readouterr().err


class Oracle(torch.nn.Module):
    """A 'hourglass' that outputs given heatmaps, moved by `shift` heatmap pixels to the right."""

    def __init__(self, heatmaps, shift=0):
        super().__init__()
        self.heatmaps, self.shift = heatmaps, shift

    def forward(self, images):
        return [torch.roll(self.heatmaps, self.shift, dims=-1).expand(len(images), -1, -1, -1)]


def test_lsp_pck_scores_the_annotated_lsp_joints_against_the_torso(tmp_path):
    annotated = np.ones(14, bool)
    annotated[0] = False  # the right ankle: not scored
    crops = PhotoCrops([photo(tmp_path, annotated)], size=128)
    target = crops[0]['heatmaps']
    exact = evaluate_image_models.evaluate_photo_crops(Oracle(target), crops)
    assert exact == {'pck': 1.0, 'people': 1}
    # torso ~38 crop px here, so 0.2 x torso ~7.7 px: a 1-heatmap-pixel (4 px) shift is within it, 2 (8 px) not
    assert 4 < 0.2 * float(crops[0]['torso_size']) < 8
    assert evaluate_image_models.evaluate_photo_crops(Oracle(target, 1), crops)['pck'] == 1.0
    assert evaluate_image_models.evaluate_photo_crops(Oracle(target, 2), crops)['pck'] == 0.0
    # an unannotated joint predicted anywhere does not count; the pelvis, which LSP lacks, neither
    wrong = target.clone()
    wrong[[DETECTED['r_foot'], DETECTED['hip']]] = torch.roll(wrong[[DETECTED['r_foot'], DETECTED['hip']]], 5, -1)
    assert evaluate_image_models.evaluate_photo_crops(Oracle(wrong), crops)['pck'] == 1.0
    wrong[DETECTED['r_knee']] = torch.roll(wrong[DETECTED['r_knee']], 5, -1)
    assert evaluate_image_models.evaluate_photo_crops(Oracle(wrong), crops)['pck'] == pytest.approx(12 / 13)


def test_lsp_crops_need_the_hourglass_or_prcnn_and_the_teacher(capsys):
    assert evaluate_image_models.main(['--prcnn', 'p.pt', '--lsp', 'joints.mat']) == 2
    assert '--lsp needs --hourglass, or --prcnn and --teacher' in capsys.readouterr().err
    assert evaluate_image_models.main(['--prcnn', 'p.pt', '--teacher', 'world.npz']) == 2
    assert '--teacher needs --lsp and --prcnn' in capsys.readouterr().err


class DepthOracle(torch.nn.Module):
    """A 'PRCNN' whose depth scores are given, whatever it sees."""

    def __init__(self, scores):
        super().__init__()
        self.scores = torch.as_tensor(scores, dtype=torch.float32)

    def forward(self, images, heatmaps):
        return self.scores.expand(len(images), -1)


def test_prcnn_is_scored_against_the_teachers_ranking_on_the_pairs_it_ranks(tmp_path):
    depths = np.arange(16) * 50.0
    depths[DETECTED['l_wrist']] = np.nan  # the teacher lacks it: its pairs are not scored
    crops = PhotoCrops([photo(tmp_path)], size=64, depths=depths[None], tie_mm=20.0)
    exact = evaluate_image_models.evaluate_prcnn(DepthOracle(np.nan_to_num(depths)), crops)
    assert exact['ranking_accuracy'] == 1.0 and exact['pairs'] == 15 * 14
    reversed_ = evaluate_image_models.evaluate_prcnn(DepthOracle(-np.nan_to_num(depths)), crops)
    assert reversed_['ranking_accuracy'] == 0.0
    assert np.isnan(np.array(reversed_['pair_accuracy'], dtype=float)[DETECTED['l_wrist']]).all()


def test_the_mpii_figure_needs_the_photos_and_the_hourglass(tmp_path, capsys):
    assert evaluate_image_models.main(['--prcnn', 'p.pt', '--mpii-figure', str(tmp_path / 'm.png')]) == 2
    assert '--mpii-figure needs --mpii and --hourglass' in capsys.readouterr().err


@needs_h36m
def test_the_blazepose_front_end_is_scored_on_renders_too(tmp_path, capsys):
    assert evaluate_image_models.main(['--front-end', 'blazepose', '--landmark-model', 'lite', '--data',
                                       str(H36M_ROOT), '--count', '6', '--json', str(tmp_path / 'report.json')]) == 0
    report = json.loads((tmp_path / 'report.json').read_text())
    assert report['front_end'] == 'blazepose' and report['count'] == 6 and report['input_size'] == 256
    assert 0 <= report['found'] <= 6 and 0 <= report['pckh'] <= 1 and 0 <= report['ranking_accuracy'] <= 1
    assert len(report['pair_accuracy']) == 16
    assert 'blazepose (lite) on 6 renders' in capsys.readouterr().out
