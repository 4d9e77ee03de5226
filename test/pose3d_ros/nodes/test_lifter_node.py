"""The lifter node in its own process, driven over DDS: lifecycle services, skeleton_replay as the
input, and a probe node here that publishes inputs (one or several people, good and malformed)
and reads every output, /diagnostics and /rosout.

One lifter process serves the module (its start, which imports torch, is the slow part); each
test first puts it in the lifecycle state it needs. It runs the pytorch backend: the ONNX export
that onnxruntime needs on a fresh cache takes ~10 s and is covered by test_pipeline and test_run.
"""
import sys
from pathlib import Path

import numpy as np
import pytest
import rclpy
from rcl_interfaces.srv import SetParameters
from rclpy.duration import Duration
from rclpy.parameter import Parameter
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image, RegionOfInterest
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import Marker, MarkerArray

from pose3d_ros import images, messages
from pose3d_ros.msg import DepthRankingArray, Keypoints2DArray, Skeleton3D, Skeleton3DArray
from pose3d_ros.nodes.lifecycle import DEFAULT_LOG_PERIOD_S
from pose3d_ros.nodes.lifter import (DIAGNOSTIC_KEYS, DROP_REASONS, PERSON_PALETTE, Intrinsics, SequenceGaps,
                                     intrinsics_from_camera_info)
from pose3d_ros.root import ANKLE_HEIGHT_M
from pose3d_ros.skeleton import DETECTED_JOINTS, JOINT_NAMES, NUM_JOINTS, ROOT

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
from lifecycle_probe import BIN, NS, LifecycleProbe, node_process, stamp_ns  # noqa: E402
from malformed import (FRAME_ID, JOINTS_MM, PIXELS, camera_info, keypoints,  # noqa: E402
                       malformed_keypoints_person, malformed_lifter_message, ranking)

# The shipped DPNet (trained on Human3.6M) on the replay's procedural walker, measured: 54 mm mean,
# 46-67 mm per frame over the clip's first second (what this test sees; the whole clip: 47 mm mean,
# 38-67 mm). Bounds ~1.5x those.
MEAN_MPJPE_BOUND_MM, FRAME_MPJPE_BOUND_MM = 80.0, 100.0
# Root position error over the same frames, as a fraction of the depth (the lifter's scale against
# the walker's: a few per cent).
ROOT_ERROR_BOUND = 0.10

# The same person mirrored left-right (their left limbs on the image's left): a second person
# whose pose differs, for the frames with several people.
MIRRORED_PIXELS = PIXELS * (-1, 1) + (2 * 640.0 - 300, 0)
MARKERS_PER_PERSON = NUM_JOINTS + 1  # joints, bones


class Probe(LifecycleProbe):
    """Lifecycle and parameter clients of the lifter, input publishers, its outputs."""

    def __init__(self):
        super().__init__('lifter_probe', 'lifter', 'lifter: lifting', spin_period_s=0.05)
        self.skeletons, self.markers, self.truth = [], [], {}
        self.arrival = {}  # skeleton stamp ns -> arrival ns
        sub = self.node.create_subscription
        sub(Skeleton3DArray, f'{NS}/skeleton', self._on_skeleton, 50)
        sub(MarkerArray, f'{NS}/markers', self.markers.append, 50)
        sub(Skeleton3D, f'{NS}/ground_truth/skeleton', lambda m: self.truth.__setitem__(stamp_ns(m), m), 50)
        self.publishers = {'camera_info': self.node.create_publisher(CameraInfo, f'{NS}/camera_info', 10),
                           'keypoints': self.node.create_publisher(Keypoints2DArray, f'{NS}/keypoints_2d', 10),
                           'ranking': self.node.create_publisher(DepthRankingArray, f'{NS}/ranking', 10),
                           'depth': self.node.create_publisher(Image, f'{NS}/depth', 10)}
        self.frame = 0

    def _on_skeleton(self, msg):
        self.arrival[stamp_ns(msg)] = self.node.get_clock().now().nanoseconds
        self.skeletons.append(msg)

    def bring_up(self, fresh=False):
        """Active, from whatever state a previous test left; `fresh`: through cleanup + configure."""
        if fresh:
            self.to_unconfigured()
        self.to_active()
        self.wait_for_subscribers()

    def wait_for_subscribers(self):
        self.spin_until(lambda: all(p.get_subscription_count() for p in self.publishers.values()),
                        10.0, 'the lifter to subscribe')

    def header(self):
        self.frame += 1
        stamp = self.node.get_clock().now().to_msg()
        return Header(stamp=stamp, frame_id=FRAME_ID)

    def publish(self, kind, msg, settle_s=0.05):
        self.publishers[kind].publish(msg)
        self.spin_for(settle_s)  # keeps the lifter's view of the topics in publication order

    def publish_frame(self, keypoints_people=None, ranking_people=None, header=None):
        """One frame (keypoints + ranking arrays with one stamp; one good person, id 0, unless
        given a list of people, each made from the frame's header) -> its stamp in ns."""
        header = header or self.header()
        keypoints_people = [keypoints] if keypoints_people is None else keypoints_people
        ranking_people = [ranking] if ranking_people is None else ranking_people
        # Arrays built field by field: the tests' malformed people must reach the lifter as they are.
        self.publish('keypoints', Keypoints2DArray(header=header, people=[make(header) for make in keypoints_people]),
                     0.0)
        self.publish('ranking', DepthRankingArray(header=header, people=[make(header) for make in ranking_people]))
        return Time.from_msg(header.stamp).nanoseconds

    def publish_camera_info(self, msg=None):
        msg = msg or camera_info()
        msg.header = Header(stamp=self.node.get_clock().now().to_msg(), frame_id=FRAME_ID)
        self.publish('camera_info', msg)

    def lift_one(self, what, with_camera_info=True):
        """Publish (camera_info and) a good frame until one is lifted -> the stamps published.
        Repeats because a subscription just created may not be matched yet (best effort)."""
        stamps = []

        def lifted_one():
            if with_camera_info:
                self.publish_camera_info()
            stamps.append(self.publish_frame())
            self.spin_for(0.1)
            return any(self.lifted(stamp) for stamp in stamps)

        self.spin_until(lifted_one, 10.0, what)
        return stamps

    def output(self, stamp):
        """The skeleton array of a frame (None if it has not come)."""
        return next((s for s in self.skeletons if stamp_ns(s) == stamp), None)

    def lifted(self, stamp):
        return self.output(stamp) is not None

    def wait_output(self, stamp, what):
        """(Skeleton3DArray, MarkerArray) of one frame."""
        self.spin_until(lambda: self.lifted(stamp) and self.markers_of(stamp) is not None, 5.0, what)
        return self.output(stamp), self.markers_of(stamp)

    def markers_of(self, stamp):
        return next((a for a in self.markers if a.markers and stamp_ns(a.markers[0]) == stamp), None)



@pytest.fixture(scope='module')
def probe(tmp_path_factory):
    """One lifter process for the module (pytorch backend, /pose3d namespace) and the probe."""
    log_path = tmp_path_factory.mktemp('lifter') / 'output.log'
    with node_process('lifter', Probe, log_path, 'backend:=pytorch') as probe:
        yield probe


def check_frame_markers(array, people):
    """A frame's MarkerArray: DELETEALL first, then for each id of `people` (in order) its joints
    and bones (and ranking edges if people[id] is true) in its namespaces -> markers by (ns, id)."""
    first = array.markers[0]
    expected = [('', 0, Marker.DELETEALL)]
    for person_id, with_edges in people.items():
        expected += [(f'person_{person_id}/joints', joint, Marker.ADD) for joint in range(NUM_JOINTS)]
        expected += [(f'person_{person_id}/bones', 0, Marker.ADD)]
        expected += [(f'person_{person_id}/ranking_edges', 0, Marker.ADD)] * with_edges
    assert [(m.ns, m.id, m.action) for m in array.markers] == expected
    assert {m.header.frame_id for m in array.markers} == {FRAME_ID}
    assert {stamp_ns(m) for m in array.markers} == {stamp_ns(first)}
    return {(m.ns, m.id): m for m in array.markers[1:]}


def test_replay_to_lifter_skeletons_markers_and_diagnostics(probe, start_process):
    probe.bring_up()
    replay = start_process(str(BIN / 'skeleton_replay'), '--ros-args', '-r', f'__ns:={NS}',
                           '-p', 'rate_hz:=20.0', '-p', f'frame_id:={FRAME_ID}')
    start = len(probe.skeletons)

    def paired():
        return [s for s in probe.skeletons[start:] if stamp_ns(s) in probe.truth]

    probe.spin_until(lambda: len(paired()) >= 20, 30.0,
                     f'20 lifted frames (replay alive: {replay.poll() is None})')

    # Every skeleton array carries an input frame's header (stamp and frame_id): while the probe hears
    # the replay (its first frames may reach the lifter first), each stamp is one the replay published.
    heard = min(probe.truth), max(probe.truth)
    for array in probe.skeletons[start:]:
        assert array.header.frame_id == FRAME_ID
        assert stamp_ns(array) in probe.truth or not heard[0] <= stamp_ns(array) <= heard[1]
    errors, root_errors = [], []
    for array in paired():
        assert [person.id for person in array.people] == [0] and array.people[0].header == array.header
        skeleton = array.people[0]
        assert skeleton.root_relative and skeleton.root_known
        covariance = np.array(skeleton.root_covariance).reshape(3, 3)
        assert np.allclose(covariance, covariance.T) and np.all(np.linalg.eigvalsh(covariance) > 0)
        assert skeleton.model == 'dpnet:lifter_dpnet_video_noise.pt'
        person = messages.skeleton_from_msg(skeleton)
        assert person.joint_indices.tolist() == list(range(NUM_JOINTS)) and np.all(person.confidence == 1.0)
        np.testing.assert_allclose(person.positions[0], 0.0, atol=1e-9)
        truth = messages.skeleton_from_msg(probe.truth[stamp_ns(array)])
        assert truth.id == person.id
        errors.append(np.linalg.norm(person.positions - truth.positions, axis=1).mean() * 1000)
        root_errors.append(np.linalg.norm(person.root - truth.root) / truth.root[2])
    latency_ms = [(probe.arrival[stamp_ns(s)] - stamp_ns(s)) / 1e6 for s in paired()]
    print(f'replay -> lifter: MPJPE {np.mean(errors):.1f} mm (max {np.max(errors):.1f}), root position error '
          f'{np.mean(root_errors):.1%} of the depth, over {len(errors)} frames; stamp -> skeleton latency median '
          f'{np.median(latency_ms):.1f} ms, max {np.max(latency_ms):.1f} ms')
    assert np.mean(errors) < MEAN_MPJPE_BOUND_MM and np.max(errors) < FRAME_MPJPE_BOUND_MM, errors
    assert np.mean(root_errors) < ROOT_ERROR_BOUND, root_errors
    assert np.median(latency_ms) < 500.0, latency_ms

    # Markers: one array per frame, DELETEALL then the person's, same header, the lifetime, the
    # skeleton drawn where it stands.
    roots = {stamp_ns(s): s.people[0].root_position for s in paired()}
    arrays = [a for a in probe.markers if a.markers and stamp_ns(a.markers[0]) in roots]
    assert len(arrays) >= 15
    for array in arrays:
        markers = check_frame_markers(array, {0: False})
        assert all((m.lifetime.sec, m.lifetime.nanosec) == (0, 300_000_000) for m in markers.values())
        assert markers['person_0/joints', 0].pose.position == roots[stamp_ns(array.markers[0])]
        assert len(markers['person_0/bones', 0].points) == 2 * (NUM_JOINTS - 1)

    # Ranking edges on request, a live parameter; off again, the next frame's DELETEALL removes them.
    probe.set_parameters_(show_ranking_edges=True)
    seen = len(probe.markers)
    probe.spin_until(lambda: any(len(a.markers) == 1 + MARKERS_PER_PERSON + 1 for a in probe.markers[seen:]), 10.0,
                     'markers with ranking edges')
    array = next(a for a in probe.markers[seen:] if len(a.markers) == 1 + MARKERS_PER_PERSON + 1)
    edges = check_frame_markers(array, {0: True})['person_0/ranking_edges', 0]
    assert edges.type == Marker.LINE_LIST
    assert len(edges.points) == len(edges.colors) and 0 < len(edges.points) <= 2 * 16 * 15 // 2
    probe.set_parameters_(show_ranking_edges=False)
    seen = len(probe.markers)
    probe.spin_until(lambda: any(len(a.markers) == 1 + MARKERS_PER_PERSON for a in probe.markers[seen:]), 10.0,
                     'markers without ranking edges')

    # Diagnostics: once a second, with every key, rates that see the 20 Hz replay.
    values = probe.next_diagnostics()
    assert tuple(values) == DIAGNOSTIC_KEYS
    assert 10.0 < float(values['input rate (Hz)']) < 30.0 and 10.0 < float(values['output rate (Hz)']) < 30.0
    assert values['people per frame (mean)'] == '1.00'
    assert 0.0 < float(values['lifter latency median (ms per person)']) < 500.0
    assert (values['backend'], values['precision'], values['camera_info']) == ('pytorch', 'fp32', 'valid')
    assert values['model'] == 'dpnet:lifter_dpnet_video_noise.pt' and int(values['messages rejected']) == 0
    assert int(values['people rejected']) == 0
    replay.kill()


def test_several_people_are_lifted_with_their_ids_and_people_who_left_disappear(probe):
    probe.bring_up()
    probe.lift_one('a first frame')

    def person(person_id, pixels):
        return (lambda header: keypoints(header, person_id, pixels)), (lambda header: ranking(header, person_id))

    (k9, r9), (k4, r4), (k1, r1) = person(9, PIXELS), person(4, MIRRORED_PIXELS), person(1, PIXELS + (-400, 0))
    k7, r7 = person(7, PIXELS)  # for comparison, a first frame of its id as id 9's (nothing to smooth)
    lone, _ = probe.wait_output(probe.publish_frame([k7], [r7]), 'the lone person')
    stamp = probe.publish_frame([k9, k4, k1], [r1, r9, r4])  # the ranking array in another order
    skeletons, markers = probe.wait_output(stamp, 'the frame with three people')
    assert [s.id for s in skeletons.people] == [1, 4, 9]
    assert all(s.header == skeletons.header for s in skeletons.people) and skeletons.header.frame_id == FRAME_ID
    lifted = {s.id: messages.skeleton_from_msg(s).positions for s in skeletons.people}
    # Each person is lifted from their own joints: id 9 has the lone person's, id 4 a mirrored pose.
    lone_pose = messages.skeleton_from_msg(lone.people[0]).positions
    np.testing.assert_allclose(lifted[9], lone_pose, atol=1e-5)
    assert np.abs(lifted[4] - lone_pose).max() > 0.05
    drawn = check_frame_markers(markers, {1: False, 4: False, 9: False})
    # A stable colour per id from the palette (joints of the centre line and the bones); left and
    # right joints keep their side's colour.
    for person_id in (1, 4, 9):
        bones = drawn[f'person_{person_id}/bones', 0]
        colour = (bones.color.r, bones.color.g, bones.color.b, bones.color.a)
        assert colour == pytest.approx(PERSON_PALETTE[person_id % len(PERSON_PALETTE)])
        hip = drawn[f'person_{person_id}/joints', 0].color
        assert (hip.r, hip.g, hip.b, hip.a) == pytest.approx(colour)
    assert drawn['person_1/joints', 11].color == drawn['person_4/joints', 11].color  # l_shoulder: left colour
    # Each is drawn where they stand: the probe's person stands 4 m out; id 1, 400 px to the left of
    # id 9 (f = 1000 px), along a ray 0.4 to its left (seen at another angle its pose, and so the
    # lifter's scale, differs a little), ~1.6 m.
    roots = {i: drawn[f'person_{i}/joints', 0].pose.position for i in (1, 4, 9)}
    placed = {s.id: messages.skeleton_from_msg(s).root for s in skeletons.people}
    assert all(roots[i] == skeletons.people[k].root_position for k, i in enumerate((1, 4, 9)))
    np.testing.assert_allclose(placed[9], JOINTS_MM[ROOT] / 1000, atol=0.15 * 4.0)  # the lifter's scale
    np.testing.assert_allclose(placed[1], JOINTS_MM[ROOT] / 1000 - (1.6, 0, 0), atol=0.15 * 4.0)
    assert placed[9][0] / placed[9][2] - placed[1][0] / placed[1][2] == pytest.approx(400 / 1000, rel=0.02)

    # Next frame: only id 4 is left; DELETEALL first, so ids 1 and 9 vanish from RViz at once.
    stamp = probe.publish_frame([k4], [r4])
    skeletons, markers = probe.wait_output(stamp, 'the frame with one person left')
    assert [s.id for s in skeletons.people] == [4]
    check_frame_markers(markers, {4: False})

    # Nobody: an empty array and markers that only delete.
    stamp = probe.publish_frame([], [])
    skeletons, markers = probe.wait_output(stamp, 'the empty frame')
    assert skeletons.people == [] and skeletons.header.frame_id == FRAME_ID
    check_frame_markers(markers, {})



def test_placed_people_are_broadcast_on_tf_until_turned_off(probe):
    probe.bring_up()
    probe.lift_one('a first frame')
    heard = []
    probe.node.create_subscription(TFMessage, '/tf', heard.append, 100)
    probe.spin_until(lambda: probe.node.count_publishers('/tf') > 0, 5.0, 'the lifter on /tf')
    people = [(lambda header: keypoints(header, 5, PIXELS), lambda header: ranking(header, 5)),
              (lambda header: keypoints(header, 6, MIRRORED_PIXELS), lambda header: ranking(header, 6))]
    stamp = probe.publish_frame(*map(list, zip(*people)))
    skeletons, _ = probe.wait_output(stamp, 'two people')
    probe.spin_until(lambda: any(stamp_ns(m.transforms[0]) == stamp for m in heard if m.transforms), 5.0,
                     'their transforms on /tf')
    transforms = next(m for m in heard if m.transforms and stamp_ns(m.transforms[0]) == stamp).transforms
    assert [t.child_frame_id for t in transforms] == [f'person/{i}/{name}' for i in (5, 6) for name in JOINT_NAMES]
    assert {t.header.frame_id for t in transforms} == {FRAME_ID} and all(t.transform.rotation.w == 1 for t in transforms)
    for k, skeleton in enumerate(skeletons.people):
        person = messages.skeleton_from_msg(skeleton)
        translations = [(t.transform.translation.x, t.transform.translation.y, t.transform.translation.z)
                        for t in transforms[k * NUM_JOINTS:(k + 1) * NUM_JOINTS]]
        np.testing.assert_allclose(translations, person.positions + person.root, atol=1e-12)
    probe.set_parameters_(publish_tf=False)
    stamp = probe.publish_frame(*map(list, zip(*people)))
    probe.wait_output(stamp, 'a frame without tf')
    probe.spin_for(0.3)
    assert not any(m.transforms and stamp_ns(m.transforms[0]) == stamp for m in heard)
    probe.set_parameters_(publish_tf=True)



def test_a_registered_depth_image_places_people_and_a_bad_one_is_rejected(probe):
    probe.to_unconfigured()
    probe.set_parameters_(depth_qos_reliability='reliable')  # the probe's publisher is reliable
    probe.bring_up()
    probe.lift_one('a first frame')

    def placed(person_id, depth_mm=None):
        header = probe.header()
        if depth_mm is not None:
            probe.publish('depth', images.depth_to_msg(header, depth_mm))
        stamp = probe.publish_frame([lambda h: keypoints(h, person_id, PIXELS)], [lambda h: ranking(h, person_id)], header)
        return messages.skeleton_from_msg(probe.wait_output(stamp, f'person {person_id}')[0].people[0])

    alone = placed(41)
    probe.spin_for(0.2)  # later than depth_max_offset_s after any depth image
    # A wall 3 m out under every joint: the person's surface is there, the joints a little behind.
    with_depth = placed(42, np.full((360, 640), 3000, np.uint16))  # registered, at half the resolution
    assert 3.0 < with_depth.root[2] < 3.2 and abs(alone.root[2] - 3.0) > 0.3
    # Same image, so the same ray and the same shape; only the scale changed.
    np.testing.assert_allclose(with_depth.root / with_depth.root[2], alone.root / alone.root[2], atol=1e-6)
    np.testing.assert_allclose(with_depth.positions, alone.positions * with_depth.root[2] / alone.root[2], atol=1e-4)
    assert int(probe.next_diagnostics()['people placed with depth']) >= 1
    # A colour image on the depth topic: rejected, named, the node goes on.
    probe.publish('depth', images.image_to_msg(probe.header(), np.zeros((4, 4, 3), np.uint8)))
    probe.spin_until(lambda: probe.logged(f"rejected a message on {NS}/depth: depth Image.encoding 'rgb8' is not "
                                          'a depth encoding'), 5.0, 'the depth rejection logged')
    probe.lift_one('a frame after the bad depth image')
    probe.to_unconfigured()
    probe.set_parameters_(depth_qos_reliability='best_effort')


def test_a_floor_refines_where_people_stand_and_one_that_is_no_plane_is_refused(probe):
    probe.bring_up()
    probe.lift_one('a first frame')

    def placed(person_id):
        stamp = probe.publish_frame([lambda h: keypoints(h, person_id, PIXELS)], [lambda h: ranking(h, person_id)])
        return messages.skeleton_from_msg(probe.wait_output(stamp, f'person {person_id}')[0].people[0])

    alone = placed(51)
    # y points down: the lower ankle has the larger y. A level camera whose floor would put the
    # person 10 % further away than the image alone does.
    ankle_y = max((alone.positions + alone.root)[JOINT_NAMES.index(name), 1] for name in ('r_foot', 'l_foot'))
    probe.set_parameters_(ground_plane=[0.0, -1.0, 0.0, 1.1 * ankle_y + ANKLE_HEIGHT_M])
    on_floor = placed(52)
    assert 1.02 < on_floor.root[2] / alone.root[2] < 1.1  # fused with the lifter's own scale
    np.testing.assert_allclose(on_floor.root / on_floor.root[2], alone.root / alone.root[2], atol=1e-6)
    for bad, named in (([0.0, 0.0, 0.0, 1.5], '[0.0, 0.0, 0.0, 1.5] has no normal'),
                       ([0.0, -1.0, 1.2], 'got [0.0, -1.0, 1.2]')):
        result = probe.call(probe.set_parameters, SetParameters.Request(
            parameters=[Parameter('ground_plane', value=bad).to_parameter_msg()])).results[0]
        assert not result.successful and result.reason.startswith('ground_plane: ') and named in result.reason
    probe.set_parameters_(ground_plane=[0.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(placed(53).root, alone.root, rtol=1e-4)


def test_smoothing_steadies_each_persons_pose_and_root_and_turns_off(probe):
    rng = np.random.default_rng(0)
    jittered = PIXELS + rng.normal(0.0, 4.0, (30, *PIXELS.shape))  # a person standing still, 4 px noise

    def jitter_mm(person_id, frames):
        """Mean |second difference| of the joints and roots of a person fed `frames`, stamped 30 Hz apart."""
        joints, start = [], probe.node.get_clock().now()
        for k, pixels in enumerate(frames):
            header = Header(stamp=(start + Duration(nanoseconds=k * 1_000_000_000 // 30)).to_msg(), frame_id=FRAME_ID)
            stamp = probe.publish_frame([lambda header: keypoints(header, person_id, pixels)],
                                        [lambda header: ranking(header, person_id)], header)
            person = messages.skeleton_from_msg(probe.wait_output(stamp, f'frame of id {person_id}')[0].people[0])
            joints.append(person.positions + person.root)
        return np.abs(np.diff(joints, n=2, axis=0)).mean() * 1000

    probe.bring_up()
    probe.lift_one('a first frame')
    smoothed = jitter_mm(31, jittered)
    probe.to_unconfigured()
    probe.set_parameters_(smoothing=False)
    probe.bring_up()
    probe.lift_one('a first frame without smoothing')  # camera_info again
    raw = jitter_mm(32, jittered)
    probe.to_unconfigured()
    probe.set_parameters_(smoothing=True)
    print(f'lifter, a still person with 4 px noise at 30 Hz: jitter {raw:.1f} mm/frame^2 unsmoothed, '
          f'{smoothed:.1f} smoothed')
    assert smoothed < 0.5 * raw


def test_lifecycle_cycles_twice_and_is_silent_when_inactive(probe):
    probe.bring_up()
    for cycle in range(2):
        assert probe.transition('deactivate') and probe.state() == 'inactive'
        probe.spin_for(0.2)  # what was published before the transition
        counts = len(probe.skeletons), len(probe.markers), len(probe.diagnostics)
        for _ in range(5):  # inputs while inactive: nothing comes out, diagnostics stop too
            probe.publish_camera_info()
            probe.publish_frame()
        probe.spin_for(1.3)
        assert (len(probe.skeletons), len(probe.markers), len(probe.diagnostics)) == counts
        assert probe.transition('cleanup') and probe.state() == 'unconfigured'
        assert not probe.transition('activate')  # not a transition of 'unconfigured'
        assert probe.transition('configure') and probe.state() == 'inactive'
        assert probe.transition('activate') and probe.state() == 'active'
        probe.wait_for_subscribers()
        probe.lift_one(f'a skeleton after reactivation (cycle {cycle + 1})')

    # A lifter that cannot load leaves the node unconfigured, with the reason logged.
    assert probe.transition('deactivate') and probe.transition('cleanup')
    probe.set_parameters_(lifter_checkpoint='/nowhere/lifter.pt')
    assert not probe.transition('configure') and probe.state() == 'unconfigured'
    probe.spin_until(lambda: probe.logged('configure failed: cannot load the lifter: /nowhere/lifter.pt'),
                     5.0, 'the configure failure')
    probe.set_parameters_(lifter_checkpoint='')
    probe.bring_up()


@pytest.fixture
def every_warning_logged(probe):
    """Warnings are rate-limited by reason (one per log_period_s): no limit for a test that reads
    every one, and the default back afterwards (logging each of a flood of rejections slows the
    node down enough to lose frames in the fuzz test)."""
    probe.to_unconfigured()
    probe.set_parameters_(log_period_s=0.0)
    yield
    probe.to_unconfigured()
    probe.set_parameters_(log_period_s=DEFAULT_LOG_PERIOD_S)


def test_malformed_people_are_rejected_and_named_while_the_others_are_lifted(probe, every_warning_logged):
    probe.bring_up(fresh=True)  # no camera_info yet, log rate limits reset

    # Before any camera_info: dropped, and the warning names the topic.
    early = []

    def warned():
        early.append(probe.publish_frame())
        probe.spin_for(0.1)
        return probe.logged(f'dropping frames: no valid camera_info on {NS}/camera_info (none received yet)')

    probe.spin_until(warned, 10.0, 'the missing camera_info warning')
    probe.publish_camera_info()

    def with_nan(header):
        msg = keypoints(header, 3)
        msg.x[5] = float('nan')
        return msg

    def person(person_id):
        return lambda header: keypoints(header, person_id)

    def rank(person_id, joint_indices=DETECTED_JOINTS):
        return lambda header: ranking(header, person_id, joint_indices)

    stamp = probe.publish_frame(
        [lambda header: keypoints(header, 1, PIXELS[:3], [0, 1, 2]), person(2), with_nan, person(5), person(6),
         person(8), person(8)],
        [rank(1), rank(2), rank(3), rank(5, [0, 1, 2, 3]), rank(7), rank(8)])
    skeletons, markers = probe.wait_output(stamp, 'the frame with malformed people')
    assert [s.id for s in skeletons.people] == [2]  # the good one is lifted all the same
    check_frame_markers(markers, {2: False})
    keypoints_topic, ranking_topic = f'{NS}/keypoints_2d', f'{NS}/ranking'
    for topic, problem in (
            (keypoints_topic, 'Keypoints2DArray person id 1: Keypoints2D has 3 joints [0, 1, 2]; the lifter needs '
                              'the 16 DETECTED_JOINTS, missing [3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16]'),
            (keypoints_topic, 'Keypoints2DArray.people[2] (id 3): Keypoints2D.x contains NaN or infinite values'),
            (ranking_topic, 'DepthRankingArray person id 5: DepthRanking has 4 joints [0, 1, 2, 3]'),
            (keypoints_topic, 'person id 6 has no ranking partner (no DepthRanking with that id in the frame)'),
            (ranking_topic, 'person id 7 has no keypoints_2d partner (no Keypoints2D with that id in the frame)'),
            (keypoints_topic, 'Keypoints2DArray.people[5] (id 8): another person of the array has id 8 '
                              '(duplicate ids)')):
        text = f'rejected a person on {topic}: {problem}'
        probe.spin_until(lambda: probe.logged(text), 5.0, f'the log line {text!r}')

    # An array without a frame_id: its frame is rejected, nothing comes out for it.
    nameless = probe.publish_frame(header=Header(stamp=probe.node.get_clock().now().to_msg(), frame_id=''))
    probe.spin_until(lambda: probe.logged(f'rejected a message on {keypoints_topic}: '
                                          'Keypoints2DArray.header.frame_id is empty'), 5.0, 'the frame_id log line')
    probe.lift_one('the good frame after the malformed ones')
    assert not any(probe.lifted(stamp) for stamp in (*early, nameless))

    # A camera_info with fx = 0 is rejected, and does not displace the valid intrinsics.
    uncalibrated = camera_info()
    uncalibrated.k[0] = 0.0
    probe.publish_camera_info(uncalibrated)
    probe.spin_until(lambda: probe.logged(
        f'rejected a message on {NS}/camera_info: CameraInfo.k has focal length fx=0, fy=1000'), 5.0,
        'the fx = 0 log line')
    probe.wait_output(probe.publish_frame(), 'a frame lifted with the last valid intrinsics')

    # Diagnostics count what was rejected and dropped: both arrays of the nameless frame, the
    # camera_info; the 7 malformed or unpaired people (both holders of the duplicate id).
    values = probe.next_diagnostics()
    assert int(values['messages rejected']) == 3 and int(values['people rejected']) == 7
    assert int(values['messages dropped: invalid header']) == 2
    assert int(values['messages dropped: invalid camera_info']) == 1
    # The early frames that reached the lifter (best effort may lose a first one), both arrays each.
    frames_dropped = int(values['frames dropped (no camera_info)'])
    assert 1 <= frames_dropped <= len(early)
    assert int(values['messages dropped: no camera_info']) == 2 * frames_dropped


FUZZ_SEED, FUZZ_FRAMES, FUZZ_PER_FRAME = 17, 60, 5  # valid frames, malformed messages around each
FUZZ_PERIOD_S = 0.005  # at most, between messages: ~200 messages a second, the valid frames at ~30 Hz


def test_fuzz_malformed_neighbours_never_cost_a_valid_frame_and_every_drop_is_counted(probe):
    """Seeded fuzz: malformed keypoints_2d, ranking and camera_info messages interleaved with valid
    frames, many carrying a valid frame's stamp: every valid frame is lifted (as its own: id 0),
    every malformed message is counted once under its drop reason, and the node lives on."""
    probe.bring_up(fresh=True)
    probe.lift_one('a first frame')
    before = probe.next_diagnostics()
    rng = np.random.default_rng(FUZZ_SEED)
    publish = {kind: publisher.publish for kind, publisher in probe.publishers.items()}
    sent, valid_stamps = {}, []
    for _ in range(FUZZ_FRAMES):
        header = probe.header()
        valid = [('keypoints', Keypoints2DArray(header=header, people=[keypoints(header)])),
                 ('ranking', DepthRankingArray(header=header, people=[ranking(header)]))]
        bad = [malformed_lifter_message(header, rng) for _ in range(FUZZ_PER_FRAME)]
        # The valid arrays in order, the malformed ones before, between and after them.
        slots = rng.integers(0, 3, len(bad))
        around = [[(kind, msg) for (kind, msg, _), slot in zip(bad, slots) if slot == k] for k in range(3)]
        for kind, msg in around[0] + valid[:1] + around[1] + valid[1:] + around[2]:
            publish[kind](msg)
            rclpy.spin_once(probe.node, timeout_sec=FUZZ_PERIOD_S)
        for _, _, reason in bad:
            sent[reason] = sent.get(reason, 0) + 1
        valid_stamps.append(Time.from_msg(header.stamp).nanoseconds)
    probe.spin_until(lambda: all(probe.lifted(stamp) for stamp in valid_stamps), 5.0,
                     f'the valid frames ({sum(map(probe.lifted, valid_stamps))} of {len(valid_stamps)} lifted)')
    assert all([person.id for person in probe.output(stamp).people] == [0] for stamp in valid_stamps)

    # A valid array that arrives after one of its stamp with a malformed person supersedes it;
    # one that comes after the valid one, before or after the frame completed, is dropped.
    def with_a_malformed_person(header):
        return Keypoints2DArray(header=header, people=[keypoints(header, 7), malformed_keypoints_person(header, rng)])

    late_ones = {'superseded': 1, 'duplicate stamp': 1, 'late': 1}
    for first_partial in (True, False):
        header = probe.header()
        arrays = [with_a_malformed_person(header), Keypoints2DArray(header=header, people=[keypoints(header)])]
        for array in arrays if first_partial else arrays[::-1]:
            probe.publish('keypoints', array)
        probe.publish('ranking', DepthRankingArray(header=header, people=[ranking(header)]))
        stamp = Time.from_msg(header.stamp).nanoseconds
        probe.wait_output(stamp, 'the frame with a second keypoints_2d')
        assert [person.id for person in probe.output(stamp).people] == [0]
    probe.publish('keypoints', with_a_malformed_person(header))  # after its frame

    after = probe.next_diagnostics()
    dropped = {reason: int(after[f'messages dropped: {reason}']) - int(before[f'messages dropped: {reason}'])
               for reason in DROP_REASONS}
    expected = {reason: sent.get(reason, 0) + late_ones.get(reason, 0) for reason in DROP_REASONS}
    print(f'\nfuzz: {sum(sent.values())} malformed messages among {FUZZ_FRAMES} valid frames, dropped by reason: '
          f'{ {reason: count for reason, count in dropped.items() if count} }')
    assert dropped == expected
    assert sum(dropped.values()) == sum(sent.values()) + len(late_ones)
    assert int(after['messages rejected']) - int(before['messages rejected']) == sum(sent.values())
    assert probe.state() == 'active' and probe.process.poll() is None


def test_sequence_gaps_count_the_messages_a_subscription_missed():
    def info(gid, number):
        return {'publication_sequence_number': number, 'publisher_gid': {'data': bytes([gid] * 16)}}

    gaps = SequenceGaps()
    # A first message from each publisher only starts its count; then the gaps of each, apart.
    assert [gaps.missed(info(gid, number)) for gid, number in ((1, 5), (2, 40), (1, 6), (1, 9), (2, 41), (2, 45))] \
        == [0, 0, 0, 2, 0, 3]
    # Where the middleware does not number messages (rmw's "unsupported", or none): nothing seen.
    assert gaps.missed(info(3, 2**64 - 1)) == gaps.missed(info(3, 0)) == gaps.missed(info(1, 2**64 - 1)) == 0
    assert gaps.missed(info(1, 10)) == 0


def test_camera_info_layout_binning_and_refusals():
    info = CameraInfo(distortion_model='plumb_bob', d=[0.1, -0.2, 0.001, 0.002, 0.03],
                      k=[900.0, 0, 320, 0, 905.0, 240, 0, 0, 1], binning_x=2, binning_y=2,
                      roi=RegionOfInterest(x_offset=100, y_offset=50))
    intrinsics = intrinsics_from_camera_info(info)
    assert intrinsics == Intrinsics(focal=(900.0, 905.0), center=(320.0, 240.0), radial=(0.1, -0.2, 0.03),
                                    tangential=(0.001, 0.002), binning=(2, 2), offset=(100, 50))
    # Pixel 0 of a 2x-binned image covers full-resolution pixels 0 and 1: its centre is at 0.5.
    np.testing.assert_allclose(intrinsics.to_full_resolution([[0.0, 0.0], [10.0, 20.0]]),
                               [[100.5, 50.5], [120.5, 90.5]])
    info.distortion_model = 'rational_polynomial'
    info.d = [0.1, -0.2, 0.001, 0.002, 0.03, 0.0, 0.0, 0.0]
    assert intrinsics_from_camera_info(info).radial == (0.1, -0.2, 0.03)
    for model, d, problem in (
            ('rational_polynomial', [0.1, 0, 0, 0, 0, 0.5, 0, 0], 'k4..k6'),
            ('equidistant', [0.1, 0, 0, 0], "'equidistant' with non-zero D is not supported"),
            ('plumb_bob', [0.1, 0, 0], 'CameraInfo.d has 3 coefficients; plumb_bob has 5')):
        info.distortion_model, info.d = model, d
        with pytest.raises(ValueError, match=problem):
            intrinsics_from_camera_info(info)
    info.distortion_model, info.d = 'equidistant', [0.0] * 4  # no distortion: any model will do
    assert intrinsics_from_camera_info(info).radial == (0.0, 0.0, 0.0)
    info.k[4] = float('nan')
    with pytest.raises(ValueError, match='9 finite values'):
        intrinsics_from_camera_info(info)
