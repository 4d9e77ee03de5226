"""pose3d_fit_detector_framing on a few real photos: the ratio drpose3d.DETECTOR_FRAMING comes from."""
import json

import pytest

from pose3d_ros.inference.drpose3d import DETECTOR_FRAMING
from training.datasets.h36m import DEFAULT_ROOT
from training.fit_detector_framing import main

JOINTS = DEFAULT_ROOT.parent / 'lspet' / 'joints.mat'
pytestmark = pytest.mark.skipif(not JOINTS.is_file(), reason=f'real photos not found in {JOINTS.parent}')


def test_detected_people_are_framed_about_as_the_shipped_constant(tmp_path, capsys):
    report_path = tmp_path / 'framing.json'
    assert main(['--lsp', str(JOINTS), '--every', '150', '--count', '16', '--threads', '1', '--json', str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report['photos'] == 16 and report['found'] >= 12
    # 16 photos scatter around the 317-photo median the constant is; the quartiles hold it
    assert abs(report['median'] - DETECTOR_FRAMING) < 0.12
    assert report['quartiles'][0] < report['median'] < report['quartiles'][1]
    assert 'annotated box side / detector ROI side, median' in capsys.readouterr().out


def test_a_missing_annotation_file_is_named(tmp_path, capsys):
    assert main(['--lsp', str(tmp_path / 'joints.mat')]) == 2
    assert 'joints.mat: cannot read an LSP `joints` matrix' in capsys.readouterr().err
