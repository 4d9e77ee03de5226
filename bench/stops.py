"""Scripted stops of the camera and lifter executables in every lifecycle state: exit codes, hangs,
stop times.

    PYTHONPATH=. .venv/bin/python bench/stops.py [--stops 100] [--nodes camera lifter] \
        [--states unconfigured failed_configure active loaded configuring] [--cache-dir ~/.cache/pose3d_ros]

The stops are shared evenly among the (node, state) pairs; the signals go SIGINT, SIGTERM, SIGINT
twice, SIGTERM twice in turn (twice: 10-200 ms apart, as a Ctrl-C under ros2 launch arrives: the
terminal signals the process group and launch forwards its own SIGINT). Each stop starts the
node's executable (.venv/bin/camera or lifter, in a namespace of its own in a private ROS domain
on localhost), waits until it is in the state, then a random 0-0.5 s more (the signal lands anywhere
in the spin loop or a callback), sends the signal and times the exit:
  unconfigured      no autostart; the node answers get_state 'unconfigured'
  failed_configure  autostart with a checkpoint of the wrong kind (lifter: the hourglass; camera:
                    a PRCNN of another architecture, written here): configure has failed and
                    the node answers 'unconfigured'
  active            autostart; the node answers 'active'
  loaded            active with input (lifter: skeleton_replay at 500 Hz; camera: image_source's
                    demo at 60 Hz, more than the node processes); the node's outputs are flowing
  configuring       no autostart, a cache_dir without exports: configure requested, and the
                    signal sent 1.5 s later while the ONNX export runs (checked: it still runs)
The camera runs its default front end (BlazePose, ONNX Runtime) from --cache-dir, where its
exports must exist (tools/setup fetches the files; the first configure exports them, ~20 s).
A stop fails when the exit code is not 0, when it takes longer than --slow-s (2 s), when the
process is still running after --hang-s (then it is killed), or when its output holds a Traceback.
Prints one line per failure and a summary per (node, state): stops, stop time median and max.
"""
import argparse
import itertools
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NS = f'/pose3d_stops_{os.getpid()}'  # its own namespace: other tests may share the random domain
NODES = ('camera', 'lifter')
STATES = ('unconfigured', 'failed_configure', 'active', 'loaded', 'configuring')
# (signal, times sent) in turn
PATTERNS = ((signal.SIGINT, 1), (signal.SIGTERM, 1), (signal.SIGINT, 2), (signal.SIGTERM, 2))
CONFIGURE_STARTED_S = 1.5
LOADS = {'lifter': ['skeleton_replay', '-p', 'rate_hz:=500.0'],
         'camera': ['image_source', '-p', 'rate_hz:=60.0', '-p', 'image_width:=320', '-p', 'image_height:=240']}
OUTPUTS_BEFORE_STOP = 5  # 'loaded': outputs seen before the signal
STATE_TIMEOUT_S = 120.0  # a first camera configure may export BlazePose


def wrong_architecture_prcnn(folder):
    """The shipped PRCNN with its model spec changed to another depth: the state_dict does not fit."""
    import torch
    checkpoint = torch.load(ROOT / 'pose3d_ros' / 'weights' / 'prcnn_small.pt', weights_only=True)
    checkpoint['model'] = dict(checkpoint['model'], depth=34 if checkpoint['model']['depth'] == 18 else 18)
    path = Path(folder) / 'prcnn_wrong_architecture.pt'
    torch.save(checkpoint, path)
    return path


class Probe:
    """get_state and change_state of the node under test, and its outputs counted."""

    def __init__(self):
        import rclpy
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState, GetState

        from pose3d_ros.msg import Keypoints2DArray, Skeleton3DArray
        self.rclpy, self.GetState = rclpy, GetState
        self.configure_request = ChangeState.Request(transition=Transition(id=Transition.TRANSITION_CONFIGURE))
        self.node = rclpy.create_node('stops_probe')
        self.outputs = 0
        for message_type, topic in ((Skeleton3DArray, 'skeleton'), (Keypoints2DArray, 'keypoints_2d')):
            self.node.create_subscription(message_type, f'{NS}/{topic}', self._count, 10)
        self.get_state = {name: self.node.create_client(GetState, f'{NS}/{name}/get_state') for name in NODES}
        self.change_state = {name: self.node.create_client(ChangeState, f'{NS}/{name}/change_state')
                             for name in NODES}

    def _count(self, msg):
        self.outputs += 1

    def state(self, name, timeout_s=2.0):
        """The node's state label, or None if it does not answer within timeout_s."""
        client = self.get_state[name]
        if not client.wait_for_service(timeout_sec=timeout_s):
            return None
        future = client.call_async(self.GetState.Request())
        deadline = time.monotonic() + timeout_s
        while not future.done() and time.monotonic() < deadline:
            self.rclpy.spin_once(self.node, timeout_sec=0.02)
        if not future.done():
            client.remove_pending_request(future)
            return None
        return future.result().current_state.label

    def start_configure(self, name):
        """Request a configure, and return once it has been running for CONFIGURE_STARTED_S."""
        future = self.change_state[name].call_async(self.configure_request)
        self.spin_for(CONFIGURE_STARTED_S)
        if future.done():
            raise RuntimeError(f'the {name} configure ended within {CONFIGURE_STARTED_S} s: is the cache empty?')

    def spin_for(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.rclpy.spin_once(self.node, timeout_sec=0.02)


def reached(probe, name, state, log_path):
    """Whether the node is in `state` (as bench/stops.py's docstring defines them; 'configuring':
    in the state to request the configure from)."""
    label = probe.state(name)
    if state == 'failed_configure':
        return label == 'unconfigured' and 'configure failed' in log_path.read_text()
    if state == 'loaded':
        return label == 'active' and probe.outputs >= OUTPUTS_BEFORE_STOP
    return label == {'configuring': 'unconfigured'}.get(state, state)


def state_parameters(name, state, cache_dir, scratch):
    """The -p parameters that bring the node to `state` (autostart does the transitions)."""
    if state == 'configuring':  # no exports, only the fetched BlazePose files
        from pose3d_ros.models.blazepose_release import SUBFOLDER, model_dir
        empty = Path(tempfile.mkdtemp(dir=scratch, prefix='empty_cache_'))
        (empty / SUBFOLDER).symlink_to(model_dir(), target_is_directory=True)
        return [f'cache_dir:={empty}']
    parameters = [f'cache_dir:={cache_dir}'] + ([] if state == 'unconfigured' else ['autostart:=true'])
    if state == 'failed_configure' and name == 'lifter':
        parameters.append(f'lifter_checkpoint:={ROOT / "pose3d_ros" / "weights" / "hourglass_small.pt"}')
    elif state == 'failed_configure':
        parameters += ['front_end:=drpose3d', f'prcnn_checkpoint:={wrong_architecture_prcnn(scratch)}']
    return parameters


def stop_once(probe, name, state, pattern, parameters, log_path, hang_s):
    """Start the node, bring it to `state`, send the signal as `pattern` says -> (exit code or None
    if it hung, stop seconds, output). The node never outlives the call."""
    arguments = [str(BIN / name), '--ros-args', '-r', f'__ns:={NS}']
    for parameter in parameters:
        arguments += ['-p', parameter]
    with open(log_path, 'w') as log:
        process = subprocess.Popen(arguments, stdout=log, stderr=subprocess.STDOUT)
    try:
        probe.outputs = 0
        deadline = time.monotonic() + STATE_TIMEOUT_S
        while not reached(probe, name, state, log_path):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f'{name} never reached {state} (exit code {process.poll()}):\n'
                                   f'{log_path.read_text()[-3000:]}')
            probe.spin_for(0.1)
        if state == 'configuring':
            probe.start_configure(name)
        probe.spin_for(random.uniform(0.0, 0.5))
        signum, times = pattern
        started = time.monotonic()
        for time_sent in range(times):
            if time_sent:
                time.sleep(random.uniform(0.01, 0.2))
            process.send_signal(signum)
        try:
            returncode = process.wait(timeout=hang_s)
        except subprocess.TimeoutExpired:
            returncode = None
        return returncode, time.monotonic() - started, log_path.read_text()
    finally:
        process.kill()
        process.wait()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--stops', type=int, default=100, help='stops in all, shared among the (node, state) pairs')
    parser.add_argument('--nodes', nargs='+', choices=NODES, default=list(NODES))
    parser.add_argument('--states', nargs='+', choices=STATES, default=list(STATES))
    parser.add_argument('--cache-dir', default='~/.cache/pose3d_ros', help='the nodes\' cache_dir')
    parser.add_argument('--hang-s', type=float, default=10.0, help='a stop taking longer is a hang')
    parser.add_argument('--slow-s', type=float, default=2.0, help='a stop taking longer fails (issue 17\'s bound)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the delays before the signals')
    args = parser.parse_args(argv)
    random.seed(args.seed)
    os.environ.update(ROS_DOMAIN_ID=str(random.SystemRandom().randint(1, 101)),
                      ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    import rclpy
    rclpy.init()
    probe = Probe()
    scratch = Path(tempfile.mkdtemp(prefix='stops_'))
    cache_dir = Path(args.cache_dir).expanduser()
    pairs = list(itertools.product(args.nodes, args.states))
    failures, all_times = 0, []
    try:
        for index, (name, state) in enumerate(pairs):
            count = args.stops // len(pairs) + (index < args.stops % len(pairs))
            load = None
            if state == 'loaded':
                program, *load_parameters = LOADS[name]
                load = subprocess.Popen([str(BIN / program), '--ros-args', '-r', f'__ns:={NS}', *load_parameters],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times = []
            try:
                for k in range(count):
                    pattern = PATTERNS[k % len(PATTERNS)]
                    returncode, seconds, output = stop_once(
                        probe, name, state, pattern, state_parameters(name, state, cache_dir, scratch),
                        scratch / f'{name}_{state}_{k}.log', args.hang_s)
                    times.append(seconds)
                    if returncode != 0 or seconds > args.slow_s or 'Traceback' in output:
                        failures += 1
                        what = 'hang' if returncode is None else f'exit code {returncode}'
                        print(f'FAIL {name} {state} {signal.Signals(pattern[0]).name} x{pattern[1]}: {what} after '
                              f'{seconds:.2f} s; output:\n{output[-2000:]}', flush=True)
            finally:
                if load is not None:
                    load.send_signal(signal.SIGINT)
                    load.wait()
            all_times += times
            if times:
                print(f'{name:7s} {state:17s} {len(times):3d} stops, stop time median '
                      f'{statistics.median(times):.2f} s, max {max(times):.2f} s', flush=True)
    finally:
        probe.node.destroy_node()
        rclpy.try_shutdown()
    print(f'{len(all_times)} stops over {len(pairs)} (node, state) pairs: {failures} failed (non-zero exit, hang, '
          f'slower than {args.slow_s:g} s or traceback); stop time median {statistics.median(all_times):.2f} s, '
          f'max {max(all_times):.2f} s')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
