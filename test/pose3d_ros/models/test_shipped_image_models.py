"""The shipped hourglass and PRCNN load, and the evaluation command reproduces docs/results.md."""
import json
import re
import sys
from pathlib import Path

import pytest

from pose3d_ros.models.hourglass import load_hourglass
from pose3d_ros.models.prcnn import load_prcnn
from pose3d_ros.paths import DEFAULT_HOURGLASS, DEFAULT_PRCNN
from training import evaluate_image_models

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from h36m_data import H36M_ROOT, needs_h36m  # noqa: E402

RESULTS = Path(__file__).resolve().parents[3] / 'docs' / 'results.md'
# | `hourglass_small.pt` | none | 200 | PCKh@0.5 | 0.853 |   in the "Shipped image weights" table
ROW = re.compile(r'^\| `((?:hourglass|prcnn)_small\.pt)` \| (ground truth|hourglass|—) \| (\d+) \| '
                 r'(PCKh@0\.5|ranking accuracy) \| ([\d.]+) \|', re.MULTILINE)
ROWS = ROW.findall(RESULTS.read_text())


def test_the_camera_nodes_default_weights_load_and_are_documented():
    for path, load in ((DEFAULT_HOURGLASS, load_hourglass), (DEFAULT_PRCNN, load_prcnn)):
        _, checkpoint = load(path)
        assert path.stat().st_size < 16 * 2 ** 20 and 'optimizer' not in checkpoint
        assert checkpoint['input_size'] == 128
    assert {row[0] for row in ROWS} == {DEFAULT_HOURGLASS.name, DEFAULT_PRCNN.name}
    assert len(ROWS) == 3


@needs_h36m
@pytest.mark.parametrize('name, heatmaps, count, metric, documented', ROWS)
def test_evaluation_reproduces_the_documented_numbers(name, heatmaps, count, metric, documented, tmp_path):
    weights = {'hourglass': str(DEFAULT_HOURGLASS), 'prcnn': str(DEFAULT_PRCNN)}
    arguments = ['--data', str(H36M_ROOT), '--subjects', '9', '--count', count, '--json', str(tmp_path / 'report.json')]
    if name.startswith('hourglass') or heatmaps == 'hourglass':
        arguments += ['--hourglass', weights['hourglass']]
    if name.startswith('prcnn'):
        arguments += ['--prcnn', weights['prcnn']]
    assert evaluate_image_models.main(arguments) == 0
    report = json.loads((tmp_path / 'report.json').read_text())
    value = report['hourglass']['pckh'] if metric == 'PCKh@0.5' else report['prcnn']['ranking_accuracy']
    assert value == pytest.approx(float(documented), abs=0.0015)
