import re
import sys
from pathlib import Path

from training import h36m_stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from h36m_data import H36M_ROOT, needs_h36m  # noqa: E402


@needs_h36m
def test_stats_command_prints_frames_vc_and_depths(capsys):
    assert h36m_stats.main(['--data', str(H36M_ROOT), '--subjects', '9']) == 0
    out = capsys.readouterr().out
    assert "warning: 3D poses missing: " in out and 'Discussion 1.h5' in out
    walking = re.search(r'^Walking +(\d+)$', out, re.MULTILINE)
    assert walking and int(walking.group(1)) > 0
    distances = re.search(r'S9: V_c = .*; normal fit (\d+) \+- (\d+)', out)
    assert distances and 3000 < int(distances.group(1)) < 8000
    depths = [float(v) for v in re.search(r'^S9: ([\d. /]+)$', out, re.MULTILINE).group(1).split(' / ')]
    assert depths == sorted(depths) and 2000 < depths[2] < 8000


def test_stats_command_names_a_folder_that_is_not_human36m(tmp_path, capsys):
    try:
        h36m_stats.main(['--data', str(tmp_path)])
    except SystemExit as exit:
        assert exit.code == 2
    assert f'not a Human3.6M folder (no cameras.h5): {tmp_path}' in capsys.readouterr().err
