"""Fuzz + soak of the camera and lifter nodes: seeded malformed messages among valid frames for
minutes; every malformed message counted by reason, no valid frame lost, resident memory, exits.

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python bench/fuzz_soak.py [--minutes 10] [--json results.json] \
        [--camera-rate 40] [--lifter-rate 200] [--cache-dir ~/.cache/pose3d_ros] [--seed 17]

Starts three node processes from .venv/bin, each in a namespace of its own in a private ROS domain
on localhost, with autostart: `camera` twice (renamed camera_raw and camera_compressed: one node
reads one image transport, and the fuzz needs both to reach every check) and `lifter` (default
ONNX Runtime backend; its DPNet export comes from --cache-dir, made there on a first run). The
cameras run the drpose3d front end on random-weight 64 px networks (test/pose3d_ros/
random_networks.py; pytorch backend, as the camera node test): a valid frame costs a few ms, so
on 2 cores the node spends its time on the image checks, which do not depend on the front end
(BlazePose would spend ~30 ms of network time per valid frame and needs the fetched files). Their
subscriptions are reliable with a deep history (qos_depth 100), so DDS loses nothing.

The messages are test/pose3d_ros/nodes/malformed.py's, as the nodes' fuzz tests send them:
  camera_*  --camera-rate malformed images a second each (raw / compressed mutants whose reason is
            known beforehand: the node's checks run here too) and a valid 320 x 240 frame after
            every --valid-every; the camera keeps the newest frame only (a one-slot mailbox), so
            after a valid frame nothing more is sent to it until its keypoints come out (lost
            after --lost-after-s)
  lifter    --lifter-rate messages a second: each valid frame's keypoints_2d and ranking with
            --malformed-per-frame malformed keypoints_2d / ranking / camera_info messages around
            them (many with the valid frame's stamp), a valid camera_info every second
The first --warmup-s are counted too; each node's VmRSS is read from /proc when they are over
(start), every 30 s, and after the last message (end). Then SIGINT to each node, and its exit code.

Prints, and with --json writes, per node: messages tried, rejections / drops by reason (their
/diagnostics counters over the run), valid frames sent and lost, internal errors, warning lines
logged (rate-limited to one per reason and log_period_s: the bound is checked), RSS start / end /
max / growth and the samples, exit code. Exits 1 if a valid frame is lost, a malformed message is
not counted (or counted under another reason), a node logs an internal error, a traceback or a
codec line, writes more warning lines than the rate limit allows, crashes, or exits non-zero after
SIGINT. (A message lost in the lifter's input queue is counted there, as 'lost in queue or
transport'.)
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from pose3d_ros.images import compressed_msg, image_to_msg
from pose3d_ros.msg import DepthRankingArray, Keypoints2DArray, Skeleton3DArray
from pose3d_ros.nodes.camera import REJECTION_REASONS
from pose3d_ros.nodes.lifecycle import DEFAULT_LOG_PERIOD_S
from pose3d_ros.nodes.lifter import DROP_REASONS

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / 'test' / 'pose3d_ros' / 'nodes'), str(ROOT / 'test' / 'pose3d_ros')]
from malformed import (CODEC_LINE_STARTS, COMPRESSED_FUZZ, FRAME_ID, RAW_FUZZ, camera_info,  # noqa: E402
                       compressed_bases, compressed_mutant, expected_reason, keypoints, malformed_lifter_message,
                       raw_mutant, ranking)
from random_networks import write_networks  # noqa: E402
BIN = Path(sys.executable).parent
BASE_NS = f'/pose3d_fuzz_soak_{os.getpid()}'  # its own namespaces: other runs may share the random domain
CAMERAS = {'camera_raw': 'raw', 'camera_compressed': 'compressed'}
RSS_PERIOD_S = 30.0
SETTLE_S = 20.0  # at the end, for the last messages to be handled and counted
STOP_TIMEOUT_S = 20.0
CAMERA_INFO_PERIOD_S = 1.0
# After a stall of this process, each stream catches up at most this much at once: a longer burst
# (1 s of the lifter's: 200 messages) overflows the nodes' input queues (the lifter's: 10 a topic)
# and loses messages to the bench's stall, not to the rates set.
CATCH_UP_S = 0.02


def vm_rss_mib(pid):
    line = next(line for line in Path(f'/proc/{pid}/status').read_text().splitlines() if line.startswith('VmRSS'))
    return int(line.split()[1]) / 1024


def counters(values, keys):
    return {key: int(values[key]) for key in keys}


def header_now(node):
    return Header(stamp=node.get_clock().now().to_msg(), frame_id=FRAME_ID)


class CameraFuzz:
    """Malformed images of one transport to one camera, a valid frame after every `valid_every`."""

    def __init__(self, node, name, transport, rng, bases, valid_every, lost_after_s):
        self.node, self.transport, self.rng, self.bases = node, transport, rng, bases
        self.valid_every, self.lost_after_s = valid_every, lost_after_s
        self.kinds = list(RAW_FUZZ if transport == 'raw' else COMPRESSED_FUZZ)
        ns = f'{BASE_NS}/{name}'
        topic, message_type = (('image', Image) if transport == 'raw' else ('image/compressed', CompressedImage))
        self.publisher = node.create_publisher(message_type, f'{ns}/{topic}', 10)
        node.create_subscription(Keypoints2DArray, f'{ns}/keypoints_2d', self._on_keypoints, 100)
        self.rgb = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
        self.out = set()  # stamps (sec, nanosec) of the keypoints that came out
        self.sent, self.undetectable = Counter(), Counter()  # malformed by reason; mutants not sent, by kind
        self.valid_sent, self.lost = 0, []
        self.waiting = None  # (stamp, sent monotonic) of the valid frame not out yet
        self.since_valid = 0

    def _on_keypoints(self, msg):
        self.out.add((msg.header.stamp.sec, msg.header.stamp.nanosec))

    def publish_valid(self):
        header = header_now(self.node)
        msg = image_to_msg(header, self.rgb) if self.transport == 'raw' else compressed_msg(header, self.rgb, 'jpeg')
        self.publisher.publish(msg)
        self.valid_sent += 1
        self.waiting = ((msg.header.stamp.sec, msg.header.stamp.nanosec), time.monotonic())

    def valid_pending(self):
        """Whether the last valid frame is still on its way (marked lost after lost_after_s)."""
        if self.waiting is None:
            return False
        stamp, sent_at = self.waiting
        if stamp in self.out:
            self.waiting = None
        elif time.monotonic() - sent_at > self.lost_after_s:
            self.lost.append(stamp)
            self.waiting = None
        return self.waiting is not None

    def step(self):
        if self.valid_pending():
            return
        if self.since_valid >= self.valid_every:
            self.publish_valid()
            self.since_valid = 0
            return
        kind = self.kinds[int(self.rng.integers(len(self.kinds)))]
        msg = (raw_mutant(kind, header_now(self.node), self.rng) if self.transport == 'raw'
               else compressed_mutant(kind, header_now(self.node), self.rng, self.bases))
        reason = expected_reason(msg, self.transport)
        if reason is None:  # decodes without a complaint: not malformed as far as anyone can tell
            self.undetectable[kind] += 1
            return
        self.publisher.publish(msg)
        self.sent[reason] += 1
        self.since_valid += 1


class LifterFuzz:
    """Valid frames with malformed keypoints_2d / ranking / camera_info messages around them."""

    def __init__(self, node, rng, malformed_per_frame):
        self.node, self.rng, self.malformed_per_frame = node, rng, malformed_per_frame
        ns = f'{BASE_NS}/lifter'
        self.publishers = {'camera_info': node.create_publisher(CameraInfo, f'{ns}/camera_info', 10),
                           'keypoints': node.create_publisher(Keypoints2DArray, f'{ns}/keypoints_2d', 10),
                           'ranking': node.create_publisher(DepthRankingArray, f'{ns}/ranking', 10)}
        node.create_subscription(Skeleton3DArray, f'{ns}/skeleton', self._on_skeleton, 100)
        self.lifted = {}  # stamp -> the ids of the people lifted
        self.queue = []  # (publisher kind, message, drop reason or None if valid) to send, in order
        self.sent = Counter()  # malformed by (kind, drop reason)
        self.valid_stamps = []
        self.camera_info_at = 0.0
        self.camera_infos_sent = 0  # valid ones, in the fuzz

    def _on_skeleton(self, msg):
        self.lifted[(msg.header.stamp.sec, msg.header.stamp.nanosec)] = [person.id for person in msg.people]

    def publish_camera_info(self):
        info = camera_info()
        info.header = header_now(self.node)
        self.publishers['camera_info'].publish(info)
        self.camera_info_at = time.monotonic()

    @staticmethod
    def valid_arrays(header):
        """A valid frame: (publisher kind, message) of its keypoints_2d and ranking, one person (id 0)."""
        return [('keypoints', Keypoints2DArray(header=header, people=[keypoints(header)])),
                ('ranking', DepthRankingArray(header=header, people=[ranking(header)]))]

    def publish_frame(self):
        """One valid frame at once (the warm-up's) -> its stamp."""
        header = header_now(self.node)
        for kind, msg in self.valid_arrays(header):
            self.publishers[kind].publish(msg)
        return header.stamp.sec, header.stamp.nanosec

    def _next_frame(self):
        """Queue a valid frame's two arrays, the malformed messages before, between and after them
        (as the lifter node test's fuzz does)."""
        header = header_now(self.node)
        valid = [(kind, msg, None) for kind, msg in self.valid_arrays(header)]
        bad = [malformed_lifter_message(header, self.rng) for _ in range(self.malformed_per_frame)]
        slots = self.rng.integers(0, 3, len(bad))
        around = [[message for message, slot in zip(bad, slots) if slot == k] for k in range(3)]
        self.queue = around[0] + valid[:1] + around[1] + valid[1:] + around[2]
        self.valid_stamps.append((header.stamp.sec, header.stamp.nanosec))

    def step(self):
        if time.monotonic() - self.camera_info_at > CAMERA_INFO_PERIOD_S:
            self.publish_camera_info()
            self.camera_infos_sent += 1
            return
        if not self.queue:
            self._next_frame()
        self._publish_next()

    def _publish_next(self):
        kind, msg, reason = self.queue.pop(0)
        self.publishers[kind].publish(msg)
        if reason is not None:
            self.sent[kind, reason] += 1

    def finish_frame(self):
        """Send the rest of the frame in progress (its valid frame is already among those sent)."""
        while self.queue:
            self._publish_next()

    def lost(self):
        return [stamp for stamp in self.valid_stamps if self.lifted.get(stamp) != [0]]


class Bench:
    """The probe node: publishers and subscriptions of the three nodes, their /diagnostics."""

    def __init__(self, args):
        self.node = rclpy.create_node('fuzz_soak')
        self.diagnostics = {}  # status name -> (arrival count, {key: value}) of the newest
        self.arrivals = 0
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 50)
        rng = np.random.default_rng(args.seed)
        bases = compressed_bases(args.seed)
        self.cameras = {name: CameraFuzz(self.node, name, transport, rng, bases, args.valid_every, args.lost_after_s)
                        for name, transport in CAMERAS.items()}
        self.lifter = LifterFuzz(self.node, rng, args.malformed_per_frame)

    def _on_diagnostics(self, msg):
        for status in msg.status:
            self.arrivals += 1
            self.diagnostics[status.name] = (self.arrivals, {kv.key: kv.value for kv in status.values})

    def spin_for(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.01)

    def spin_until(self, predicate, timeout_s, what):
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise RuntimeError(f'timed out after {timeout_s} s waiting for {what}')
            rclpy.spin_once(self.node, timeout_sec=0.01)

    def next_diagnostics(self, status_name, timeout_s=10.0):
        """The values of the node's next /diagnostics status (one published from now on)."""
        seen = self.diagnostics.get(status_name, (self.arrivals, None))[0]
        self.spin_until(lambda: self.diagnostics.get(status_name, (0,))[0] > seen, timeout_s,
                        f'the diagnostics of {status_name}')
        return self.diagnostics[status_name][1]

    def warm_up(self):
        """Each node subscribed and one valid frame through it."""
        for name, camera in self.cameras.items():
            self.spin_until(lambda: camera.publisher.get_subscription_count(), 120.0, f'{name} to subscribe')

            def one_out():
                camera.publish_valid()
                self.spin_for(0.5)
                return camera.waiting[0] in camera.out

            self.spin_until(one_out, 60.0, f'a first frame through {name}')
            camera.waiting, camera.valid_sent = None, 0
        self.spin_until(lambda: all(p.get_subscription_count() for p in self.lifter.publishers.values()), 120.0,
                        'the lifter to subscribe')

        def lifted_one():
            self.lifter.publish_camera_info()
            stamp = self.lifter.publish_frame()
            self.spin_for(0.5)
            return stamp in self.lifter.lifted

        self.spin_until(lifted_one, 120.0, 'a first frame through the lifter')


def start_nodes(args, scratch):
    """The three node processes -> ({name: Popen}, {name: log path})."""
    networks = write_networks(scratch, 64)
    common = ['-p', 'autostart:=true', '-p', f'cache_dir:={Path(args.cache_dir).expanduser()}']
    camera = ['-p', 'backend:=pytorch', '-p', 'front_end:=drpose3d',
              '-p', f'hourglass_checkpoint:={networks["hourglass"]}', '-p', f'prcnn_checkpoint:={networks["prcnn"]}',
              '-p', 'qos_reliability:=reliable', '-p', 'qos_depth:=100']
    commands = {name: ['camera', '-r', f'__node:={name}', *camera, '-p', f'image_transport:={transport}']
                for name, transport in CAMERAS.items()}
    commands['lifter'] = ['lifter']
    processes, logs = {}, {}
    for name, (executable, *parameters) in commands.items():
        logs[name] = scratch / f'{name}.log'
        with open(logs[name], 'w') as log:
            processes[name] = subprocess.Popen(
                [str(BIN / executable), '--ros-args', '-r', f'__ns:={BASE_NS}/{name}', *parameters, *common],
                stdout=log, stderr=subprocess.STDOUT)
    return processes, logs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--minutes', type=float, default=10.0, help='fuzz this long (the warm-up included)')
    parser.add_argument('--warmup-s', type=float, default=30.0, help='fuzz this long before the start RSS')
    parser.add_argument('--camera-rate', type=float, default=40.0, help='images a second to each camera')
    parser.add_argument('--valid-every', type=int, default=5, help='a valid image after this many malformed ones')
    parser.add_argument('--lost-after-s', type=float, default=10.0, help='a valid image not out by then is lost')
    parser.add_argument('--lifter-rate', type=float, default=200.0, help='messages a second to the lifter')
    parser.add_argument('--malformed-per-frame', type=int, default=5, help='malformed messages per valid lifter frame')
    parser.add_argument('--cache-dir', default='~/.cache/pose3d_ros', help='the nodes\' cache_dir')
    parser.add_argument('--seed', type=int, default=17)
    parser.add_argument('--json', help='write the results here')
    args = parser.parse_args(argv)
    os.environ.update(ROS_DOMAIN_ID=str(random.SystemRandom().randint(1, 101)),
                      ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    rclpy.init()
    bench = Bench(args)
    scratch = Path(tempfile.mkdtemp(prefix='fuzz_soak_'))
    processes, logs = start_nodes(args, scratch)
    status_names = {**{name: f'{name}: detection' for name in CAMERAS}, 'lifter': 'lifter: lifting'}
    camera_keys = ('frames processed', 'frames dropped (stale)', 'messages rejected', 'internal errors',
                   *(f'rejected: {reason}' for reason in REJECTION_REASONS))
    lifter_keys = ('frames lifted', 'messages rejected', 'people rejected', 'internal errors',
                   *(f'messages dropped: {reason}' for reason in DROP_REASONS))
    keys = {**dict.fromkeys(CAMERAS, camera_keys), 'lifter': lifter_keys}
    failures, results = [], {}
    try:
        bench.warm_up()
        before = {name: counters(bench.next_diagnostics(status), keys[name]) for name, status in status_names.items()}
        log_lines_before = {name: len(path.read_text().splitlines()) for name, path in logs.items()}
        streams = [(camera.step, 1.0 / args.camera_rate) for camera in bench.cameras.values()]
        streams.append((bench.lifter.step, 1.0 / args.lifter_rate))
        started, started_ns = time.monotonic(), bench.node.get_clock().now().nanoseconds

        def seconds_in(stamps):
            return [round((sec * 10**9 + nanosec - started_ns) / 1e9, 1) for sec, nanosec in stamps]

        end, rss_at = started + 60.0 * args.minutes, started + args.warmup_s
        due = [started] * len(streams)
        rss = {name: [] for name in processes}
        print(f'fuzzing for {args.minutes:g} min; node logs in {scratch}', flush=True)
        while (now := time.monotonic()) < end:
            for index, (step, period) in enumerate(streams):
                if now >= due[index]:
                    step()
                    due[index] = max(due[index] + period, now - CATCH_UP_S)
            if now >= rss_at:
                for name, process in processes.items():
                    if process.poll() is not None:
                        raise RuntimeError(f'{name} exited ({process.returncode}) during the fuzz')
                    rss[name].append(vm_rss_mib(process.pid))
                rss_at += RSS_PERIOD_S
            rclpy.spin_once(bench.node, timeout_sec=max(0.0, min(due) - time.monotonic()))
        bench.lifter.finish_frame()
        fuzz_s = time.monotonic() - started
        for name, process in processes.items():  # the end sample, before the settling
            rss[name].append(vm_rss_mib(process.pid))

        # Settle: the last messages handled and counted.
        def settled():
            done = all(not camera.valid_pending() for camera in bench.cameras.values())
            return done and not bench.lifter.lost()

        try:
            bench.spin_until(settled, SETTLE_S, 'the last valid frames')
        except RuntimeError:
            pass  # lost: counted below
        bench.spin_for(2.0)  # a diagnostics period after the last message
        after = {name: counters(bench.next_diagnostics(status), keys[name]) for name, status in status_names.items()}
        delta = {name: {key: after[name][key] - before[name][key] for key in keys[name]} for name in status_names}
        for name, process in processes.items():
            if process.poll() is not None:
                failures.append(f'{name} exited ({process.returncode}) before the stop')

        period_s = DEFAULT_LOG_PERIOD_S
        for name, camera in bench.cameras.items():
            counts, sent = delta[name], camera.sent
            counted = {reason: counts[f'rejected: {reason}'] for reason in REJECTION_REASONS}
            stale, total = counts['frames dropped (stale)'], sum(sent.values())
            if sum(counted.values()) != counts['messages rejected'] or counts['messages rejected'] + stale != total:
                failures.append(f'{name}: {total} malformed sent, {counts["messages rejected"]} rejected + {stale} '
                                'replaced in the mailbox')
            wrong = {reason: (sent[reason], counted[reason]) for reason in REJECTION_REASONS
                     if not sent[reason] - stale <= counted[reason] <= sent[reason]}
            if wrong:
                failures.append(f'{name}: counted under another reason, (sent, counted): {wrong}')
            results[name] = {
                'transport': camera.transport, 'messages tried': total + camera.valid_sent, 'malformed sent': total,
                'malformed by reason': dict(sent),
                'rejected by reason': {r: n for r, n in counted.items() if n}, 'replaced in the mailbox': stale,
                'mutants not sent (decode cleanly)': dict(camera.undetectable),
                'valid frames sent': camera.valid_sent, 'valid frames lost': len(camera.lost),
                'valid frames lost at (s)': seconds_in(camera.lost),
                'internal errors': counts['internal errors'], 'warning keys': sum(1 for n in counted.values() if n)}
        lifter = bench.lifter
        counts = delta['lifter']
        dropped = {reason: counts[f'messages dropped: {reason}'] for reason in DROP_REASONS}
        sent_by_reason = Counter()
        for (_, reason), count in lifter.sent.items():
            sent_by_reason[reason] += count
        # A message that overflowed the lifter's input queue never met its checks: it is counted
        # as 'lost in queue or transport' (the sequence number gap), not under its own reason.
        short = sum(max(0, n - dropped[reason]) for reason, n in sent_by_reason.items())
        if short > dropped['lost in queue or transport']:
            failures.append(f'lifter: {short - dropped["lost in queue or transport"]} malformed messages not counted')
        if over := {reason: (n, dropped[reason]) for reason, n in sent_by_reason.items() if dropped[reason] > n}:
            failures.append(f'lifter: counted under another reason, (sent, counted): {over}')
        results['lifter'] = {
            'messages tried': sum(lifter.sent.values()) + 2 * len(lifter.valid_stamps) + lifter.camera_infos_sent,
            'malformed sent': sum(lifter.sent.values()), 'valid camera_info sent': lifter.camera_infos_sent,
            'malformed by reason': dict(sent_by_reason), 'dropped by reason': {r: n for r, n in dropped.items() if n},
            'people rejected': counts['people rejected'],
            'valid frames sent': len(lifter.valid_stamps), 'valid frames lost': len(lifter.lost()),
            'valid frames lost at (s)': seconds_in(lifter.lost()),
            'internal errors': counts['internal errors'],
            # rate-limit keys: (kind, reason) of the messages, one per kind of the people
            'warning keys': len(lifter.sent) + 2}
        for name, result in results.items():
            result['messages a second'] = round(result['messages tried'] / fuzz_s, 1)
            lines = Path(logs[name]).read_text().splitlines()[log_lines_before[name]:]
            result['warning lines'] = sum(line.startswith('[WARN]') for line in lines)
            result['warning lines bound'] = int(result['warning keys'] * (fuzz_s / period_s + 1))
            result['rss MiB'] = {'start': round(rss[name][0], 1), 'end': round(rss[name][-1], 1),
                                 'max': round(max(rss[name]), 1), 'samples': [round(v, 1) for v in rss[name]],
                                 'growth %': round(100 * (rss[name][-1] / rss[name][0] - 1), 2)}
            if result['valid frames lost']:
                failures.append(f'{name}: {result["valid frames lost"]} valid frames lost')
            if result['internal errors']:
                failures.append(f'{name}: {result["internal errors"]} internal errors')
            if result['warning lines'] > result['warning lines bound']:
                failures.append(f'{name}: {result["warning lines"]} warning lines, more than the rate limit allows')
            if codec := [line for line in lines if line.startswith(CODEC_LINE_STARTS)]:
                failures.append(f'{name}: codec lines in its output: {codec[:3]}')
        results['fuzz seconds'] = round(fuzz_s, 1)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for name, process in processes.items():
            try:
                returncode = process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                returncode = f'killed: still running {STOP_TIMEOUT_S:g} s after SIGINT'
            results.setdefault(name, {})['exit code'] = returncode
            if returncode != 0:
                failures.append(f'{name}: exit code {returncode}')
            if 'Traceback' in Path(logs[name]).read_text():
                failures.append(f'{name}: a traceback in its output ({logs[name]})')
        bench.node.destroy_node()
        rclpy.try_shutdown()
    results['failures'] = failures
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + '\n')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
