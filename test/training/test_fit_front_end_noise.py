"""The front end's noise model: residuals in torso lengths and the project's joints, left-right
labelling matched, the mixture fitted in torso units, and the shipped model sane."""
import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pose3d_ros.skeleton import DETECTED_JOINTS, LSP_FLIP_PERMUTATION, LSP_TO_DETECTED
from training.datasets.keypoints import AnnotatedImage, AnnotatedPerson
from training.datasets.lifting import front_end_noise_model
from training.fit_front_end_noise import best_labelling, fit, main
from training.fit_joint_regressor import prior_weights

NOISE = Path(__file__).resolve().parents[2] / 'training' / 'noise'


def test_residuals_are_torso_lengths_and_exchanged_labels_are_matched():
    rng = np.random.default_rng(0)
    weights = prior_weights()  # each LSP joint from its same-name landmarks
    regressor = SimpleNamespace(matrix=LSP_TO_DETECTED @ weights)
    images, landmarks = [], rng.uniform(0, 300, (200, 33, 2))
    for number, marks in enumerate(landmarks):
        person = AnnotatedPerson(weights @ marks, np.ones(14, bool))
        # The annotation sits 0.1 torso to the right of the front end's joints.
        person.joints = person.joints + [0.1 * person.torso_size(), 0.0]
        if number % 2:  # labelled from the viewer's side
            person.joints = person.joints[LSP_FLIP_PERMUTATION]
        images.append(AnnotatedImage(None, [person]))
    residuals, exchanged = best_labelling(landmarks, images, regressor)
    assert exchanged == pytest.approx(0.5) and residuals.shape == (200, len(DETECTED_JOINTS), 2)
    np.testing.assert_allclose(residuals, np.broadcast_to([-0.1, 0.0], residuals.shape), atol=1e-9)
    model = fit(residuals + rng.normal(0, 0.02, residuals.shape), rng)
    assert model.unit == 'torso'
    mean = np.einsum('jk,jkc->jc', model.weights, model.means)
    np.testing.assert_allclose(mean, np.tile([-0.1, 0.0], (16, 1)), atol=0.01)


def test_the_shipped_noise_model_and_pair_accuracies_load():
    model = front_end_noise_model(NOISE / 'blazepose_full_2d.npz')
    spread = np.sqrt(np.einsum('jk,jkcc->j', model.weights, model.covariances))
    assert np.all((spread > 0.02) & (spread < 2.0))  # torso lengths
    report = json.loads((NOISE / 'blazepose_full_2d.json').read_text())
    assert report['photos'] > 5000 and 'im08401' not in report['landmarks']  # LSPET training split only
    # Fitted on upright people only: lighter than the whole training split, every joint.
    upright = front_end_noise_model(NOISE / 'blazepose_full_2d_upright.npz')
    upright_spread = np.sqrt(np.einsum('jk,jkcc->j', upright.weights, upright.covariances))
    assert np.all((upright_spread > 0.02) & (upright_spread < spread))
    upright_report = json.loads((NOISE / 'blazepose_full_2d_upright.json').read_text())
    assert upright_report['upright_only'] and 1000 < upright_report['photos'] < report['photos']
    # Measured on real video against a multi-view reference: lighter still, with no annotator's clicks in it.
    video = front_end_noise_model(NOISE / 'blazepose_full_2d_video.npz')
    video_spread = np.sqrt(np.einsum('jk,jkcc->j', video.weights, video.covariances))
    assert np.all((video_spread > 0.02) & (video_spread < upright_spread))
    assert json.loads((NOISE / 'blazepose_full_2d_video.json').read_text())['views'] > 300
    pairs = np.load(NOISE / 'blazepose_full_pairs.npy')
    off_diagonal = pairs[~np.eye(16, dtype=bool)]
    assert pairs.shape == (16, 16) and 0.7 < np.nanmean(off_diagonal) < 0.95
    np.testing.assert_allclose(pairs, pairs.T, equal_nan=True)


def test_a_model_is_fitted_from_residuals_on_video(tmp_path):
    rng = np.random.default_rng(0)
    residuals = rng.normal([0.05, -0.02], 0.03, (300, len(DETECTED_JOINTS), 2))
    np.save(tmp_path / 'residuals.npy', residuals)
    out = tmp_path / 'video.npz'
    assert main(['--residuals', str(tmp_path / 'residuals.npy'), '--out', str(out)]) == 0
    model = front_end_noise_model(out)
    assert model.unit == 'torso'
    mean = np.einsum('jk,jkc->jc', model.weights, model.means)
    np.testing.assert_allclose(mean, np.tile([0.05, -0.02], (16, 1)), atol=0.01)
    report = json.loads(out.with_suffix('.json').read_text())
    assert report['views'] == 300 and report['per_joint']['hip']['median_torso'] == pytest.approx(0.05, abs=0.01)


@pytest.mark.parametrize('shape, message', [((300, 14, 2), r'expected \(views, 16, 2\).*got \(300, 14, 2\)'),
                                            ((2, 16, 2), r'at least 3 views, got \(2, 16, 2\)')])
def test_residuals_of_the_wrong_shape_are_named(tmp_path, capsys, shape, message):
    np.save(tmp_path / 'bad.npy', np.zeros(shape))
    assert main(['--residuals', str(tmp_path / 'bad.npy'), '--out', str(tmp_path / 'out.npz')]) != 0
    error = capsys.readouterr().err
    assert 'bad.npy' in error and re.search(message, error)
    assert not (tmp_path / 'out.npz').exists()


@pytest.mark.parametrize('argv, message', [(['--lsp', 'joints.mat'], '--lsp needs --landmarks'),
                                           (['--residuals', 'r.npy', '--upright'],
                                            '--landmarks and --upright go with --lsp, not --residuals'),
                                           (['--residuals', 'r.npy', '--lsp', 'joints.mat'], 'not allowed with')])
def test_one_source_of_residuals(capsys, argv, message):
    with pytest.raises(SystemExit, match='2'):
        main([*argv, '--out', 'model.npz'])
    assert message in capsys.readouterr().err
