"""pose3d_eval_2d on a few real photos of each format, and its person matching."""
import json

import numpy as np
import pytest

from pose3d_ros.skeleton import LSP_JOINT_NAMES
from training.datasets.h36m import DEFAULT_ROOT
from training.datasets.keypoints import AnnotatedPerson
from training.evaluate_2d import assign, main

DATA = DEFAULT_ROOT.parent
pytestmark = pytest.mark.skipif(not (DATA / 'lspet').is_dir(), reason=f'real photos not found in {DATA}')


class Found:
    """A Person2D stand-in: DETECTED_JOINTS pixels built from LSP-order joints."""

    def __init__(self, lsp_joints):
        from pose3d_ros.skeleton import LSP_IN_DETECTED
        self.joints_2d = np.zeros((16, 2))
        self.joints_2d[LSP_IN_DETECTED] = lsp_joints
        self.confidence = np.ones(16)


def test_people_are_matched_one_to_one_nearest_first_within_their_size():
    rng = np.random.default_rng(0)
    annotated = [AnnotatedPerson(rng.uniform(0, 100, (14, 2)) + offset, np.ones(14, bool)) for offset in (0, 500)]
    found = [Found(annotated[1].joints + 3), Found(annotated[0].joints - 2), Found(annotated[0].joints + 4000)]
    assert assign(found, annotated) == {0: 1, 1: 0}
    assert assign(found[2:], annotated) == {}  # far from everyone: no match


def test_the_command_scores_lsp_coco_and_mpii_photos(tmp_path):
    report_path = tmp_path / 'report.json'
    assert main(['--lsp', str(DATA / 'lspet' / 'joints.mat'), '--limit', '3', '--backend', 'pytorch',
                 '--landmark-model', 'lite',  # the fastest: what is checked here is the scoring
                 '--coco', str(DATA / 'multi-person' / 'coco' / 'test_coco.json'),
                 '--mpii', str(DATA / 'mpii-samples' / 'test_mpii.json'), '--json', str(report_path),
                 '--overlay', str(tmp_path / 'overlay.png')]) == 0
    report = json.loads(report_path.read_text())
    lsp = report['lsp']
    assert lsp['photos'] == 3 and lsp['split'] == 'validation' and 0.3 < lsp['pck@0.2'] <= 1
    assert list(lsp['pck@0.2_per_joint']) == list(LSP_JOINT_NAMES)
    coco = report['coco'][str(DATA / 'multi-person' / 'coco' / 'test_coco.json')]
    assert coco['people_annotated'] == 12 and 0 < coco['people_matched'] <= coco['people_found']
    assert report['mpii']['people'] == 5 and report['mpii']['pckh@0.5'] > 0.5
    assert (tmp_path / 'overlay.png').stat().st_size > 10_000


def test_bad_files_end_in_one_error_line(tmp_path, capsys):
    assert main(['--lsp', str(tmp_path / 'joints.mat'), '--backend', 'pytorch']) == 2
    assert 'error: ' in capsys.readouterr().err
