"""The shipped lifters load, and the evaluation command reproduces docs/results.md with them."""
import json
import re
import sys
from pathlib import Path

import pytest

from pose3d_ros.models.lifter import load_lifter
from pose3d_ros.paths import DEFAULT_LIFTER
from pose3d_ros.paths import WEIGHTS_DIR
from training import evaluate_lifter

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from h36m_data import H36M_ROOT, needs_h36m  # noqa: E402

RESULTS = Path(__file__).resolve().parents[3] / 'docs' / 'results.md'
NOISE = Path(__file__).resolve().parents[3] / 'training' / 'noise'
# | `lifter_dpnet.pt` | 1 | detections | noisy | 9 | 58.8 | 47.3 | 185.9 |  in the "Shipped checkpoints"
# table (MPJPE, PA-MPJPE, MRPE; an MRPE cell `185.9 / 132.8` adds the MRPE with --ground-prior);
# 2D `ground_truth+<model>` adds training/noise/<model>.npz, ranking `noisy:<file>` flips with
# training/noise/<file>.npy's per-pair accuracies (or `noisy:<accuracy>` with one for all pairs),
# `noisy:<pairs>+<file>` first moves the depths by training/noise/<file>.npy's per-joint errors.
ROW = re.compile(r'^\| `(lifter_\w+\.pt)` \| ([123]) \| (ground_truth|detections)(?:\+(\w+))? \| '
                 r'(none|ground_truth|noisy)(?::([\w.]+))?(?:\+(\w+))? \| ([\d ]+) \| ([\d.]+) \| ([\d.]+) \| '
                 r'([\d.]+)(?: / ([\d.]+))? \|', re.MULTILINE)
ROWS = ROW.findall(RESULTS.read_text())


def test_the_default_lifter_and_every_documented_one_loads():
    assert DEFAULT_LIFTER.is_file()
    assert (WEIGHTS_DIR / 'MODEL_CARD.md').is_file()
    assert len(ROWS) >= 4
    for name in {row[0] for row in ROWS} | {DEFAULT_LIFTER.name}:
        model, checkpoint = load_lifter(WEIGHTS_DIR / name)
        assert (WEIGHTS_DIR / name).stat().st_size < 16 * 2 ** 20
        assert 'optimizer' not in checkpoint


@needs_h36m
@pytest.mark.parametrize('name, protocol, inputs, noise, ranking, pairs, depths, subjects, documented, aligned, mrpe, '
                         'mrpe_on_floor', ROWS)
def test_evaluation_reproduces_the_documented_error(name, protocol, inputs, noise, ranking, pairs, depths, subjects,
                                                    documented, aligned, mrpe, mrpe_on_floor, tmp_path):
    report = tmp_path / 'report.json'
    arguments = ['--checkpoint', str(WEIGHTS_DIR / name), '--data', str(H36M_ROOT), '--protocol', protocol,
                 '--inputs-2d', inputs, '--ranking', ranking, '--subjects', *subjects.split(),
                 '--json', str(report)]
    arguments += ['--front-end-noise', str(NOISE / f'{noise}.npz')] if noise else []
    if pairs:
        arguments += ['--pair-accuracy', pairs if re.fullmatch(r'[\d.]+', pairs) else str(NOISE / f'{pairs}.npy')]
    arguments += ['--depth-error-mm', str(NOISE / f'{depths}.npy')] if depths else []
    assert evaluate_lifter.main(arguments) == 0
    result = json.loads(report.read_text())
    assert result['mpjpe_mm'] == pytest.approx(float(documented), abs=0.06)
    assert result['pa_mpjpe_mm'] == pytest.approx(float(aligned), abs=0.06)
    assert result['mrpe_mm'] == pytest.approx(float(mrpe), abs=0.06)
    if mrpe_on_floor:
        assert evaluate_lifter.main(arguments + ['--ground-prior']) == 0
        assert json.loads(report.read_text())['mrpe_mm'] == pytest.approx(float(mrpe_on_floor), abs=0.06)
