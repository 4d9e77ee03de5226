"""pose3d_ros.images: sensor_msgs <-> RGB arrays, every rejection with its message, speed."""
import array
import os
import struct
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from pose3d_ros import images
from pose3d_ros.images import (ENCODINGS, compressed_msg, image_to_msg, rgb_from_compressed_msg,
                               rgb_from_image_msg)

sys.path.insert(0, str(Path(__file__).parent))
from compressed_samples import claiming, png_chunk  # noqa: E402

HEADER = Header(frame_id='cam_optical')
HEADER.stamp.sec, HEADER.stamp.nanosec = 12, 345


@pytest.fixture(scope='module')
def rgb():
    # Smooth content (JPEG keeps it close) with distinct channels.
    y, x = np.mgrid[0:48, 0:64]
    return np.stack([x * 4, y * 5, (x + y) * 2], axis=-1).astype(np.uint8)


def raw(data, width, height, encoding='rgb8', step=None, bytes_per_pixel=3):
    msg = Image(header=HEADER, width=width, height=height, encoding=encoding,
                step=width * bytes_per_pixel if step is None else step)
    msg.data = array.array('B', bytes(data))
    return msg


def test_converter_is_a_maintained_library():
    assert images.CONVERTER in ('cv_bridge', 'rosbags-image')
    print(f'converter: {images.CONVERTER}')


def test_rgb8_round_trip(rgb):
    msg = image_to_msg(HEADER, rgb)
    assert (msg.encoding, msg.width, msg.height, msg.step, msg.is_bigendian) == ('rgb8', 64, 48, 192, 0)
    assert msg.header == HEADER and len(msg.data) == rgb.size
    out = rgb_from_image_msg(msg)
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    np.testing.assert_array_equal(out, rgb)
    # A non-contiguous input (a crop) is packed.
    np.testing.assert_array_equal(rgb_from_image_msg(image_to_msg(HEADER, rgb[::2, 1::3])), rgb[::2, 1::3])


def test_round_trip_over_serialization(rgb):
    from rclpy.serialization import deserialize_message, serialize_message
    received = deserialize_message(serialize_message(image_to_msg(HEADER, rgb)), Image)
    np.testing.assert_array_equal(rgb_from_image_msg(received), rgb)


@pytest.mark.parametrize('encoding, to_encoded', [
    ('bgr8', lambda rgb: rgb[..., ::-1]),
    ('rgba8', lambda rgb: np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 7, np.uint8)], -1)),
    ('bgra8', lambda rgb: np.concatenate([rgb[..., ::-1], np.full(rgb.shape[:2] + (1,), 7, np.uint8)], -1)),
])
def test_colour_encodings(rgb, encoding, to_encoded):
    encoded = np.ascontiguousarray(to_encoded(rgb))
    msg = raw(encoded.tobytes(), 64, 48, encoding, bytes_per_pixel=ENCODINGS[encoding])
    np.testing.assert_array_equal(rgb_from_image_msg(msg), rgb)


def test_mono8(rgb):
    grey = rgb[..., 1].copy()
    out = rgb_from_image_msg(raw(grey.tobytes(), 64, 48, 'mono8', bytes_per_pixel=1))
    assert out.shape == (48, 64, 3)
    for channel in range(3):
        np.testing.assert_array_equal(out[..., channel], grey)


@pytest.mark.parametrize('encoding, pair', [('yuv422', [128, 90, 128, 90]),        # U Y V Y
                                             ('yuv422_yuy2', [90, 128, 90, 128])])  # Y U Y V
def test_yuv422(encoding, pair):
    # Neutral chroma: grey at luma 90.
    out = rgb_from_image_msg(raw(pair * (8 * 4 // 2), 8, 4, encoding, bytes_per_pixel=2))
    assert out.shape == (4, 8, 3)
    assert np.all(np.abs(out.astype(int) - 90) <= 12)
    assert np.ptp(out) <= 1


def test_padded_rows(rgb):
    """step > width * bpp: the padding is skipped (also when step is not a multiple of 3)."""
    for padding in (1, 4, 64):
        step = 64 * 3 + padding
        rows = np.zeros((48, step), np.uint8)
        rows[:, :192] = rgb.reshape(48, 192)
        rows[:, 192:] = 255
        np.testing.assert_array_equal(rgb_from_image_msg(raw(rows.tobytes(), 64, 48, step=step)), rgb)
    bgr_rows = np.full((48, 200), 9, np.uint8)
    bgr_rows[:, :192] = rgb[..., ::-1].reshape(48, 192)
    np.testing.assert_array_equal(rgb_from_image_msg(raw(bgr_rows.tobytes(), 64, 48, 'bgr8', step=200)), rgb)


def test_longer_data_is_accepted(rgb):
    np.testing.assert_array_equal(rgb_from_image_msg(raw(rgb.tobytes() + b'\0' * 10, 64, 48)), rgb)


def test_big_endian_flag_is_irrelevant_for_8_bit(rgb):
    msg = image_to_msg(HEADER, rgb)
    msg.is_bigendian = 1
    np.testing.assert_array_equal(rgb_from_image_msg(msg), rgb)


@pytest.mark.parametrize('reason, msg, message', [
    ('image_encoding', lambda: raw(b'\0' * 12, 2, 2, 'mono16', bytes_per_pixel=2), "Image.encoding 'mono16' is not supported"),
    ('image_encoding', lambda: raw(b'\0' * 12, 2, 2, 'rgb9'), "Image.encoding 'rgb9' is not supported"),
    ('image_encoding', lambda: raw(b'\0' * 12, 2, 2, ''), "Image.encoding '' is not supported"),
    ('image_size', lambda: raw(b'', 0, 2), 'Image has zero size: width=0, height=2'),
    ('image_size', lambda: raw(b'', 2, 0), 'Image has zero size: width=2, height=0'),
    ('image_step', lambda: raw(b'\0' * 12, 2, 2, step=5), 'Image.step 5 is smaller than width * bytes per pixel = 2 * 3 = 6 (rgb8)'),
    ('image_step', lambda: raw(b'\0' * 32, 2, 2, 'rgba8', step=6, bytes_per_pixel=4), 'Image.step 6 is smaller than width * bytes per pixel = 2 * 4 = 8 (rgba8)'),
    ('image_truncated', lambda: raw(b'\0' * 11, 2, 2), 'Image.data has 11 bytes, fewer than step * height = 6 * 2 = 12 (truncated)'),
    ('image_truncated', lambda: raw(b'\0' * 100, 20, 20, step=64), 'Image.data has 100 bytes, fewer than step * height = 64 * 20 = 1280 (truncated)'),
    ('image_size', lambda: raw(b'\0' * 12, 3, 2, 'yuv422', bytes_per_pixel=2), 'Image.width 3 is odd; yuv422 packs pixels in pairs'),
    ('image_too_large', lambda: raw(b'\0' * 12, 20000, 20000), 'Image claims 20000x20000 = 400000000 pixels, over the limit of 40000000 (max_pixels)'),
])
def test_image_rejections(reason, msg, message):
    with pytest.raises(images.ImageRejected) as error:
        rgb_from_image_msg(msg())
    assert message in str(error.value) and error.value.reason == reason


def test_max_pixels_is_a_parameter(rgb):
    with pytest.raises(ValueError, match=r'Image claims 64x48 = 3072 pixels, over the limit of 3000'):
        rgb_from_image_msg(image_to_msg(HEADER, rgb), max_pixels=3000)
    rgb_from_image_msg(image_to_msg(HEADER, rgb), max_pixels=3072)


def test_huge_claim_is_rejected_before_allocating():
    msg = raw(b'\0' * 64, 20000, 20000)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match='over the limit'):
            rgb_from_image_msg(msg)
        with pytest.raises(ValueError, match='truncated'):
            rgb_from_image_msg(msg, max_pixels=10**9)  # over the limit's check: still no allocation
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


@pytest.mark.parametrize('fmt', ['jpeg', 'png'])
def test_compressed_round_trip(rgb, fmt):
    msg = compressed_msg(HEADER, rgb, fmt)
    assert msg.format == f'rgb8; {fmt} compressed bgr8' and msg.header == HEADER
    out = rgb_from_compressed_msg(msg)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    if fmt == 'png':
        np.testing.assert_array_equal(out, rgb)
    else:
        assert np.mean(np.abs(out.astype(int) - rgb)) < 3


def test_compressed_grey_and_alpha_become_rgb(rgb):
    for image in (rgb[..., 0], cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA)):
        ok, encoded = cv2.imencode('.png', image)
        msg = CompressedImage(format='png', data=array.array('B', encoded.tobytes()))
        assert rgb_from_compressed_msg(msg).shape == (48, 64, 3)


def _png_claiming(width, height, fix_crc=True):
    """A 2x2 PNG whose IHDR says width x height, with the CRC that goes with it (or the old one)."""
    return claiming(cv2.imencode('.png', np.zeros((2, 2, 3), np.uint8))[1].tobytes(), width, height, fix_crc)


def _jpeg_claiming(width, height):
    return claiming(cv2.imencode('.jpg', np.zeros((16, 16, 3), np.uint8))[1].tobytes(), width, height)


@pytest.fixture(scope='module')
def jpeg(rgb):
    return bytes(compressed_msg(HEADER, rgb, 'jpeg').data)


@pytest.mark.parametrize('data, reason, message', [
    (lambda jpeg: b'', 'image_encoding', "CompressedImage.format 'jpeg': data (0 bytes) is neither JPEG nor PNG"),
    (lambda jpeg: b'hello world, not an image', 'image_encoding', "CompressedImage.format 'jpeg': data (25 bytes) is neither JPEG nor PNG (starts with 68656c6c6f20776f)"),
    (lambda jpeg: jpeg[:2] + bytes(range(200)), 'image_header', "CompressedImage.format 'jpeg': corrupt JPEG data (202 bytes), no readable image header"),
    (lambda jpeg: jpeg[:len(jpeg) // 3], 'image_truncated', "CompressedImage.format 'jpeg': corrupt JPEG data (340 bytes): truncated, no end-of-image marker"),
    (lambda jpeg: jpeg[:300] + b'\0' * (len(jpeg) - 302) + b'\xff\xd9', 'image_decode', "CompressedImage.format 'jpeg': corrupt JPEG data (1022 bytes): Corrupt JPEG data: 627 extraneous bytes before marker 0xd9"),
    (lambda jpeg: _png_claiming(2, 2)[:-20], 'image_truncated', "CompressedImage.format 'jpeg': PNG chunk 'IDAT' at byte 33 claims 15 bytes, 7 follow (truncated)"),
    (lambda jpeg: _png_claiming(2, 2)[:40], 'image_truncated', "CompressedImage.format 'jpeg': PNG data (40 bytes) ends before IEND: no complete chunk at byte 33 (truncated)"),
    (lambda jpeg: _png_claiming(2, 2)[:60], 'image_truncated', "CompressedImage.format 'jpeg': PNG data (60 bytes) ends before IEND: no complete chunk at byte 60 (truncated)"),
    (lambda jpeg: _png_claiming(2, 3, fix_crc=False), 'image_header', "CompressedImage.format 'jpeg': PNG chunk 'IHDR' at byte 8 fails its CRC (corrupt)"),
    (lambda jpeg: _png_claiming(20000, 20000), 'image_too_large', 'CompressedImage (PNG header) claims 20000x20000 = 400000000 pixels, over the limit of 40000000 (max_pixels)'),
    (lambda jpeg: _jpeg_claiming(20000, 20000), 'image_too_large', 'CompressedImage (JPEG header) claims 20000x20000 = 400000000 pixels, over the limit of 40000000 (max_pixels)'),
    (lambda jpeg: _jpeg_claiming(0, 16), 'image_size', 'CompressedImage (JPEG header) has zero size: width=0, height=16'),
    (lambda jpeg: _jpeg_claiming(6000, 6000), 'image_implausible', "CompressedImage.format 'jpeg': the JPEG header claims 6000x6000 = 36000000 pixels, more than 631 bytes can hold (at most 323072)"),
    (lambda jpeg: _png_claiming(4000, 4000), 'image_implausible', "CompressedImage.format 'jpeg': the PNG header claims 4000x4000 = 16000000 pixels, more than 72 bytes can hold (at most 594432)"),
])
def test_compressed_rejections(jpeg, data, reason, message):
    msg = CompressedImage(header=HEADER, format='jpeg', data=array.array('B', data(jpeg)))
    with pytest.raises(images.ImageRejected) as error:
        rgb_from_compressed_msg(msg)
    assert message in str(error.value) and error.value.reason == reason


def test_header_sizes_are_read_exactly_before_decoding():
    """The JPEG frame header behind a 60 kB APP1 segment and in a progressive JPEG, PNG IHDR of
    grey, 16-bit and chunk-laden PNGs: each size is read from the header and the image decodes."""
    rgb = np.random.default_rng(2).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    baseline = cv2.imencode('.jpg', rgb)[1].tobytes()
    app1 = b'\xff\xe1' + struct.pack('>H', 60002) + b'Exif\0\0' + bytes(59994)
    progressive = cv2.imencode('.jpg', rgb, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    png = cv2.imencode('.png', rgb)[1].tobytes()
    with_text = png[:33] + png_chunk(b'tEXt', b'Comment\0' + bytes(5000)) + png[33:]
    cases = {'jpeg with a 60 kB APP1': baseline[:2] + app1 + baseline[2:], 'progressive jpeg': progressive,
             'grey png': cv2.imencode('.png', rgb[..., 0])[1].tobytes(),
             '16-bit png': cv2.imencode('.png', rgb.astype(np.uint16) * 257)[1].tobytes(), 'png with tEXt': with_text}
    for name, data in cases.items():
        if data.startswith(b'\xff\xd8'):
            assert images._jpeg_size(data) == (53, 37), name
        else:
            assert images._png_size(memoryview(data), name) == (53, 37), name
        msg = CompressedImage(format='jpeg', data=array.array('B', data))
        assert rgb_from_compressed_msg(msg).shape == (37, 53, 3), name


def test_the_byte_count_floor_admits_the_flattest_images():
    """MIN_BITS_PER_PIXEL is a floor, not a guess: flat images (the most compressible) of a
    camera's sizes, at the encoders' strongest compression, pass it and decode."""
    for width, height in ((640, 480), (1920, 1080), (4096, 3072)):
        flat = np.full((height, width, 3), 128, np.uint8)
        for fmt, params in (('.jpg', [cv2.IMWRITE_JPEG_QUALITY, 1]), ('.png', [cv2.IMWRITE_PNG_COMPRESSION, 9])):
            ok, encoded = cv2.imencode(fmt, flat, params)
            msg = CompressedImage(format=fmt[1:], data=array.array('B', encoded.tobytes()))
            assert rgb_from_compressed_msg(msg).shape == flat.shape


def _noise_jpeg():
    noise = np.random.default_rng(1).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    return bytes(compressed_msg(HEADER, noise, 'jpeg').data)


def test_decoder_warnings_are_rejections_and_stay_off_stderr(capfd):
    """libjpeg decodes a JPEG cut short and given its end marker back, or with a flipped size in
    its frame header, greying what is missing and printing a warning to stderr: each is rejected,
    naming what libjpeg said, and nothing reaches stderr."""
    jpeg = _noise_jpeg()
    sof = jpeg.index(b'\xff\xc0')
    taller = bytearray(jpeg)
    taller[sof + 5] ^= 0x01  # height 240 -> 496: the scan ends before the image does
    cases = {jpeg[:len(jpeg) // 2] + b'\xff\xd9': 'Corrupt JPEG data: premature end of data segment',
             bytes(taller): 'Corrupt JPEG data: premature end of data segment'}
    for data, said in cases.items():
        with pytest.raises(images.ImageRejected) as error:
            rgb_from_compressed_msg(CompressedImage(format='jpeg', data=array.array('B', data)))
        assert error.value.reason == 'image_truncated'
        assert str(error.value) == f"CompressedImage.format 'jpeg': corrupt JPEG data ({len(data)} bytes): {said}"
    assert capfd.readouterr().err == ''


def test_warnings_about_metadata_are_silenced_not_rejections(capfd):
    """libpng's warnings about an ancillary chunk (a bogus iCCP profile, an invalid sRGB intent)
    and libjpeg's about the JFIF version say nothing about the pixels: the image is accepted, and
    nothing reaches stderr."""
    rgb = np.random.default_rng(3).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    png = cv2.imencode('.png', rgb)[1].tobytes()
    jpeg = bytearray(cv2.imencode('.jpg', rgb)[1].tobytes())
    jpeg[jpeg.index(b'JFIF\0') + 5] = 9  # JFIF 9.01
    for data in (png[:33] + png_chunk(b'iCCP', b'bogus\0\0' + zlib.compress(b'not a profile')) + png[33:],
                 png[:33] + png_chunk(b'sRGB', b'\x09') + png[33:], bytes(jpeg)):
        bgr, warnings = images.decode_capturing_warnings(np.frombuffer(data, np.uint8))
        assert bgr.shape == (20, 30, 3) and warnings == []
        assert rgb_from_compressed_msg(CompressedImage(format='png', data=array.array('B', data))).shape == (20, 30, 3)
    assert capfd.readouterr().err == ''


def test_ros_lines_written_during_a_decode_pass_through(monkeypatch, capfd):
    """OpenCV releases the GIL while decoding: another thread's ROS log line written meanwhile
    reaches stderr and does not reject the image; the codec's own line does."""
    decode = cv2.imdecode

    def decode_while_others_write(data, flags):
        os.write(2, b'[WARN] [1.5] [pose3d.camera]: another thread\n')
        os.write(2, b'\x1b[31m[ERROR] [1.6] [pose3d.lifter]: in colour\x1b[0m\n')
        return decode(data, flags)

    monkeypatch.setattr(cv2, 'imdecode', decode_while_others_write)
    jpeg = _noise_jpeg()
    assert rgb_from_compressed_msg(CompressedImage(format='jpeg', data=array.array('B', jpeg))).shape == (240, 320, 3)
    assert capfd.readouterr().err == ('[WARN] [1.5] [pose3d.camera]: another thread\n'
                                      '\x1b[31m[ERROR] [1.6] [pose3d.lifter]: in colour\x1b[0m\n')

    def decode_and_warn(data, flags):
        os.write(2, b'libpng warning: IDAT: Too much image data\n')
        return decode(data, flags)

    monkeypatch.setattr(cv2, 'imdecode', decode_and_warn)
    with pytest.raises(images.ImageRejected, match='corrupt JPEG data .*: libpng warning: IDAT: Too much image data') as error:
        rgb_from_compressed_msg(CompressedImage(format='jpeg', data=array.array('B', jpeg)))
    assert error.value.reason == 'image_decode' and capfd.readouterr().err == ''


def test_truncated_jpeg_is_rejected_before_decoding():
    """Some libjpeg builds (OpenCV 4's) decode a truncated JPEG with a grey bottom and a warning:
    the missing end-of-image marker refuses it whatever OpenCV does."""
    noise = np.random.default_rng(1).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    msg = compressed_msg(HEADER, noise, 'jpeg')
    msg.data = msg.data[:len(msg.data) // 2]
    with pytest.raises(ValueError, match=r'corrupt JPEG data \(\d+ bytes\): truncated, no end-of-image marker'):
        rgb_from_compressed_msg(msg)


def test_compressed_depth_is_rejected(jpeg):
    msg = CompressedImage(format='16UC1; compressedDepth png', data=array.array('B', jpeg))
    with pytest.raises(ValueError, match='compressed depth images are not supported'):
        rgb_from_compressed_msg(msg)


def _best_ms(function, repeats=20):
    best = float('inf')
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def test_speed_720p():
    """1280x720 conversions are ~1 ms (bounds are generous: the cores may be busy)."""
    rgb = np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    msg = image_to_msg(HEADER, rgb)
    bgr = raw(rgb[..., ::-1].tobytes(), 1280, 720, 'bgr8')
    padded = raw(np.pad(rgb.reshape(720, -1), ((0, 0), (0, 64))).tobytes(), 1280, 720, step=1280 * 3 + 64)
    times = {'image_to_msg': _best_ms(lambda: image_to_msg(HEADER, rgb)),
             'rgb8 -> rgb': _best_ms(lambda: rgb_from_image_msg(msg)),
             'bgr8 -> rgb': _best_ms(lambda: rgb_from_image_msg(bgr)),
             'padded rgb8 -> rgb': _best_ms(lambda: rgb_from_image_msg(padded))}
    jpeg = compressed_msg(HEADER, cv2.GaussianBlur(rgb, (0, 0), 3), 'jpeg')
    decode_ms = _best_ms(lambda: rgb_from_compressed_msg(jpeg), repeats=5)
    print(f'1280x720 JPEG ({len(jpeg.data) // 1024} kB) -> rgb: {decode_ms:.2f} ms')
    assert decode_ms < 100
    print('1280x720 best of 20 (ms): ' + ', '.join(f'{key} {value:.2f}' for key, value in times.items()))
    assert max(times.values()) < 20


class FakeCvBridge:
    """cv_bridge's imgmsg_to_cv2 as ROS 2's cv_bridge does it for 8-bit colour: a view with
    step // (bytes per pixel) columns (so it needs step to be a multiple of the pixel size)."""
    CHANNELS = {'rgb8': 3, 'bgr8': 3}

    def imgmsg_to_cv2(self, msg, desired_encoding):
        if msg.encoding not in self.CHANNELS:
            raise TypeError(f'Unrecognized image encoding [{msg.encoding}]')
        channels = self.CHANNELS[msg.encoding]
        image = np.ndarray((msg.height, msg.step // channels, channels), np.uint8, buffer=msg.data)
        image = np.ascontiguousarray(image[:, :msg.width])
        return image[..., ::-1] if msg.encoding != desired_encoding else image


def test_cv_bridge_path(rgb, monkeypatch):
    """Where cv_bridge imports it converts; padded rows are compacted for it first, and its errors
    become ValueError naming the encoding."""
    monkeypatch.setattr(images, 'CONVERTER', 'cv_bridge')
    monkeypatch.setattr(images, '_converter', FakeCvBridge())
    np.testing.assert_array_equal(rgb_from_image_msg(image_to_msg(HEADER, rgb)), rgb)
    rows = np.zeros((48, 64 * 3 + 1), np.uint8)
    rows[:, :192] = rgb[..., ::-1].reshape(48, 192)
    np.testing.assert_array_equal(rgb_from_image_msg(raw(rows.tobytes(), 64, 48, 'bgr8', step=193)), rgb)
    with pytest.raises(ValueError, match=r"Image.encoding 'mono8': cv_bridge cannot convert it to rgb8: "
                                         r'Unrecognized image encoding \[mono8\]'):
        rgb_from_image_msg(raw(bytes(64 * 48), 64, 48, 'mono8', bytes_per_pixel=1))


def test_depth_images_in_millimetres_and_metres():
    depth_mm = np.array([[0, 1500, 65535], [4000, 10, 2]], np.uint16)
    msg = images.depth_to_msg(Header(frame_id='f'), depth_mm)
    assert (msg.encoding, msg.step, msg.width, msg.height) == ('16UC1', 6, 3, 2)
    metres = images.depth_from_msg(msg)
    np.testing.assert_allclose(metres, [[np.nan, 1.5, 65.535], [4.0, 0.01, 0.002]], rtol=1e-6)
    # 32FC1 in metres, big-endian, padded rows; NaN, inf and 0 are "no measurement".
    values = np.array([[2.5, np.nan, 0.0], [np.inf, -1.0, 3.25]], '>f4')
    padded = np.zeros((2, 16), np.uint8)
    padded[:, :12] = values.view(np.uint8).reshape(2, 12)
    msg = Image(height=2, width=3, encoding='32FC1', is_bigendian=1, step=16, data=padded.tobytes())
    np.testing.assert_array_equal(images.depth_from_msg(msg), [[2.5, np.nan, np.nan], [np.nan, np.nan, 3.25]])
    with pytest.raises(ValueError, match=r"depth Image.encoding 'rgb8' is not a depth encoding"):
        images.depth_from_msg(Image(height=1, width=1, encoding='rgb8', step=3, data=b'\0\0\0'))
    with pytest.raises(ValueError, match=r'depth Image.data has 4 bytes, fewer than step \* height = 6 \* 2 = 12'):
        images.depth_from_msg(Image(height=2, width=3, encoding='16UC1', step=6, data=b'\0' * 4))
