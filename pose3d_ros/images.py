"""Conversions between sensor_msgs images and numpy RGB arrays, with validation.

`rgb_from_image_msg` and `rgb_from_compressed_msg` check everything a malformed message can get
wrong (encoding, zero size, step, truncated data, absurd size claims, corrupt compressed data)
*before* allocating anything, and raise ValueError naming the field and the value. The colour
conversion itself is done by a maintained library:

- cv_bridge (`CvBridge.imgmsg_to_cv2`) where a ROS install provides it and it imports cleanly
  (a cv_bridge built against another numpy major version fails to import: then it is skipped);
- rosbags-image otherwise (pip; its `convert_color` maps ROS encodings to OpenCV conversions).
  Its own `image_to_cvimage` ignores `step` (padded rows come out skewed), so the step-aware
  view of the data is built here and only the colour conversion is delegated.

`CONVERTER` says which one this process uses. Compressed images are decoded with OpenCV
(`cv2.imdecode`), after the JPEG / PNG header's size has been checked against `max_pixels`.
Depth images (`depth_to_msg`, `depth_from_msg`) are plain arrays: 16UC1 millimetres or 32FC1
metres, checked the same way.

Only 8-bit encodings are accepted (`ENCODINGS`): is_bigendian is irrelevant for them and ignored.
"""
import array
import struct
import sys

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image

# encoding -> bytes per pixel (8-bit encodings only); yuv422 (UYVY) and yuv422_yuy2 (YUYV) carry
# 2 bytes per pixel and need an even width.
ENCODINGS = {
    'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1,
    'yuv422': 2, 'uyvy': 2, 'yuv422_yuy2': 2, 'yuyv': 2,
    'bayer_rggb8': 1, 'bayer_bggr8': 1, 'bayer_gbrg8': 1, 'bayer_grbg8': 1,
}
_YUV422 = ('yuv422', 'uyvy', 'yuv422_yuy2', 'yuyv')
DEFAULT_MAX_PIXELS = 40_000_000  # ~ 8K UHD (33 Mpx) with a margin; a 20000x20000 claim is refused

_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_JPEG_SOI = b'\xff\xd8'


def _load_converter():
    """('cv_bridge', CvBridge()) where it imports, else ('rosbags-image', convert_color)."""
    try:
        from cv_bridge import CvBridge
        return 'cv_bridge', CvBridge()
    except Exception:  # not installed, or built against an incompatible numpy / OpenCV
        pass
    try:
        from rosbags.image.image import convert_color
        return 'rosbags-image', convert_color
    except ImportError:
        return None, None


CONVERTER, _converter = _load_converter()


def image_to_msg(header, rgb):
    """sensor_msgs/Image (`rgb8`, step = width * 3) from an (H, W, 3) uint8 RGB array."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f'image_to_msg needs an (H, W, 3) uint8 RGB array, got {rgb.shape} {rgb.dtype}')
    height, width = rgb.shape[:2]
    msg = Image(header=header, height=height, width=width, encoding='rgb8', is_bigendian=0,
                step=width * 3)
    data = array.array('B')
    data.frombytes(np.ascontiguousarray(rgb).data)  # one copy, no per-element checks
    msg.data = data
    return msg


def read_rgb(path):
    """An image file -> (H, W, 3) uint8 RGB; ValueError naming the file when it cannot be read."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f'{path}: not a readable image')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# Depth images, the ROS conventions (REP 118): 16UC1 (or mono16) in millimetres, 32FC1 in metres;
# 0 (and NaN) mean no measurement. Encoding -> (pixel type, units per metre).
DEPTH_ENCODINGS = {'16UC1': (np.uint16, 1000.0), 'mono16': (np.uint16, 1000.0), '32FC1': (np.float32, 1.0)}


def depth_to_msg(header, depth_mm):
    """sensor_msgs/Image (16UC1, millimetres) from an (H, W) uint16 array."""
    depth_mm = np.asarray(depth_mm)
    if depth_mm.ndim != 2 or depth_mm.dtype != np.uint16:
        raise ValueError(f'depth_to_msg needs an (H, W) uint16 array, got {depth_mm.shape} {depth_mm.dtype}')
    height, width = depth_mm.shape
    msg = Image(header=header, height=height, width=width, encoding='16UC1',
                is_bigendian=int(sys.byteorder == 'big'), step=width * 2)
    data = array.array('B')
    data.frombytes(np.ascontiguousarray(depth_mm).view(np.uint8).data)
    msg.data = data
    return msg


def depth_from_msg(msg, max_pixels=DEFAULT_MAX_PIXELS):
    """(H, W) float32 metres from a depth sensor_msgs/Image (16UC1 / mono16 mm, 32FC1 m), NaN where
    there is no measurement; ValueError naming the field for a malformed one."""
    if msg.encoding not in DEPTH_ENCODINGS:
        raise ValueError(f'depth Image.encoding {msg.encoding!r} is not a depth encoding (supported: '
                         f'{", ".join(DEPTH_ENCODINGS)})')
    dtype, per_metre = DEPTH_ENCODINGS[msg.encoding]
    rows = np.ascontiguousarray(_pixel_rows(msg, 'depth Image', np.dtype(dtype).itemsize, max_pixels))
    values = rows.view(np.dtype(dtype).newbyteorder('>' if msg.is_bigendian else '<')).astype(np.float32)
    metres = values / np.float32(per_metre)
    metres[~(np.isfinite(metres) & (metres > 0))] = np.nan
    return metres


def _pixel_rows(msg, kind, bytes_per_pixel, max_pixels):
    """(height, width * bytes_per_pixel) uint8 view of a raw image message's pixels, rows of `step`
    bytes cut to their pixels; ValueError naming the field of a malformed size, step or data."""
    width, height, step = msg.width, msg.height, msg.step
    _check_size(kind, width, height, max_pixels)
    row_bytes = width * bytes_per_pixel
    if step < row_bytes:
        raise ValueError(f'{kind}.step {step} is smaller than width * bytes per pixel = {width} * '
                         f'{bytes_per_pixel} = {row_bytes} ({msg.encoding})')
    data = _as_bytes(msg.data)
    if data.size < step * height:
        raise ValueError(f'{kind}.data has {data.size} bytes, fewer than step * height = {step} * '
                         f'{height} = {step * height} (truncated)')
    return data[:step * height].reshape(height, step)[:, :row_bytes]


def _check_size(kind, width, height, max_pixels):
    if width <= 0 or height <= 0:
        raise ValueError(f'{kind} has zero size: width={width}, height={height}')
    if width * height > max_pixels:
        raise ValueError(f'{kind} claims {width}x{height} = {width * height} pixels, over the '
                         f'limit of {max_pixels} (max_pixels)')


def _as_bytes(data):
    """A uint8 numpy view of a message's data (array.array, bytes or a list) without a copy
    where possible."""
    if isinstance(data, (array.array, bytes, bytearray, memoryview)):
        return np.frombuffer(data, dtype=np.uint8)
    return np.asarray(data, dtype=np.uint8)


def rgb_from_image_msg(msg, max_pixels=DEFAULT_MAX_PIXELS):
    """(H, W, 3) uint8 RGB from a sensor_msgs/Image; ValueError naming the field for a malformed one.

    An rgb8 image with step == width * 3 is returned as a view of the message's data (no copy).
    """
    encoding = msg.encoding
    if encoding not in ENCODINGS:
        raise ValueError(f'Image.encoding {encoding!r} is not supported (supported: '
                         f'{", ".join(ENCODINGS)})')
    width, height, step = msg.width, msg.height, msg.step
    bytes_per_pixel = ENCODINGS[encoding]
    rows = _pixel_rows(msg, 'Image', bytes_per_pixel, max_pixels)
    if encoding in _YUV422 and width % 2:
        raise ValueError(f'Image.width {width} is odd; {encoding} packs pixels in pairs')
    row_bytes = width * bytes_per_pixel
    if CONVERTER is None:
        raise ImportError('no image conversion library: install rosbags-image (pip) or cv_bridge (ROS)')
    if CONVERTER == 'cv_bridge':
        if step != row_bytes:  # cv_bridge assumes step is a multiple of the pixel size: compact it
            msg = Image(header=msg.header, height=height, width=width, encoding=encoding,
                        is_bigendian=msg.is_bigendian, step=row_bytes)
            compact = array.array('B')
            compact.frombytes(np.ascontiguousarray(rows).data)
            msg.data = compact
        try:
            rgb = _converter.imgmsg_to_cv2(msg, desired_encoding='rgb8')
        except Exception as error:  # CvBridgeError, or an encoding this cv_bridge version lacks
            raise ValueError(f'Image.encoding {encoding!r}: cv_bridge cannot convert it to rgb8: '
                             f'{error}') from None
    else:
        pixels = rows.reshape(height, width, bytes_per_pixel) if bytes_per_pixel > 1 else rows
        rgb = _converter(pixels, encoding, 'rgb8')
    return np.ascontiguousarray(rgb)


def _png_size(data):
    if len(data) < 24 or data[12:16] != b'IHDR':
        return None
    width, height = struct.unpack('>II', data[16:24])
    return width, height


def _jpeg_size(data):
    """(width, height) from a JPEG's first SOF marker, or None when none is found."""
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            position += 2
            continue
        length = struct.unpack('>H', data[position + 2:position + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if position + 9 > len(data):
                return None
            height, width = struct.unpack('>HH', data[position + 5:position + 9])
            return width, height
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        position += 2 + length
    return None


def rgb_from_compressed_msg(msg, max_pixels=DEFAULT_MAX_PIXELS):
    """(H, W, 3) uint8 RGB from a sensor_msgs/CompressedImage holding a JPEG or a PNG.

    The format is recognised from the data (image_transport writes e.g. 'rgb8; jpeg compressed
    bgr8' in `format`); the size in its header is checked against max_pixels before decoding.
    ValueError naming `format` for anything else, for truncated data (no end marker) and for data
    that does not decode. (Damage inside the entropy-coded data that libjpeg gets through decodes
    with artifacts: it cannot be told from a valid image here.)
    """
    fmt = msg.format
    data = _as_bytes(msg.data)
    head = data[:64].tobytes()
    if 'compresseddepth' in fmt.lower().replace(' ', ''):
        raise ValueError(f'CompressedImage.format {fmt!r}: compressed depth images are not supported')
    if head.startswith(_PNG_SIGNATURE):
        kind, size = 'PNG', _png_size(data[:24].tobytes())
    elif head.startswith(_JPEG_SOI):
        # The frame header follows the APPn segments (EXIF thumbnails can make them ~64 kB).
        kind, size = 'JPEG', _jpeg_size(data[:1 << 17].tobytes())
    else:
        raise ValueError(f'CompressedImage.format {fmt!r}: data ({data.size} bytes) is neither JPEG '
                         f'nor PNG (starts with {head[:8].hex()})')
    if size is None:
        raise ValueError(f'CompressedImage.format {fmt!r}: corrupt {kind} data ({data.size} bytes), '
                         'no readable image header')
    _check_size(f'CompressedImage ({kind} header)', *size, max_pixels)
    # libjpeg decodes a truncated JPEG, greying the missing part (with a warning only): refuse
    # data without its end marker (JPEG EOI, PNG IEND) near the end.
    end_marker = b'\xff\xd9' if kind == 'JPEG' else b'IEND'
    if end_marker not in data[-64:].tobytes():
        raise ValueError(f'CompressedImage.format {fmt!r}: corrupt {kind} data ({data.size} bytes): '
                         f'truncated, no end-of-image marker')
    try:
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error as error:
        bgr, reason = None, str(error).strip().splitlines()[-1]
    else:
        reason = 'OpenCV could not decode it'
    if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise ValueError(f'CompressedImage.format {fmt!r}: corrupt {kind} data ({data.size} bytes): '
                         f'{reason}')
    if (bgr.shape[1], bgr.shape[0]) != tuple(size):
        raise ValueError(f'CompressedImage.format {fmt!r}: {kind} decoded to {bgr.shape[1]}x'
                         f'{bgr.shape[0]}, its header says {size[0]}x{size[1]}')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def compressed_msg(header, rgb, fmt='jpeg', quality=90):
    """sensor_msgs/CompressedImage (JPEG or PNG) from an (H, W, 3) uint8 RGB array; `format` as
    image_transport writes it ('rgb8; jpeg compressed bgr8')."""
    if fmt not in ('jpeg', 'png'):
        raise ValueError(f'compressed_msg format must be jpeg or png, got {fmt!r}')
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == 'jpeg' else []
    ok, encoded = cv2.imencode('.jpg' if fmt == 'jpeg' else '.png', bgr, params)
    if not ok:
        raise ValueError(f'OpenCV could not encode a {rgb.shape} image as {fmt}')
    msg = CompressedImage(header=header, format=f'rgb8; {fmt} compressed bgr8')
    data = array.array('B')
    data.frombytes(encoded.data)
    msg.data = data
    return msg
