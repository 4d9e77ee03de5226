"""The shipped hourglass and PRCNN load, and the evaluation command reproduces docs/results.md."""
import json
import re
import sys
from pathlib import Path

import pytest

from pose3d_ros.models.hourglass import load_hourglass
from pose3d_ros.models.prcnn import load_prcnn
from pose3d_ros.paths import DEFAULT_HOURGLASS, DEFAULT_PRCNN, WEIGHTS_DIR
from training import evaluate_image_models

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from h36m_data import H36M_ROOT, needs_h36m  # noqa: E402

RESULTS = Path(__file__).resolve().parents[3] / 'docs' / 'results.md'
# | `hourglass_small.pt` | — | 200 | PCKh@0.5 | 0.853 |   in the "Shipped image weights" table; a
# PRCNN row's "hourglass" heatmaps come from its namesake (prcnn_<x>.pt: hourglass_<x>.pt)
ROW = re.compile(r'^\| `((?:hourglass|prcnn)_\w+\.pt)` \| (ground truth|hourglass|—) \| (\d+) \| '
                 r'(PCKh@0\.5|ranking accuracy) \| ([\d.]+) \|', re.MULTILINE)
ROWS = ROW.findall(RESULTS.read_text())


def test_the_camera_nodes_default_weights_load_and_are_documented():
    for path, load in ((DEFAULT_HOURGLASS, load_hourglass), (DEFAULT_PRCNN, load_prcnn)):
        _, checkpoint = load(path)
        assert path.stat().st_size < 16 * 2 ** 20 and 'optimizer' not in checkpoint
        assert checkpoint['input_size'] == 128
    documented = {row[0] for row in ROWS}
    assert {DEFAULT_HOURGLASS.name, DEFAULT_PRCNN.name} <= documented
    for name in documented:
        assert (WEIGHTS_DIR / name).is_file(), name


@needs_h36m
@pytest.mark.parametrize('name, heatmaps, count, metric, documented', ROWS)
def test_evaluation_reproduces_the_documented_numbers(name, heatmaps, count, metric, documented, tmp_path):
    arguments = ['--data', str(H36M_ROOT), '--subjects', '9', '--count', count, '--json', str(tmp_path / 'report.json')]
    if name.startswith('hourglass') or heatmaps == 'hourglass':
        arguments += ['--hourglass', str(WEIGHTS_DIR / name.replace('prcnn_', 'hourglass_'))]
    if name.startswith('prcnn'):
        arguments += ['--prcnn', str(WEIGHTS_DIR / name)]
    assert evaluate_image_models.main(arguments) == 0
    report = json.loads((tmp_path / 'report.json').read_text())
    value = report['hourglass']['pckh'] if metric == 'PCKh@0.5' else report['prcnn']['ranking_accuracy']
    assert value == pytest.approx(float(documented), abs=0.0015)
