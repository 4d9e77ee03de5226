"""Real-camera speed, side by side: the project's image -> people -> 3D pipeline (BlazePose front
end + lifter, ONNX Runtime) against MediaPipe Pose on the same decoded frames of a real video, in
one run; then the project's pipeline with four people in view.

    bench/mediapipe_reference/setup              # once: MediaPipe 0.10.14 in its own venv
    .venv/bin/python bench/front_end.py --threads 2 --json runs/bench/front_end.json

Frames: Pose2Sim's Demo_SinglePerson videos (real, 1080 x 1920, 100 frames each; fetched from
PyPI into the cache, training/datasets/pose2sim.py), decoded once into memory. One person: cam01,
every frame, in video mode (people tracked from frame to frame) on both sides. MediaPipe runs
`solutions.pose` in video mode at the complexity matching each landmark model (lite 0, full 1,
heavy 2) in a subprocess of its venv (bench/mediapipe_reference/run_mediapipe.py: it uses one
core, as MediaPipe's desktop build does); the project runs in this process with --threads ONNX
Runtime threads. Both time each frame from the decoded RGB array to the result (MediaPipe: the
33 landmarks and world landmarks; the project: every person's 2D joints, ranking and lifted 3D
pose), after --warmup frames. Four people: the four cameras' frames side by side, each at half
size (a 2 x 2 mosaic of 1080 x 1920), so four real people of half the height are in view.

With --landmark-flip-test MODEL..., the project's pipeline with each of those landmark models is
timed on the one-person clip with the landmark model's flip test (`landmark_flip_test`) and
without, --rounds times alternating, without a MediaPipe counterpart.

With --drpose3d, the papers' front end (--hourglass and --prcnn, default the shipped ones,
behind BlazePose's person detector, as the camera node runs it) + the same lifter is timed on the
one-person clip too, --rounds times with PRCNN's flip test (the default) and without, alternating,
without a MediaPipe counterpart (--landmark-models may then be empty: `--landmark-models
--drpose3d` needs no MediaPipe venv).

The two alternate for --rounds rounds (this VM's speed drifts by tens of percent over minutes:
alternating keeps the drift out of the ratio); the table gives, over all rounds' frames, the
median and 10th-90th percentile ms per frame, FPS from the median, and MediaPipe's median over the
project's (the speed-up), with each round's own ratio beside it.
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pose3d_ros.inference.blazepose import FrontEndSettings  # noqa: E402
from pose3d_ros.inference.pipeline import build_pipeline  # noqa: E402
from pose3d_ros.paths import DEFAULT_CACHE_DIR, DEFAULT_HOURGLASS, DEFAULT_LIFTER, DEFAULT_PRCNN  # noqa: E402
from training.datasets.pose2sim import CAMERA_NAMES, fetch_demo, read_video_frames  # noqa: E402

MEDIAPIPE_DIR = ROOT / 'bench' / 'mediapipe_reference'
COMPLEXITY = {'lite': 0, 'full': 1, 'heavy': 2}


def mosaic(views):
    """Four (H, W, 3) frames -> one (H, W, 3) frame holding each at half size, 2 x 2."""
    height, width = views[0].shape[:2]
    halves = [cv2.resize(view, (width // 2, height // 2), interpolation=cv2.INTER_AREA) for view in views]
    return np.vstack([np.hstack(halves[:2]), np.hstack(halves[2:])])


def project_pipeline(landmark_model, args, landmark_flip_test=False):
    return build_pipeline('blazepose', lifter=DEFAULT_LIFTER, landmark_model=landmark_model,
                          backend='onnxruntime', threads=args.threads, cache_dir=args.cache_dir,
                          settings=FrontEndSettings(max_people=4, landmark_flip_test=landmark_flip_test))


def time_project(pipeline, frames, args):
    """-> (per-frame ms over the timed frames, people found per timed frame)."""
    height, width = frames[0].shape[:2]
    intrinsics = {'focal': (width, width), 'center': ((width - 1) / 2, (height - 1) / 2)}
    pipeline.reset()
    for frame in frames[:args.warmup]:
        for person in pipeline.people(frame):
            pipeline.lift(person, **intrinsics)
    pipeline.reset()
    times, people = [], []
    for frame in frames:
        started = time.perf_counter()
        found = pipeline.people(frame)
        for person in found:
            pipeline.lift(person, **intrinsics)
        times.append((time.perf_counter() - started) * 1000)
        people.append(len(found))
    return np.array(times), np.array(people)


def time_mediapipe(frames_file, complexity, args, folder):
    """-> per-frame ms of MediaPipe Pose (video mode) on the frames in frames_file."""
    output = Path(folder) / f'mediapipe_{complexity}.npz'
    command = [str(args.mediapipe_python), str(MEDIAPIPE_DIR / 'run_mediapipe.py'), str(frames_file), str(output),
               '--complexity', str(complexity), '--warmup', str(args.warmup)]
    completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if completed.returncode:
        raise RuntimeError(f'{" ".join(command)} failed:\n{completed.stderr[-2000:]}')
    with np.load(output) as result:
        return result['process_s'] * 1000, json.loads(str(result['meta']))


def time_alternating(pipelines, frames, args):
    """{row name: pipeline} -> {row name: summary}, each timed on the frames --rounds times, in turn."""
    rounds = {name: [] for name in pipelines}
    for _ in range(args.rounds):
        for name, pipeline in pipelines.items():
            rounds[name].append(time_project(pipeline, frames, args))
    rows = {}
    for name, timed in rounds.items():
        project_ms, people = map(np.concatenate, zip(*timed))
        rows[name] = {**summary(project_ms), 'people_mean': float(people.mean())}
    return rows


def summary(times):
    return {'median_ms': float(np.median(times)), 'p10_ms': float(np.percentile(times, 10)),
            'p90_ms': float(np.percentile(times, 90)), 'fps': float(1000 / np.median(times))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--landmark-models', nargs='*', default=['full', 'lite'], choices=list(COMPLEXITY))
    parser.add_argument('--landmark-flip-test', nargs='+', default=[], choices=list(COMPLEXITY), metavar='MODEL',
                        help='also time these landmark models with their flip test and without (one person)')
    parser.add_argument('--drpose3d', action='store_true', help='also time the drpose3d front end (one person)')
    parser.add_argument('--hourglass', default=str(DEFAULT_HOURGLASS), help='--drpose3d: hourglass checkpoint')
    parser.add_argument('--prcnn', default=str(DEFAULT_PRCNN), help='--drpose3d: PRCNN checkpoint')
    parser.add_argument('--threads', type=int, default=2, help='ONNX Runtime threads of the project')
    parser.add_argument('--warmup', type=int, default=10)
    parser.add_argument('--rounds', type=int, default=3, help='alternating rounds of MediaPipe and the project')
    parser.add_argument('--mediapipe-python', default=str(MEDIAPIPE_DIR / '.venv' / 'bin' / 'python'))
    parser.add_argument('--cache-dir', default=str(DEFAULT_CACHE_DIR))
    parser.add_argument('--json', help='write the results here')
    args = parser.parse_args(argv)
    if args.landmark_models and not Path(args.mediapipe_python).is_file():
        parser.error(f'{args.mediapipe_python} not found: build the reference with bench/mediapipe_reference/setup')
    demo = fetch_demo(args.cache_dir) / 'Demo_SinglePerson' / 'videos'
    views = [read_video_frames(demo / f'{name}.mp4') for name in CAMERA_NAMES]
    one_person = list(views[0])
    four_people = [mosaic([view[k] for view in views]) for k in range(min(len(view) for view in views))]
    results = {'frames': f'Pose2Sim Demo_SinglePerson cam01, {len(one_person)} frames of '
                         f'{one_person[0].shape[1]} x {one_person[0].shape[0]}',
               'threads': args.threads, 'rows': {}}
    with tempfile.TemporaryDirectory() as folder:
        frames_file = Path(folder) / 'frames.npz'
        np.savez(frames_file, frames=np.stack(one_person))
        for model in args.landmark_models:
            pipeline = project_pipeline(model, args)
            mediapipe_ms, project_ms, people, ratios = [], [], [], []
            for _ in range(args.rounds):
                mediapipe_round, meta = time_mediapipe(frames_file, COMPLEXITY[model], args, folder)
                project_round, people_round = time_project(pipeline, one_person, args)
                ratios.append(float(np.median(mediapipe_round) / np.median(project_round)))
                mediapipe_ms.append(mediapipe_round), project_ms.append(project_round), people.append(people_round)
            mediapipe_ms, project_ms, people = map(np.concatenate, (mediapipe_ms, project_ms, people))
            results['rows'][f'mediapipe complexity {COMPLEXITY[model]}'] = {**summary(mediapipe_ms), 'meta': meta}
            results['rows'][f'project {model}, 1 person'] = {**summary(project_ms), 'people_mean': float(people.mean())}
            results['rows'][f'speed-up {model}'] = float(np.median(mediapipe_ms) / np.median(project_ms))
            results['rows'][f'speed-up {model}, per round'] = ratios
            project_ms, people = time_project(pipeline, four_people, args)
            results['rows'][f'project {model}, 4 people (mosaic)'] = {**summary(project_ms),
                                                                       'people_mean': float(people.mean())}
    if args.drpose3d:  # with PRCNN's flip test (the default) and without, alternating
        pipelines = {name: build_pipeline('drpose3d', lifter=DEFAULT_LIFTER, hourglass=args.hourglass, prcnn=args.prcnn,
                                          backend='onnxruntime', threads=args.threads, cache_dir=args.cache_dir,
                                          person_detector=True, prcnn_flip_test=flip)
                     for name, flip in (('project drpose3d, 1 person', True),
                                        ('project drpose3d no flip test, 1 person', False))}
        for name, row in time_alternating(pipelines, one_person, args).items():
            results['rows'][name] = {**row, 'hourglass': args.hourglass, 'prcnn': args.prcnn}
    for model in args.landmark_flip_test:
        results['rows'].update(time_alternating(
            {f'project {model}{label}, 1 person': project_pipeline(model, args, landmark_flip_test=flip)
             for label, flip in ((' flip test', True), ('', False))}, one_person, args))
    print(f'{results["frames"]}; project: ONNX Runtime, {args.threads} threads; MediaPipe 0.10.14, one core')
    print(f'{"":<36} {"median ms":>10} {"p10-p90 ms":>14} {"FPS":>6} {"people":>7}')
    for name, row in results['rows'].items():
        if isinstance(row, list):
            print(f'{name:<36} ' + ', '.join(f'{ratio:.2f}x' for ratio in row))
        elif isinstance(row, float):
            print(f'{name:<36} {row:10.2f}x  (MediaPipe median / project median)')
        else:
            people = f'{row["people_mean"]:7.2f}' if 'people_mean' in row else ''
            print(f'{name:<36} {row["median_ms"]:10.2f} {row["p10_ms"]:6.2f}-{row["p90_ms"]:<7.2f} {row["fps"]:6.1f} {people}')
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
