"""Conversions between sensor_msgs images and numpy RGB arrays, with validation.

`rgb_from_image_msg` and `rgb_from_compressed_msg` check everything a malformed message can get
wrong (encoding, zero size, step, truncated data, absurd size claims, corrupt compressed data)
*before* allocating anything, and raise ImageRejected (a ValueError) naming the field and the
value, with a short stable `reason` (REJECTION_REASONS) the nodes count and rate-limit by. The
colour conversion itself is done by a maintained library:

- cv_bridge (`CvBridge.imgmsg_to_cv2`) where a ROS install provides it and it imports cleanly
  (a cv_bridge built against another numpy major version fails to import: then it is skipped);
- rosbags-image otherwise (pip; its `convert_color` maps ROS encodings to OpenCV conversions).
  Its own `image_to_cvimage` ignores `step` (padded rows come out skewed), so the step-aware
  view of the data is built here and only the colour conversion is delegated.

`CONVERTER` says which one this process uses. Compressed images are decoded with OpenCV
(`cv2.imdecode`) once the JPEG / PNG header has been read here: its size within `max_pixels` and
plausible for the byte count, a PNG's chunk checksums right, a JPEG ending with its end marker.
libjpeg and libpng decode truncated or damaged data with only a warning printed to stderr (past
any logger): what they print during the decode is captured (`decode_capturing_warnings`), and
rejects the image; their warnings about metadata only (a bogus iCCP profile) are silenced.
Depth images (`depth_to_msg`, `depth_from_msg`) are plain arrays: 16UC1 millimetres or 32FC1
metres, checked the same way.

Only 8-bit encodings are accepted (`ENCODINGS`): is_bigendian is irrelevant for them and ignored.
"""
import array
import functools
import os
import re
import struct
import sys
import tempfile
import threading
import zlib

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
# The fewest bits per pixel a compressed image can hold, below which the size in its header is not
# believed. Huffman-coded JPEG: at least one bit (the shortest code, a flat block's DC difference)
# per 8x8 block of the full-resolution component, so 1/64. (Arithmetic-coded JPEG, which no camera
# driver writes, can go below.) PNG: a row holds at least 1 bit per pixel (1-bit grey) and deflate
# compresses at most 1032:1. A 10 kB JPEG claiming 6000x6000 (0.002 bit per pixel) is refused.
MIN_BITS_PER_PIXEL = {'JPEG': 1 / 64, 'PNG': 1 / 1032}

REJECTION_REASONS = (
    'image_encoding',     # an encoding or compressed format that is not supported
    'image_size',         # zero width or height, an odd width for a pair-packed encoding
    'image_step',         # a row step smaller than the row's pixels
    'image_too_large',    # more pixels than max_pixels
    'image_implausible',  # a compressed header claiming more pixels than its byte count can hold
    'image_header',       # a compressed image's header unreadable or failing its checksum
    'image_truncated',    # fewer bytes than the image needs, compressed data ending early
    'image_decode',       # compressed data failing a checksum, or that the decoder refuses or warns about
)


class ImageRejected(ValueError):
    """A malformed image message: the text names the field and the value, `reason` is one of
    REJECTION_REASONS."""

    def __init__(self, reason, text):
        super().__init__(text)
        self.reason = reason


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
        raise ImageRejected('image_encoding', f'depth Image.encoding {msg.encoding!r} is not a depth encoding '
                                              f'(supported: {", ".join(DEPTH_ENCODINGS)})')
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
        raise ImageRejected('image_step', f'{kind}.step {step} is smaller than width * bytes per pixel = {width} * '
                                          f'{bytes_per_pixel} = {row_bytes} ({msg.encoding})')
    data = _as_bytes(msg.data)
    if data.size < step * height:
        raise ImageRejected('image_truncated', f'{kind}.data has {data.size} bytes, fewer than step * height = '
                                               f'{step} * {height} = {step * height} (truncated)')
    return data[:step * height].reshape(height, step)[:, :row_bytes]


def _check_size(kind, width, height, max_pixels):
    if width <= 0 or height <= 0:
        raise ImageRejected('image_size', f'{kind} has zero size: width={width}, height={height}')
    if width * height > max_pixels:
        raise ImageRejected('image_too_large', f'{kind} claims {width}x{height} = {width * height} pixels, over the '
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
        raise ImageRejected('image_encoding', f'Image.encoding {encoding!r} is not supported (supported: '
                                              f'{", ".join(ENCODINGS)})')
    width, height, step = msg.width, msg.height, msg.step
    bytes_per_pixel = ENCODINGS[encoding]
    rows = _pixel_rows(msg, 'Image', bytes_per_pixel, max_pixels)
    if encoding in _YUV422 and width % 2:
        raise ImageRejected('image_size', f'Image.width {width} is odd; {encoding} packs pixels in pairs')
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
            raise ImageRejected('image_encoding', f'Image.encoding {encoding!r}: cv_bridge cannot convert it to rgb8: '
                                                  f'{error}') from None
    else:
        pixels = rows.reshape(height, width, bytes_per_pixel) if bytes_per_pixel > 1 else rows
        rgb = _converter(pixels, encoding, 'rgb8')
    return np.ascontiguousarray(rgb)


def _png_size(data, where):
    """(width, height) from a PNG's IHDR, once every chunk up to IEND has been walked and its CRC
    checked (a bit flip in the header, a cut, a cut with an IEND appended all show there);
    ImageRejected naming the chunk otherwise."""
    position, size = len(_PNG_SIGNATURE), None
    while True:
        if position + 12 > len(data):
            raise ImageRejected('image_truncated', f'{where}: PNG data ({len(data)} bytes) ends before IEND: no '
                                                   f'complete chunk at byte {position} (truncated)')
        length, name = struct.unpack_from('>I4s', data, position)
        name, end = name.decode('latin-1'), position + 12 + length
        if end > len(data):
            raise ImageRejected('image_truncated', f'{where}: PNG chunk {name!r} at byte {position} claims {length} '
                                                   f'bytes, {len(data) - position - 12} follow (truncated)')
        if zlib.crc32(data[position + 4:end - 4]) != struct.unpack_from('>I', data, end - 4)[0]:
            raise ImageRejected('image_header' if name == 'IHDR' else 'image_decode',
                                f'{where}: PNG chunk {name!r} at byte {position} fails its CRC (corrupt)')
        if size is None:
            if name != 'IHDR' or length != 13:
                raise ImageRejected('image_header', f'{where}: PNG starts with chunk {name!r} of {length} bytes, '
                                                    'not the 13-byte IHDR')
            size = struct.unpack_from('>II', data, position + 8)
        if name == 'IEND':
            return size
        position = end


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


_ROS_CONSOLE_LINE = re.compile(rb'^(\x1b\[[0-9;]*m)?\[(DEBUG|INFO|WARN|ERROR|FATAL)\] ')  # colours optional
# Codec warnings about metadata, not pixels, silenced: libpng's about an ancillary chunk (its name
# starts with a lower-case letter: iCCP, sRGB, tEXt, ...; "iCCP: known incorrect sRGB profile" is
# common), libjpeg's about the JFIF version or thumbnail.
_METADATA_WARNING = re.compile(rb'^libpng warning: [a-z][A-Za-z]{3}: '
                               rb'|^Warning: (unknown JFIF revision|thumbnail image size)')
_TRUNCATION_WORDS = re.compile(r'premature end|incomplete|truncat', re.IGNORECASE)
_capture_lock = threading.Lock()


@functools.cache
def _capture_file():
    """The temporary file the decoders' stderr goes to while they decode (one per process)."""
    return tempfile.TemporaryFile(buffering=0)


def decode_capturing_warnings(data):
    """cv2.imdecode(data) -> (BGR array or None, [what libjpeg / libpng / OpenCV printed about
    the pixels: corrupt or truncated data they decoded anyway, why they could not]).

    The codecs print to file descriptor 2 directly, so it points at a temporary file during the
    call. OpenCV releases the GIL while decoding: lines other threads write meanwhile in ROS's
    default console format ('[WARN] ...') are not the codec's and are passed on to stderr (other
    text written by another thread in those milliseconds would be taken for the codec's)."""
    with _capture_lock:
        capture = _capture_file().fileno()
        os.ftruncate(capture, 0)
        os.lseek(capture, 0, os.SEEK_SET)
        sys.stderr.flush()
        stderr = os.dup(2)
        os.dup2(capture, 2)
        try:
            bgr, failure = cv2.imdecode(data, cv2.IMREAD_COLOR), []
        except cv2.error as error:
            bgr, failure = None, [str(error).strip().splitlines()[-1]]
        finally:
            os.dup2(stderr, 2)
            os.close(stderr)
        os.lseek(capture, 0, os.SEEK_SET)
        lines = os.read(capture, os.fstat(capture).st_size).splitlines()
    codec = []
    for line in lines:
        if _ROS_CONSOLE_LINE.match(line):
            os.write(2, line + b'\n')
        elif line.strip() and not _METADATA_WARNING.match(line):
            codec.append(line.decode('utf-8', 'replace').strip())
    return bgr, codec + failure


def rgb_from_compressed_msg(msg, max_pixels=DEFAULT_MAX_PIXELS):
    """(H, W, 3) uint8 RGB from a sensor_msgs/CompressedImage holding a JPEG or a PNG.

    The format is recognised from the data (image_transport writes e.g. 'rgb8; jpeg compressed
    bgr8' in `format`); the size in its header is checked against max_pixels and against the byte
    count (MIN_BITS_PER_PIXEL) before decoding, a PNG's chunks against their CRCs. ImageRejected
    naming `format` for anything else, for truncated data and for data that does not decode or
    that the decoder warns about (libjpeg's "premature end of data segment" of a JPEG cut and
    given back its end marker). Damage inside the entropy-coded data that libjpeg gets through
    without a warning decodes with artifacts: it cannot be told from a valid image here.
    """
    fmt = msg.format
    where = f'CompressedImage.format {fmt!r}'
    data = _as_bytes(msg.data)
    head = data[:64].tobytes()
    if 'compresseddepth' in fmt.lower().replace(' ', ''):
        raise ImageRejected('image_encoding', f'{where}: compressed depth images are not supported')
    if head.startswith(_PNG_SIGNATURE):
        kind, size = 'PNG', _png_size(memoryview(data), where)
    elif head.startswith(_JPEG_SOI):
        # The frame header follows the APPn segments (EXIF thumbnails can make them ~64 kB).
        kind, size = 'JPEG', _jpeg_size(data[:1 << 17].tobytes())
    else:
        raise ImageRejected('image_encoding', f'{where}: data ({data.size} bytes) is neither JPEG nor PNG '
                                              f'(starts with {head[:8].hex()})')
    if size is None:
        raise ImageRejected('image_header', f'{where}: corrupt {kind} data ({data.size} bytes), no readable '
                                            'image header')
    width, height = size
    _check_size(f'CompressedImage ({kind} header)', width, height, max_pixels)
    most_pixels = int(data.size * 8 / MIN_BITS_PER_PIXEL[kind])
    if width * height > most_pixels:
        raise ImageRejected('image_implausible', f'{where}: the {kind} header claims {width}x{height} = '
                                                 f'{width * height} pixels, more than {data.size} bytes can '
                                                 f'hold (at most {most_pixels})')
    # libjpeg decodes a JPEG cut short, greying the missing part: refuse one without its end
    # marker near the end before decoding (one given an end marker back warns in the decoder).
    if kind == 'JPEG' and b'\xff\xd9' not in data[-64:].tobytes():
        raise ImageRejected('image_truncated', f'{where}: corrupt JPEG data ({data.size} bytes): truncated, no '
                                               'end-of-image marker')
    bgr, warnings = decode_capturing_warnings(data)
    if bgr is None or warnings:
        said = '; '.join(warnings) or 'OpenCV could not decode it'
        raise ImageRejected('image_truncated' if _TRUNCATION_WORDS.search(said) else 'image_decode',
                            f'{where}: corrupt {kind} data ({data.size} bytes): {said}')
    if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.shape[1::-1] != (width, height):
        raise ImageRejected('image_decode', f'{where}: {kind} decoded to shape {bgr.shape}, its header says '
                                            f'{width}x{height}')
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
