"""The README's main-job command: pose3d_run starts the graph (replay -> lifter) and prints what it
publishes."""
import re
import sys
from pathlib import Path

RUNNER = str(Path(sys.executable).parent / 'pose3d_run')
FRAME_LINE = re.compile(
    r'^frame +(\d+) +stamp [\d.]+ +latency +([\d.]+) ms \| keypoints_2d: 16 joints .*'
    r'ranking: 16x16, (\d+) behind->front edges \| ground_truth/skeleton '
    r'\(ground_truth:walking_clip\): 17 joints, root \(-?[\d.]+, -?[\d.]+, 4\.\d\d\) m, '
    r'height [\d.]+ m \| skeleton \(dpnet:lifter_dpnet\.pt\): 17 joints, MPJPE ([\d.]+) mm$')


def test_runner_prints_complete_frames(start_process):
    runner = start_process(RUNNER, '--frames', '5', '--timeout', '60')
    out, err = runner.communicate(timeout=90)
    assert runner.returncode == 0, err
    lines = [line for line in out.splitlines() if line.startswith('frame')]
    assert len(lines) == 5, out
    for number, line in enumerate(lines, start=1):
        match = FRAME_LINE.match(line)
        assert match, line
        assert int(match.group(1)) == number
        assert float(match.group(2)) < 1000.0  # stamp-to-skeleton latency on one machine
        assert 0 < int(match.group(3)) <= 16 * 15 // 2 + 16 * 15 // 2
        # The shipped DPNet on the replay's walker: about 45-65 mm per frame (measured).
        assert float(match.group(4)) < 100.0
    assert 'exception' not in err.lower(), err


def test_runner_names_a_missing_parameter_file(start_process, tmp_path):
    missing = tmp_path / 'nowhere.yaml'
    runner = start_process(RUNNER, '--params-file', str(missing))
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 2
    assert f'parameter file not found: {missing}' in err
