"""Evaluate the hourglass and PRCNN on held-out renders, and the hourglass on MPII photos and
LSP Extended validation crops; or the BlazePose front end on the same kind of renders.

    pose3d_eval_image_models --hourglass runs/hourglass/checkpoint.pt --prcnn runs/prcnn/checkpoint.pt \
        --subjects 9 --count 2000 --json report.json --pair-figure pairs.png \
        --mpii ../shared/data/mpii-samples/test_mpii.json --mpii-figure mpii.png
    pose3d_eval_image_models --hourglass runs/image/hourglass_lspet/checkpoint.pt --count 500 \
        --lsp ../shared/data/lspet/joints.mat
    pose3d_eval_image_models --front-end blazepose --subjects 9 --count 500 --json report.json
    pose3d_eval_image_models --prcnn runs/image/prcnn_lspet/checkpoint.pt --count 500 --lsp ../shared/data/lspet/joints.mat \
        --teacher runs/joint_regressor/landmarks-full-refine1-turns0123-tiles2-world-babf28247ffe.npz

Renders: poses of the given subjects (held out from training) seen by virtual cameras.
Hourglass: PCKh@0.5 over the joints inside the crop, the reference length being the drawn head
from upper neck to head top (MPII's head segment) in pixels. PRCNN: per joint pair, the share of frames
whose untied order sigmoid(F_i - F_j) gets right (DRPose3D's Figure 6), and its mean over pairs,
reading the hourglass's heatmaps when --hourglass is given, clean ground-truth heatmaps otherwise.
MPII: PCKh@0.5 of the hourglass on the photos of --mpii, cropped from the annotated centre and
scale, over the annotated-visible joints. LSP: PCK@0.2 of the hourglass on every validation photo
(im08401-im10000) whose person has a torso, cropped as the drpose3d front end crops: the
annotated joints' box grown by the tracker's margin (the crop it follows a person with), and the
whole photo (its crop before it has found anyone). PRCNN with --lsp and --teacher (a landmark cache
with world landmarks, pose3d_fit_joint_regressor --world): its pairwise accuracy against the
BlazePose teacher's depth ranking on the same validation people's boxes (pairs the teacher ranks),
on the hourglass's heatmaps or Gaussians at the annotated and teacher joints. --front-end blazepose: the front end in photo mode on
256 x 256 renders (whole renders, no crop given; the person nearest the drawn one is scored,
nobody found scores wrong): PCKh@0.5 as above, and its ranking (from the world landmarks'
depths) scored as PRCNN's.
"""
import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from pose3d_ros.atomic import atomic_write
from pose3d_ros.crop import crop_to_image, crop_transform, warp_crop
from pose3d_ros.heatmaps import decode_heatmaps, heatmap_to_crop
from pose3d_ros.heatmaps import HEATMAP_STRIDE
from pose3d_ros.models.hourglass import load_hourglass
from pose3d_ros.models.prcnn import load_prcnn, pair_logits
from pose3d_ros.ranking import TIE, discretize
from pose3d_ros.skeleton import DETECTED_BONES, DETECTED_JOINTS, JOINT_NAMES, LSP_IN_DETECTED
from training import cli
from training.datasets.h36m import DEFAULT_ROOT
from training.datasets.mpii import PERSON_BOX_PIXELS, load_mpii
from training.datasets.photo_crops import PhotoCrops, lsp_validation_crops, lsp_validation_photos, teacher_arguments
from training.datasets.renders import RenderedPoses, load_poses
from training.evaluate_2d import PCK_THRESHOLD
from training.metrics import mpii_head_size, pck, ranking_accuracy

DETECTED_NAMES = [JOINT_NAMES[j] for j in DETECTED_JOINTS]
_NECK, _HEAD_TOP = (list(DETECTED_JOINTS).index(JOINT_NAMES.index(name)) for name in ('neck_nose', 'head'))
MPII_CROP_MARGIN = 1.25  # crop side = margin x the annotated person height, as MPII code bases do


def _batches(dataset, batch_size):
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    yield from loader


@torch.no_grad()
def predict_joints(hourglass, images, device):
    """(B, 3, S, S) uint8 crops -> ((B, J, 2) crop pixels, (B, J) confidence, last-stack heatmaps)."""
    heatmaps = hourglass.eval()(images.to(device).float() / 255)[-1]
    points, confidence = decode_heatmaps(heatmaps.cpu().numpy())
    return heatmap_to_crop(points, HEATMAP_STRIDE), confidence, heatmaps


def evaluate_hourglass(hourglass, dataset, device='cpu', batch_size=64, heatmaps_out=None):
    """PCKh@0.5 of the hourglass on a RenderedPoses set; each batch's heatmaps are appended to the
    list heatmaps_out, if given (PRCNN's input on the same set: evaluate_prcnn's `heatmaps`)."""
    predicted, target, head, inside = [], [], [], []
    for batch in _batches(dataset, batch_size):
        joints, _, heatmaps = predict_joints(hourglass, batch['image'], device)
        predicted.append(joints)
        if heatmaps_out is not None:
            heatmaps_out.append(heatmaps)
        joints = batch['joints_2d'].numpy()
        target.append(joints)
        head.append(batch['head_size'].numpy())
        inside.append(np.all((joints >= 0) & (joints <= dataset.size - 1), axis=-1))
    per_joint, overall = pck(np.concatenate(predicted), np.concatenate(target), np.concatenate(head),
                              visible=np.concatenate(inside))
    return {'pckh': overall, 'pckh_per_joint': _named(per_joint), 'count': len(dataset)}


def evaluate_photo_crops(hourglass, dataset, device='cpu', batch_size=64):
    """PCK@0.2 of the hourglass on a PhotoCrops set (LSP's metric: the annotated LSP joints, within
    0.2 x the torso size, in crop pixels; the pelvis and thorax LSP lacks are not scored)."""
    predicted, target, known, torso = [], [], [], []
    for batch in _batches(dataset, batch_size):
        predicted.append(predict_joints(hourglass, batch['image'], device)[0][:, LSP_IN_DETECTED])
        target.append(batch['joints_2d'].numpy()[:, LSP_IN_DETECTED])
        known.append(batch['joint_weights'].numpy()[:, LSP_IN_DETECTED] > 0)
        torso.append(batch['torso_size'].numpy())
    _, overall = pck(np.concatenate(predicted), np.concatenate(target), np.concatenate(torso), PCK_THRESHOLD,
                     np.concatenate(known))
    return {'pck': overall, 'people': len(dataset)}


def evaluate_front_end(pipeline, dataset):
    """PCKh@0.5 and pairwise ranking accuracy of a pipeline's front end on a RenderedPoses set."""
    predicted, target, head, inside, rankings, target_rankings = [], [], [], [], [], []
    for index in range(len(dataset)):
        item = dataset[index]
        joints = item['joints_2d'].numpy()
        pipeline.reset()  # every render on its own
        people = pipeline.people(np.ascontiguousarray(item['image'].numpy().transpose(1, 2, 0)))
        if people:
            person = min(people, key=lambda p: np.linalg.norm(p.joints_2d - joints, axis=1).mean())
            predicted.append(person.joints_2d)
            rankings.append(discretize(person.probabilities, tie_band=0.0))
        else:
            predicted.append(np.full_like(joints, np.nan))
            rankings.append(np.full((len(joints), len(joints)), TIE, np.float32))
        target.append(joints)
        head.append(float(item['head_size']))
        inside.append(np.all((joints >= 0) & (joints <= dataset.size - 1), axis=-1))
        target_rankings.append(item['ranking'].numpy())
    _, pckh = pck(np.stack(predicted), np.stack(target), np.array(head), visible=np.stack(inside))
    per_pair, overall = ranking_accuracy(np.stack(rankings), np.stack(target_rankings))
    return {'pckh': pckh, 'ranking_accuracy': overall,
            'pair_accuracy': [[None if np.isnan(v) else float(v) for v in row] for row in per_pair],
            'found': int(sum(not np.isnan(p).any() for p in predicted)), 'count': len(dataset)}


def _named(per_joint):
    return {name: None if np.isnan(value) else float(value) for name, value in zip(DETECTED_NAMES, per_joint)}


@torch.no_grad()
def evaluate_prcnn(prcnn, dataset, device='cpu', hourglass=None, batch_size=64, heatmaps=None):
    """Pairwise ranking accuracy of PRCNN on a RenderedPoses set, overall and per pair (untied
    ground-truth pairs; the prediction is the side of 0.5 that P_ij falls on). It reads the
    hourglass's heatmaps: `heatmaps`, per batch, where evaluate_hourglass has computed them on the
    same set with the same batch size, else computed here; without a hourglass, the set's own."""
    predicted, target = [], []
    prcnn.eval()
    for index, batch in enumerate(_batches(dataset, batch_size)):
        images = batch['image'].to(device).float() / 255
        if heatmaps is not None:
            maps = heatmaps[index]
        else:
            maps = hourglass.eval()(images)[-1] if hourglass is not None else batch['heatmaps'].to(device)
        probabilities = torch.sigmoid(pair_logits(prcnn(images, maps))).cpu().numpy()
        predicted.append(discretize(probabilities, tie_band=0.0))
        target.append(batch['ranking'].numpy())
    target = np.concatenate(target)
    per_pair, overall = ranking_accuracy(np.concatenate(predicted), target)
    return {'ranking_accuracy': overall,
            'pair_accuracy': [[None if np.isnan(v) else float(v) for v in row] for row in per_pair],
            'pairs': int((target != TIE).sum()), 'count': len(dataset)}


def evaluate_mpii(hourglass, annotations, input_size, device='cpu'):
    """PCKh@0.5 of the hourglass on MPII photos -> (report, views): each view is a person's crop
    with the predicted and the annotated joints in crop pixels, and the annotated visibility."""
    people = load_mpii(annotations)
    predicted, views = [], []
    for person in people:
        transform = crop_transform(person.center, person.scale * PERSON_BOX_PIXELS * MPII_CROP_MARGIN,
                                   input_size)
        crop = warp_crop(person.read_image(), transform, input_size)
        points = predict_joints(hourglass, torch.from_numpy(crop.transpose(2, 0, 1)[None].copy()), device)[0][0]
        predicted.append(crop_to_image(points, transform))
        views.append((crop, points, person.joints_2d * transform[0, 0] + transform[:, 2], person.visible))
    target = np.stack([person.joints_2d for person in people])
    per_joint, overall = pck(np.stack(predicted), target, mpii_head_size(target[:, _HEAD_TOP], target[:, _NECK]),
                              visible=np.stack([person.visible for person in people]))
    report = {'pckh': overall, 'pckh_per_joint': _named(per_joint), 'people': len(people)}
    return report, views


def save_mpii_figure(path, views):
    """The MPII crops side by side: annotated skeleton in white, the hourglass's in orange."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(views), figsize=(2.6 * len(views), 2.9), squeeze=False)
    for axis, (crop, predicted, annotated, visible) in zip(axes[0], views):
        axis.imshow(crop)
        for parent, child in DETECTED_BONES:
            if visible[parent] and visible[child]:
                axis.plot(*annotated[[parent, child]].T, color='white', linewidth=1)
            axis.plot(*predicted[[parent, child]].T, color='tab:orange', linewidth=2)
        axis.set_axis_off()
    figure.suptitle('hourglass on MPII photos (white: annotation, orange: prediction)', fontsize=9)
    figure.tight_layout()
    atomic_write(path, lambda file: figure.savefig(file, format='png', dpi=110))
    plt.close(figure)


def save_pair_figure(path, pair_accuracy, title):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    matrix = np.array([[np.nan if v is None else v for v in row] for row in pair_accuracy])
    figure, axes = plt.subplots(figsize=(7, 6))
    image = axes.imshow(matrix, vmin=0.5, vmax=1.0, cmap='viridis')
    axes.set_xticks(range(len(DETECTED_NAMES)), DETECTED_NAMES, rotation=90)
    axes.set_yticks(range(len(DETECTED_NAMES)), DETECTED_NAMES)
    axes.set_title(title)
    figure.colorbar(image, ax=axes, label='pairwise ranking accuracy')
    figure.tight_layout()
    atomic_write(path, lambda file: figure.savefig(file, format='png', dpi=110))
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--hourglass', help='hourglass checkpoint')
    parser.add_argument('--prcnn', help='PRCNN checkpoint')
    parser.add_argument('--front-end', choices=('blazepose',), help='evaluate this front end instead')
    parser.add_argument('--landmark-model', default='full', choices=('lite', 'full', 'heavy'), help='(blazepose)')
    parser.add_argument('--data', default=str(DEFAULT_ROOT), help='Human3.6M folder (default: %(default)s)')
    parser.add_argument('--subjects', type=int, nargs='+', default=[9], help='held-out subjects (default: 9)')
    parser.add_argument('--count', type=int, default=2000, help='held-out renders (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=1, help='seed of the renders (default: %(default)s)')
    parser.add_argument('--mpii', help='MPII JSON annotations (images beside it)')
    parser.add_argument('--mpii-figure', help='PNG of the MPII crops with annotated and predicted skeletons')
    parser.add_argument('--lsp', help='LSP Extended joints.mat: PCK@0.2 on its validation split\'s crops')
    parser.add_argument('--teacher', nargs='+', help='with --lsp and --prcnn: the landmark cache with world landmarks '
                                                     '(or several: their mean, an ensemble teacher) whose depth '
                                                     'ranking PRCNN is scored against on those crops')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--json', help='write the report here')
    parser.add_argument('--pair-figure', help='PNG of the per-pair ranking accuracy')
    args = parser.parse_args(argv)
    return cli.run(lambda: evaluate_command(args))


FRONT_END_RENDER_SIZE = 256


def evaluate_front_end_command(args):
    from pose3d_ros.inference.blazepose import FrontEndSettings
    from pose3d_ros.inference.pipeline import build_pipeline

    pipeline = build_pipeline(args.front_end, landmark_model=args.landmark_model,
                              settings=FrontEndSettings(static=True))
    with warnings.catch_warnings():
        warnings.simplefilter('always')
        poses = load_poses(args.data, args.subjects)
    renders = RenderedPoses(poses, args.count, size=FRONT_END_RENDER_SIZE, seed=args.seed)
    report = {'subjects': args.subjects, 'renders': args.count, 'seed': args.seed, 'input_size': FRONT_END_RENDER_SIZE,
              'front_end': args.front_end, 'landmark_model': args.landmark_model,
              **evaluate_front_end(pipeline, renders)}
    print(f'{args.front_end} ({args.landmark_model}) on {args.count} renders of S{args.subjects}: found '
          f'{report["found"]}, PCKh@0.5 {report["pckh"]:.3f}, pairwise ranking accuracy {report["ranking_accuracy"]:.3f}')
    if args.pair_figure:
        save_pair_figure(args.pair_figure, report['pair_accuracy'], f'{args.front_end} pairwise ranking accuracy, renders')
    return report


def evaluate_command(args):
    report = evaluate_front_end_command(args) if args.front_end else evaluate_networks_command(args)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.json, lambda file: file.write(json.dumps(report, indent=2).encode() + b'\n'))


def evaluate_networks_command(args):
    if not (args.hourglass or args.prcnn):
        raise ValueError('give --hourglass, --prcnn or both, or --front-end')
    if args.lsp and not (args.hourglass or (args.prcnn and args.teacher)):
        raise ValueError('--lsp needs --hourglass, or --prcnn and --teacher')
    if args.teacher and not (args.lsp and args.prcnn):
        raise ValueError('--teacher needs --lsp and --prcnn')
    if args.mpii_figure and not (args.mpii and args.hourglass):
        raise ValueError('--mpii-figure needs --mpii and --hourglass')
    hourglass, checkpoint = load_hourglass(args.hourglass, args.device) if args.hourglass else (None, None)
    prcnn, prcnn_checkpoint = load_prcnn(args.prcnn, args.device) if args.prcnn else (None, None)
    input_size = (checkpoint or prcnn_checkpoint)['input_size']
    data = (checkpoint or prcnn_checkpoint)['config']['data']
    if prcnn_checkpoint and checkpoint and prcnn_checkpoint['input_size'] != input_size:
        raise ValueError(f'{args.prcnn}: input size {prcnn_checkpoint["input_size"]} differs from the '
                         f'hourglass ({input_size})')
    with warnings.catch_warnings():
        warnings.simplefilter('always')
        poses = load_poses(args.data, args.subjects)
    renders = RenderedPoses(poses, args.count, size=input_size, seed=args.seed,
                            camera_distance_mm=tuple(data['camera_distance_mm']),
                            heatmap_sigma=data['heatmap_sigma'], tie_mm=data['tie_mm'])
    subjects = 'S' + ', S'.join(map(str, args.subjects))
    report = {'subjects': args.subjects, 'renders': args.count, 'seed': args.seed, 'input_size': input_size}
    heatmaps = [] if hourglass is not None else None  # the hourglass's on the renders, once for both evaluations
    if hourglass is not None:
        report['hourglass'] = {'checkpoint': args.hourglass,
                               **evaluate_hourglass(hourglass, renders, args.device, heatmaps_out=heatmaps)}
        print(f'hourglass  PCKh@0.5 on {args.count} renders of {subjects}: {report["hourglass"]["pckh"]:.3f}')
        if args.mpii:
            report['mpii'], views = evaluate_mpii(hourglass, args.mpii, input_size, args.device)
            print(f'hourglass  PCKh@0.5 on {report["mpii"]["people"]} MPII photos: {report["mpii"]["pckh"]:.3f}')
            if args.mpii_figure:
                save_mpii_figure(args.mpii_figure, views)
        if args.lsp:
            for name, crops in lsp_validation_crops(args.lsp, input_size, heatmap_sigma=data['heatmap_sigma']).items():
                report[name] = evaluate_photo_crops(hourglass, crops, args.device)
                framing = 'whole photos' if crops.augmentation else "the person's box"
                print(f'hourglass  PCK@0.2 on {report[name]["people"]} LSP Extended validation photos, {framing}: '
                      f'{report[name]["pck"]:.3f}')
    if prcnn is not None:
        report['prcnn'] = {'checkpoint': args.prcnn, 'heatmaps': 'hourglass' if hourglass else 'ground_truth',
                           **evaluate_prcnn(prcnn, renders, args.device, hourglass, heatmaps=heatmaps)}
        print(f'PRCNN      pairwise ranking accuracy: {report["prcnn"]["ranking_accuracy"]:.3f} '
              f'({report["prcnn"]["pairs"]} untied pairs, heatmaps: {report["prcnn"]["heatmaps"]})')
        if args.pair_figure:
            save_pair_figure(args.pair_figure, report['prcnn']['pair_accuracy'],
                             f'PRCNN pairwise ranking accuracy, renders of {subjects}')
        if args.teacher:
            people = lsp_validation_photos(args.lsp)
            crops = PhotoCrops(people, input_size, heatmap_sigma=data['heatmap_sigma'], tie_mm=data['tie_mm'],
                               **teacher_arguments(args.teacher, people, depths=True))
            report['prcnn_lsp'] = {'teacher': args.teacher, **evaluate_prcnn(prcnn, crops, args.device, hourglass)}
            print(f'PRCNN      pairwise ranking accuracy against the teacher on {len(crops)} LSP Extended validation '
                  f'photos: {report["prcnn_lsp"]["ranking_accuracy"]:.3f} ({report["prcnn_lsp"]["pairs"]} untied pairs)')
    return report


if __name__ == '__main__':
    sys.exit(main())
