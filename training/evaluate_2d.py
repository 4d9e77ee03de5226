"""2D joints of a front end on real photos: PCK@0.2 on LSP-format data, people found on COCO-format
multi-person data, PCKh@0.5 on MPII, and an overlay grid to look at.

    pose3d_eval_2d --lsp ../shared/data/lspet/joints.mat --lsp-split validation \
        --coco ../shared/data/multi-person/*/test_*.json --mpii ../shared/data/mpii-samples/test_mpii.json \
        --json runs/eval_2d/blazepose.json --overlay docs/img/blazepose_lspet.png

Every photo goes through the pipeline's front end (`--front-end`) as `pose3d_infer` runs it on a
photo: photo mode, nothing tracked from the previous one. Scoring, in the LSP joint order
(skeleton.LSP_JOINT_NAMES; the front end's neck_nose is LSP's neck, its head LSP's head top):
- LSP (joints.mat): one annotated person per photo; the found person nearest to the annotation
  is scored; a photo where nobody is found scores every joint wrong (misses count). PCK@0.2: a
  joint is right within 0.2 x the torso size (a shoulder to the opposite hip), over the annotated
  visible joints. Also: the share of joints whose confidence is at least 0.5, and PCK among those
  and among the rest, which is what a consumer dropping low-confidence joints gets.
- COCO-format files: people are matched to the annotated ones greedily by mean joint distance
  (relative to the person's size, at most 1); reported: people annotated, found and matched, and
  PCK@0.2 over the annotated people with a torso (unmatched ones wrong).
- MPII JSON: PCKh@0.5 in DETECTED_JOINTS order over the annotated people (nearest found person).
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pose3d_ros.atomic import atomic_write
from pose3d_ros.skeleton import DETECTED_JOINTS, JOINT_NAMES, LSP_IN_DETECTED, LSP_JOINT_NAMES
from training import cli
from training.datasets.keypoints import load_coco_keypoints, load_lsp
from training.datasets.mpii import load_mpii
from training.metrics import mpii_head_size, pck

PCK_THRESHOLD = 0.2
CONFIDENT = 0.5
MAX_MATCH_COST = 1.0
_DETECTED_NAMES = [JOINT_NAMES[j] for j in DETECTED_JOINTS]
# LSP bones for the overlay (indices into LSP_JOINT_NAMES).
LSP_BONES = ((0, 1), (1, 2), (3, 4), (4, 5), (6, 7), (7, 8), (9, 10), (10, 11), (2, 8), (3, 9), (2, 3), (8, 9),
             (12, 13))


def lsp_joints(person):
    """A Person2D's joints and confidence in LSP order."""
    return person.joints_2d[LSP_IN_DETECTED].astype(np.float64), person.confidence[LSP_IN_DETECTED]


def person_size(annotated):
    """The annotated person's size for matching: the torso, else half their joints' extent."""
    torso = annotated.torso_size()
    if np.isfinite(torso):
        return torso
    points = annotated.joints[annotated.annotated]
    return max(float(np.linalg.norm(points.max(0) - points.min(0))) / 2, 1.0)


def match_cost(joints, annotated):
    """Mean distance of the annotated joints to `joints`, relative to the person's size."""
    mask = annotated.annotated
    return float(np.linalg.norm(joints[mask] - annotated.joints[mask], axis=1).mean() / person_size(annotated))


def assign(found, annotated_people):
    """Greedy one-to-one matching, cheapest first -> {annotated index: found index}."""
    costs = [(match_cost(lsp_joints(person)[0], annotated), a, f)
             for a, annotated in enumerate(annotated_people) for f, person in enumerate(found)]
    matches, used = {}, set()
    for cost, a, f in sorted(costs):
        if cost <= MAX_MATCH_COST and a not in matches and f not in used:
            matches[a] = f
            used.add(f)
    return matches


class Scorer:
    """Collects predicted (NaN when missed) and annotated LSP joints for PCK@0.2."""

    def __init__(self):
        self.predicted, self.target, self.visible, self.size, self.confidence = [], [], [], [], []

    def add(self, annotated, joints=None, confidence=None):
        if not np.isfinite(annotated.torso_size()):
            return
        self.predicted.append(np.full((len(LSP_JOINT_NAMES), 2), np.nan) if joints is None else joints)
        self.confidence.append(np.zeros(len(LSP_JOINT_NAMES)) if confidence is None else confidence)
        self.target.append(np.nan_to_num(annotated.joints))
        self.visible.append(annotated.annotated)
        self.size.append(annotated.torso_size())

    def report(self):
        if not self.target:
            return {'people_scored': 0}
        predicted, target, visible = np.stack(self.predicted), np.stack(self.target), np.stack(self.visible)
        size, confidence = np.array(self.size), np.stack(self.confidence)
        per_joint, overall = pck(predicted, target, size, PCK_THRESHOLD, visible)
        confident = confidence >= CONFIDENT
        _, pck_confident = pck(predicted, target, size, PCK_THRESHOLD, visible & confident)
        _, pck_rest = pck(predicted, target, size, PCK_THRESHOLD, visible & ~confident)
        return {'people_scored': len(target), 'pck@0.2': overall,
                'pck@0.2_per_joint': dict(zip(LSP_JOINT_NAMES, per_joint.tolist())),
                'confident_share': float((visible & confident).sum() / visible.sum()),
                'pck@0.2_confident': pck_confident, 'pck@0.2_not_confident': pck_rest}


def evaluate_lsp(pipeline, images, views=None):
    scorer, missed, timings = Scorer(), 0, []
    for image in tqdm(images, desc='LSP photos', unit='photo'):
        annotated = image.people[0]
        rgb = image.read_image()
        started = time.perf_counter()
        found = people_in_photo(pipeline, rgb)
        timings.append((time.perf_counter() - started) * 1000)
        if not found:
            missed += 1
            scorer.add(annotated)
            continue
        best = min(found, key=lambda person: match_cost(lsp_joints(person)[0], annotated))
        scorer.add(annotated, *lsp_joints(best))
        if views is not None:
            views.append((rgb, annotated, lsp_joints(best)[0]))
    report = scorer.report()
    report.update(photos=len(images), photos_nobody_found=missed, front_end_ms_median=float(np.median(timings)))
    return report


def evaluate_coco(pipeline, path):
    images = load_coco_keypoints(path)
    scorer, annotated_count, found_count, matched_count = Scorer(), 0, 0, 0
    for image in images:
        found = people_in_photo(pipeline, image.read_image())
        matches = assign(found, image.people)
        annotated_count, found_count, matched_count = (annotated_count + len(image.people),
                                                       found_count + len(found), matched_count + len(matches))
        for index, annotated in enumerate(image.people):
            scorer.add(annotated, *(lsp_joints(found[matches[index]]) if index in matches else ()))
    report = scorer.report()
    report.update(photos=len(images), people_annotated=annotated_count, people_found=found_count,
                  people_matched=matched_count)
    return report


def evaluate_mpii(pipeline, path):
    people = load_mpii(path)
    head, neck = (list(DETECTED_JOINTS).index(JOINT_NAMES.index(name)) for name in ('head', 'neck_nose'))
    predicted = []
    for person in people:
        found = people_in_photo(pipeline, person.read_image())
        mask = person.visible
        distance = [np.linalg.norm(p.joints_2d[mask] - person.joints_2d[mask], axis=1).mean() for p in found]
        predicted.append(found[int(np.argmin(distance))].joints_2d if found else np.full((len(DETECTED_JOINTS), 2), np.nan))
    target = np.stack([person.joints_2d for person in people])
    per_joint, overall = pck(np.stack(predicted), target, mpii_head_size(target[:, head], target[:, neck]), 0.5,
                             np.stack([person.visible for person in people]))
    return {'people': len(people), 'pckh@0.5': overall, 'pckh@0.5_per_joint': dict(zip(_DETECTED_NAMES, per_joint.tolist()))}


def save_overlay(path, views, columns=6, rows=4, seed=0):
    """A grid of scored photos: the annotation in white, the prediction in orange."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    chosen = np.random.default_rng(seed).permutation(len(views))[:columns * rows]
    figure, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows), squeeze=False)
    for axis in axes.ravel():
        axis.set_axis_off()
    for axis, index in zip(axes.ravel(), chosen):
        rgb, annotated, joints = views[index]
        axis.imshow(rgb)
        for a, b in LSP_BONES:
            if annotated.annotated[a] and annotated.annotated[b]:
                axis.plot(*annotated.joints[[a, b]].T, color='white', linewidth=1)
            axis.plot(*joints[[a, b]].T, color='tab:orange', linewidth=1.5)
    figure.suptitle('LSP Extended validation photos (white: annotation, orange: front end)', fontsize=9)
    figure.tight_layout()
    atomic_write(path, lambda file: figure.savefig(file, format='png', dpi=90))
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--front-end', default='blazepose', choices=('blazepose', 'drpose3d'))
    parser.add_argument('--landmark-model', default='heavy', choices=('lite', 'full', 'heavy'),
                        help='blazepose (default %(default)s, as pose3d_infer)')
    parser.add_argument('--no-fallback', action='store_true', help='blazepose: no whole-image landmark pass '
                                                                   'when the detector finds nobody')
    parser.add_argument('--detector-turns', type=int, nargs='+', default=None,
                        help='blazepose: quarter turns the detector looks at (default: the front end\'s)')
    parser.add_argument('--detector-tiles', type=int, default=None, help='blazepose: tile grid (1: none)')
    parser.add_argument('--refine-passes', type=int, default=None, help='blazepose: landmark passes on a new '
                                                                        'person\'s own ROI')
    parser.add_argument('--joint-regressor', help='blazepose: regressor file (default: the shipped one)')
    parser.add_argument('--hourglass', help='drpose3d: hourglass checkpoint (default: shipped)')
    parser.add_argument('--prcnn', help='drpose3d: PRCNN checkpoint (default: shipped)')
    parser.add_argument('--no-person-detector', action='store_true',
                        help="drpose3d: crop the whole photo, not the person BlazePose's detector finds")
    parser.add_argument('--backend', default='onnxruntime')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--lsp', help='LSP-format joints.mat (images/ beside it)')
    parser.add_argument('--lsp-split', default='validation', choices=('validation', 'train', 'all'))
    parser.add_argument('--limit', type=int, help='score only the first N LSP photos')
    parser.add_argument('--coco', nargs='*', default=[], help='COCO-format keypoint files')
    parser.add_argument('--mpii', help='MPII JSON annotations')
    parser.add_argument('--json', help='write the report here')
    parser.add_argument('--overlay', help='write a grid of LSP photos with both skeletons here (PNG)')
    args = parser.parse_args(argv)
    return cli.run(lambda: evaluate_command(args))


def photo_pipeline(args):
    """The front end in photo mode: nothing carried from one photo to the next."""
    from pose3d_ros.inference.backends import set_process_threads
    from pose3d_ros.inference.blazepose import FrontEndSettings
    from pose3d_ros.inference.pipeline import build_pipeline
    from pose3d_ros.paths import DEFAULT_HOURGLASS, DEFAULT_PRCNN

    set_process_threads(args.backend, args.threads)
    if args.front_end == 'blazepose':
        changed = {name: value for name, value in (('detector_turns', args.detector_turns and tuple(args.detector_turns)),
                                                   ('detector_tiles', args.detector_tiles),
                                                   ('refine_passes', args.refine_passes)) if value is not None}
        settings = FrontEndSettings(static=True, full_image_fallback=not args.no_fallback, **changed)
        return build_pipeline('blazepose', landmark_model=args.landmark_model, backend=args.backend,
                              threads=args.threads, settings=settings, joint_regressor=args.joint_regressor)
    return build_pipeline('drpose3d', hourglass=args.hourglass or DEFAULT_HOURGLASS,
                          prcnn=args.prcnn or DEFAULT_PRCNN, backend=args.backend,
                          threads=args.threads, person_detector=not args.no_person_detector)


def people_in_photo(pipeline, rgb):
    """The people of one photo, with nothing tracked from the photo before."""
    pipeline.reset()
    return pipeline.people(rgb)


def evaluate_command(args):
    pipeline = photo_pipeline(args)
    report = {'front_end': args.front_end, 'backend': args.backend}
    if args.front_end == 'blazepose':
        settings = pipeline.front_end.settings
        report.update(landmark_model=args.landmark_model, detector_turns=list(settings.detector_turns),
                      detector_tiles=settings.detector_tiles, refine_passes=settings.refine_passes,
                      full_image_fallback=settings.full_image_fallback,
                      joint_regressor=str(pipeline.front_end.regressor.path))
    views = [] if args.overlay else None
    if args.lsp:
        images = load_lsp(args.lsp, split=args.lsp_split)[:args.limit]
        report['lsp'] = evaluate_lsp(pipeline, images, views)
        report['lsp']['split'] = args.lsp_split
        lsp = report['lsp']
        print(f'LSP {args.lsp_split}: {lsp["photos"]} photos, nobody found in {lsp["photos_nobody_found"]}; '
              f'PCK@0.2 {lsp["pck@0.2"]:.3f} (confidence >= {CONFIDENT}: {lsp["confident_share"]:.0%} of joints, '
              f'PCK {lsp["pck@0.2_confident"]:.3f}; the rest {lsp["pck@0.2_not_confident"]:.3f}); '
              f'front end {lsp["front_end_ms_median"]:.1f} ms median')
        print('  ' + ' '.join(f'{name} {value:.2f}' for name, value in lsp['pck@0.2_per_joint'].items()))
    for path in args.coco:
        entry = report.setdefault('coco', {})[str(path)] = evaluate_coco(pipeline, path)
        print(f'{path}: {entry["photos"]} photos, people annotated {entry["people_annotated"]}, found '
              f'{entry["people_found"]}, matched {entry["people_matched"]}; PCK@0.2 {entry.get("pck@0.2", float("nan")):.3f}')
    if args.mpii:
        report['mpii'] = evaluate_mpii(pipeline, args.mpii)
        print(f'MPII: {report["mpii"]["people"]} people, PCKh@0.5 {report["mpii"]["pckh@0.5"]:.3f}')
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.json, lambda file: file.write(json.dumps(report, indent=1).encode()))
    if args.overlay and views:
        Path(args.overlay).parent.mkdir(parents=True, exist_ok=True)
        save_overlay(args.overlay, views)


if __name__ == '__main__':
    sys.exit(main())
