"""Synthetic person images from 3D poses: a volumetric body, z-buffered, shaded and textured.

The body is a set of tapered capsules between points derived from the 17 joints (limbs, a torso
of five capsules, neck, head, hands, shoes). Each capsule is drawn as a screen-space impostor:
for a pixel at distance d from the projected bone axis, inside the projected radius R, the
surface lies r * sqrt(1 - (d/R)^2) in front of the axis and its normal follows from the same
numbers. Per-pixel depths go through a z-buffer, so occlusion, shading from a random light,
perspective foreshortening and front/back cues (face and hair, shirt front and back) carry the
depth order the way photos do.

Images are rendered straight into the network's square crop: the crop is an affine map of the
camera image (scale and shift), so it only changes the intrinsics. Everything is drawn from the
`rng` passed in, so a seed fixes the image. Given explicit intrinsics, a (width, height) size, a
fixed appearance and background and no camera effects, render_person draws full camera frames
of a steady scene instead (the demo image source).
"""
from dataclasses import dataclass

import cv2
import numpy as np

from pose3d_ros.skeleton import DETECTED_JOINTS, JOINT_NAMES

_J = {name: index for index, name in enumerate(JOINT_NAMES)}
MATERIALS = ('shirt', 'sleeve', 'pants', 'skin', 'head', 'shoes')

# Anchor points: the 17 joints, then points derived in _anchor_points.
HEAD_CENTRE, HEAD_TOP, L_HAND, R_HAND, L_TOE, R_TOE = range(17, 23)

# (first anchor, second anchor, radius at first, radius at second (mm), material)
BODY_PARTS = (
    (_J['r_hip'], _J['l_hip'], 90, 90, 'pants'),
    (_J['hip'], _J['spine'], 115, 125, 'shirt'),
    (_J['spine'], _J['thorax'], 125, 110, 'shirt'),
    (_J['l_hip'], _J['l_shoulder'], 70, 55, 'shirt'),
    (_J['r_hip'], _J['r_shoulder'], 70, 55, 'shirt'),
    (_J['thorax'], _J['l_shoulder'], 60, 50, 'shirt'),
    (_J['thorax'], _J['r_shoulder'], 60, 50, 'shirt'),
    (_J['thorax'], _J['neck_nose'], 50, 45, 'skin'),
    (HEAD_CENTRE, HEAD_TOP, 95, 85, 'head'),
    (_J['l_hip'], _J['l_knee'], 80, 55, 'pants'),
    (_J['l_knee'], _J['l_foot'], 55, 40, 'pants'),
    (_J['r_hip'], _J['r_knee'], 80, 55, 'pants'),
    (_J['r_knee'], _J['r_foot'], 55, 40, 'pants'),
    (_J['l_foot'], L_TOE, 42, 38, 'shoes'),
    (_J['r_foot'], R_TOE, 42, 38, 'shoes'),
    (_J['l_shoulder'], _J['l_elbow'], 48, 40, 'shirt'),
    (_J['l_elbow'], _J['l_wrist'], 38, 30, 'sleeve'),
    (_J['l_wrist'], L_HAND, 34, 40, 'skin'),
    (_J['r_shoulder'], _J['r_elbow'], 48, 40, 'shirt'),
    (_J['r_elbow'], _J['r_wrist'], 38, 30, 'sleeve'),
    (_J['r_wrist'], R_HAND, 34, 40, 'skin'),
)
_PART_A = np.array([part[0] for part in BODY_PARTS])
_PART_B = np.array([part[1] for part in BODY_PARTS])
_PART_RADII = np.array([part[2:4] for part in BODY_PARTS], dtype=np.float64)
_PART_MATERIAL = np.array([MATERIALS.index(part[4]) for part in BODY_PARTS])
_HEAD_PART = next(index for index, part in enumerate(BODY_PARTS) if part[:2] == (HEAD_CENTRE, HEAD_TOP))
# Radius of the body around each of the 17 joints: the thickest part that ends there.
JOINT_RADII = np.array([max([r for a, b, ra, rb, _ in BODY_PARTS for j, r in ((a, ra), (b, rb)) if j == joint],
                            default=40.0) for joint in range(len(JOINT_NAMES))])

SKIN_TONES = np.array([[255, 224, 196], [234, 192, 160], [198, 144, 110], [160, 110, 80],
                       [120, 80, 57], [88, 58, 42]], dtype=np.float32)
HAIR_COLOURS = np.array([[20, 16, 14], [60, 40, 28], [110, 80, 50], [190, 160, 110],
                         [150, 150, 150], [120, 50, 30]], dtype=np.float32)
NEAR_MM = 100.0  # parts closer to the camera than this are not drawn
BACKGROUND_DEPTH = np.float32(np.inf)


@dataclass
class Rendering:
    """One rendered crop. Joint arrays are in DETECTED_JOINTS order, coordinates in crop pixels
    (pixel centres at integers); depths in mm along the optical axis."""
    image: np.ndarray        # (S, S, 3) uint8 RGB; (height, width, 3) for a (width, height) size
    joints_2d: np.ndarray    # (16, 2) float32
    depths: np.ndarray       # (16,) float32
    visible: np.ndarray      # (16,) bool: inside the crop and not hidden behind another part
    pose_camera: np.ndarray  # (17, 3) float32 mm, the camera-frame pose
    focal: float             # crop pixels per unit of normalized image coordinates
    head_size: float         # crop pixels: the drawn head from its bottom (MPII's upper neck) to its top
    surface_mm: np.ndarray   # (S, S) float32: the drawn body's depth along the optical axis, inf elsewhere


def _unit(vector):
    return vector / max(float(np.linalg.norm(vector)), 1e-9)


def body_axes(pose):
    """Unit (forward, up) of a (17, 3) pose: forward is where the chest faces."""
    across = pose[_J['l_hip']] - pose[_J['r_hip']] + pose[_J['l_shoulder']] - pose[_J['r_shoulder']]
    up = _unit(pose[_J['thorax']] - pose[_J['hip']])
    return _unit(np.cross(across, up)), up


def _anchor_points(pose, forward, up):
    """(23, 3): the joints and the derived head, hand and toe points."""
    head_axis = pose[_J['head']] - pose[_J['neck_nose']]
    head_middle = (pose[_J['head']] + pose[_J['neck_nose']]) / 2 - 30 * forward
    extra = [
        head_middle - 0.2 * head_axis,
        head_middle + 0.2 * head_axis,
        pose[_J['l_wrist']] + 0.35 * (pose[_J['l_wrist']] - pose[_J['l_elbow']]),
        pose[_J['r_wrist']] + 0.35 * (pose[_J['r_wrist']] - pose[_J['r_elbow']]),
        pose[_J['l_foot']] + 130 * forward - 50 * up,
        pose[_J['r_foot']] + 130 * forward - 50 * up,
    ]
    return np.concatenate([pose, np.stack(extra)])


@dataclass
class Appearance:
    """Random looks of one person and scene."""
    radius_scale: np.ndarray   # (parts,)
    albedo: np.ndarray         # (materials, 3) float32 0..1
    shirt_back: np.ndarray     # (3,) the shirt's colour on the back
    hair: np.ndarray           # (3,)
    hair_line: float           # head pixels with n . forward below this are hair
    stripe_period_mm: np.ndarray  # (materials,) 0: plain
    stripe_phase: np.ndarray   # (materials,)
    stripe_contrast: np.ndarray   # (materials,)
    light: np.ndarray          # (3,) unit vector towards the light, camera frame
    ambient: float
    specular: float

    @classmethod
    def sample(cls, rng):
        skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.85, 1.1)
        shirt, pants, shoes = rng.uniform(15, 245, (3, 3))
        sleeve = skin if rng.random() < 0.4 else shirt
        albedo = np.stack([shirt, sleeve, pants, skin, skin, shoes]) / 255.0
        shirt_back = shirt if rng.random() < 0.5 else rng.uniform(15, 245, 3)
        body = rng.uniform(0.85, 1.2)
        radius_scale = body * rng.uniform(0.9, 1.1, len(BODY_PARTS))
        stripes = rng.random(len(MATERIALS)) < 0.35
        stripes[MATERIALS.index('skin')] = stripes[MATERIALS.index('head')] = False
        light = _unit(np.array([rng.uniform(-1, 1), rng.uniform(-1, 0.4), rng.uniform(-1, -0.15)]))
        return cls(radius_scale=radius_scale, albedo=np.clip(albedo, 0, 1).astype(np.float32),
                   shirt_back=np.clip(shirt_back / 255.0, 0, 1).astype(np.float32),
                   hair=HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] / 255.0,
                   hair_line=float(rng.uniform(-0.35, 0.1)),
                   stripe_period_mm=np.where(stripes, rng.uniform(25, 120, len(MATERIALS)), 0.0),
                   stripe_phase=rng.uniform(0, 2 * np.pi, len(MATERIALS)),
                   stripe_contrast=rng.uniform(0.2, 0.6, len(MATERIALS)),
                   light=light.astype(np.float32), ambient=float(rng.uniform(0.25, 0.55)),
                   specular=float(rng.uniform(0.0, 0.35)))


def _image_size(size):
    """An int (square) or (width, height) -> (width, height)."""
    if np.ndim(size) == 0:
        return int(size), int(size)
    width, height = (int(side) for side in size)
    return width, height


def background(rng, size):
    """(size, size, 3) float32 0..1: a colour gradient, blurred noise and random shapes.

    A (width, height) size gives (height, width, 3): the top-left of the square background of the
    larger side (the same draws from rng as that square)."""
    width, height = _image_size(size)
    if width != height:
        return np.ascontiguousarray(background(rng, max(width, height))[:height, :width])
    size = width
    low, high = rng.uniform(0, 1, (2, 3)).astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    mix = 0.5 + np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None]
    image = low + np.clip(mix, 0, 1)[..., None] * (high - low)
    cells = int(rng.integers(2, 12))
    noise = cv2.resize(rng.uniform(-0.25, 0.25, (cells, cells, 3)).astype(np.float32), (size, size),
                       interpolation=cv2.INTER_CUBIC)
    image = np.ascontiguousarray(np.clip(image + noise, 0, 1))
    for _ in range(rng.integers(0, 8)):
        colour = rng.uniform(0, 1, 3).tolist()
        centre = rng.uniform(-0.1, 1.1, 2) * size
        extent = rng.uniform(0.05, 0.5, 2) * size
        if rng.random() < 0.5:
            corner = (centre - extent / 2).astype(int)
            cv2.rectangle(image, tuple(corner.tolist()), tuple((corner + extent).astype(int).tolist()),
                          colour, -1)
        else:
            cv2.ellipse(image, tuple(centre.astype(int).tolist()), tuple((extent / 2).astype(int).tolist()),
                        float(rng.uniform(0, 180)), 0, 360, colour, -1)
    return image


def crop_intrinsics(rng, pose_camera, size, padding=(1.15, 1.4), jitter=0.06):
    """Focal length and principal point (crop pixels) of a square crop around the person.

    The box is the joints' normalized-coordinate bounding box grown by a random padding and
    shifted by up to `jitter` of its side, as a detector or tracker box would be. A (width,
    height) size fits that box into the shorter side, centred.
    """
    normalized = pose_camera[:, :2] / pose_camera[:, 2:]
    low, high = normalized.min(0), normalized.max(0)
    side = (high - low).max() * rng.uniform(*padding)
    centre = (low + high) / 2 + rng.uniform(-jitter, jitter, 2) * side
    if np.ndim(size) == 0:
        focal = size / side
        return focal, size / 2 - focal * centre
    width, height = _image_size(size)
    focal = min(width, height) / side
    return focal, np.array([width / 2, height / 2]) - focal * centre


class _Buffers:
    """Per-pixel results of the z-buffer pass."""

    def __init__(self, width, height):
        self.depth = np.full((height, width), BACKGROUND_DEPTH, np.float32)
        self.part = np.full((height, width), -1, np.int16)
        self.along_mm = np.zeros((height, width), np.float32)   # position along the bone
        self.normal = np.zeros((height, width, 3), np.float32)  # camera frame, outward
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        self.xs, self.ys = xs, ys


def _draw_capsule(buffers, index, a, b, radius_a, radius_b, focal, principal):
    """z-buffer one tapered capsule from camera-frame points a to b (mm)."""
    if a[2] < NEAR_MM or b[2] < NEAR_MM:
        return
    height, width = buffers.depth.shape
    pa = focal * a[:2] / a[2] + principal
    pb = focal * b[:2] / b[2] + principal
    ra, rb = focal * radius_a / a[2], focal * radius_b / b[2]
    x0, y0 = np.floor(np.minimum(pa - ra, pb - rb)).astype(int)
    x1, y1 = np.ceil(np.maximum(pa + ra, pb + rb)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x0 >= x1 or y0 >= y1:
        return
    window = np.s_[y0:y1, x0:x1]
    xs, ys = buffers.xs[window], buffers.ys[window]
    axis = pb - pa
    t = np.clip(((xs - pa[0]) * axis[0] + (ys - pa[1]) * axis[1]) / max(float(axis @ axis), 1e-9), 0, 1)
    off_x = xs - (pa[0] + t * axis[0])
    off_y = ys - (pa[1] + t * axis[1])
    radius_px = ra + t * (rb - ra)
    inside = off_x ** 2 + off_y ** 2 < radius_px ** 2
    if not inside.any():
        return
    off_x, off_y, radius_px, t = off_x[inside] / radius_px[inside], off_y[inside] / radius_px[inside], \
        radius_px[inside], t[inside]
    bulge = np.sqrt(np.maximum(1 - off_x ** 2 - off_y ** 2, 0))
    depth = a[2] + t * (b[2] - a[2]) - (radius_a + t * (radius_b - radius_a)) * bulge
    rows, cols = np.nonzero(inside)
    rows += y0
    cols += x0
    nearer = depth < buffers.depth[rows, cols]
    rows, cols = rows[nearer], cols[nearer]
    buffers.depth[rows, cols] = depth[nearer]
    buffers.part[rows, cols] = index
    buffers.along_mm[rows, cols] = t[nearer] * float(np.linalg.norm(b - a))
    buffers.normal[rows, cols] = np.stack([off_x[nearer], off_y[nearer], -bulge[nearer]], axis=1)


def _shade(buffers, image, appearance, forward, up):
    """Write the shaded body colours into image (float32 0..1) where a part won the z-buffer."""
    covered = buffers.part >= 0
    part = buffers.part[covered]
    normal = buffers.normal[covered]
    material = _PART_MATERIAL[part]
    albedo = appearance.albedo[material]
    facing = normal @ forward.astype(np.float32)
    shirt = material == MATERIALS.index('shirt')
    albedo[shirt & (facing < 0)] = appearance.shirt_back
    head = material == MATERIALS.index('head')
    hair = head & ((facing < appearance.hair_line) | (normal @ up.astype(np.float32) > 0.55))
    albedo[hair] = appearance.hair
    period = appearance.stripe_period_mm[material]
    striped = period > 0
    if striped.any():
        wave = np.sin(2 * np.pi * buffers.along_mm[covered][striped] / period[striped]
                      + appearance.stripe_phase[material[striped]])
        albedo[striped] *= (1 - appearance.stripe_contrast[material[striped]] * (wave > 0))[:, None]
    diffuse = np.maximum(normal @ appearance.light, 0)
    half = _unit(appearance.light + np.array([0, 0, -1], np.float32)).astype(np.float32)
    highlight = appearance.specular * np.maximum(normal @ half, 0) ** 16
    image[covered] = albedo * (appearance.ambient + (1 - appearance.ambient) * diffuse)[:, None] \
        + highlight[:, None]


def visibility(buffers, joints_2d, depths, radii, tolerance_mm=40.0):
    """(N,) bool: a joint is visible when it falls inside the crop and nothing is drawn in front
    of its own surface (its depth minus the body radius there, less a tolerance)."""
    height, width = buffers.depth.shape
    pixels = np.round(joints_2d).astype(int)
    inside = np.all((pixels >= 0) & (pixels < (width, height)), axis=1)
    visible = np.zeros(len(joints_2d), bool)
    rows, cols = pixels[inside, 1], pixels[inside, 0]
    visible[inside] = buffers.depth[rows, cols] >= depths[inside] - radii[inside] - tolerance_mm
    return visible


def render_person(rng, pose_camera, size, appearance=None, intrinsics=None, background_image=None,
                  camera_effects=True):
    """Render the camera-frame pose (17, 3) mm -> Rendering.

    size: an int for a size x size crop, or (width, height). What is not given is drawn from rng,
    in this order: the appearance; the intrinsics, `(focal, principal)` in pixels (default: a
    random crop around the person, crop_intrinsics); the background, a float32 0..1 image of the
    output's shape (default: background(); it is not modified); and, when camera_effects, the
    exposure, blur, noise and JPEG artefacts (without them the shaded image is only quantized).
    """
    pose_camera = np.asarray(pose_camera, np.float64)
    width, height = _image_size(size)
    appearance = appearance or Appearance.sample(rng)
    forward, up = body_axes(pose_camera)
    anchors = _anchor_points(pose_camera, forward, up)
    if intrinsics is None:
        focal, principal = crop_intrinsics(rng, pose_camera, size)
    else:
        focal, principal = float(intrinsics[0]), np.asarray(intrinsics[1], np.float64)
    buffers = _Buffers(width, height)
    radii = _PART_RADII * appearance.radius_scale[:, None]
    for index in range(len(BODY_PARTS)):
        _draw_capsule(buffers, index, anchors[_PART_A[index]], anchors[_PART_B[index]],
                      radii[index, 0], radii[index, 1], focal, principal)
    if background_image is None:
        image = background(rng, size)
    else:
        if background_image.shape != (height, width, 3):
            raise ValueError(f'background_image has shape {background_image.shape}; the output is '
                             f'{(height, width, 3)}')
        image = np.array(background_image, np.float32)
    _shade(buffers, image, appearance, forward, up)
    if camera_effects:
        image = _camera_effects(rng, image)
    else:
        image = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
    joints = pose_camera[DETECTED_JOINTS]
    joints_2d = focal * joints[:, :2] / joints[:, 2:] + principal
    body_radii = JOINT_RADII[DETECTED_JOINTS] * float(appearance.radius_scale.mean())
    return Rendering(image=image, joints_2d=joints_2d.astype(np.float32),
                     depths=joints[:, 2].astype(np.float32),
                     visible=visibility(buffers, joints_2d, joints[:, 2], body_radii),
                     pose_camera=pose_camera.astype(np.float32), focal=float(focal),
                     head_size=head_size_px(anchors, radii[_HEAD_PART], focal), surface_mm=buffers.depth)


def head_size_px(anchors, head_radii, focal):
    """Length in pixels, at the head's depth, of the head capsule from end to end: what MPII's
    PCKh calls the head segment (upper neck to head top). The 17 joints hold no such segment:
    Human3.6M's neck/nose-head bone (115 mm) spans half a head."""
    bottom, top = anchors[HEAD_CENTRE], anchors[HEAD_TOP]
    length_mm = float(np.linalg.norm(top - bottom)) + float(head_radii.sum())
    return focal * length_mm / float((bottom[2] + top[2]) / 2)


def _camera_effects(rng, image):
    """Exposure, blur, sensor noise and JPEG compression -> uint8 RGB."""
    image = image * rng.uniform(0.7, 1.3) + rng.uniform(-0.1, 0.1)
    image = np.clip(image, 0, 1) ** rng.uniform(0.7, 1.4)
    sigma = rng.uniform(0, 1.2)
    if sigma > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    image = image * 255 + rng.normal(0, rng.uniform(0, 6), image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        encoded = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 95))])[1]
        image = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    return image
