"""Google's BlazePose networks (Apache-2.0), taken from their registry releases.

The person detector and the landmark models are not trained here: they come as .tflite files
inside two registry packages, `mediapipe==0.10.21` on PyPI (the detector and the full landmark
model) and `@mediapipe/pose@0.5.1675469404` on npm (lite, full and heavy landmark models).
`fetch` (the `pose3d_fetch_blazepose` command, run by tools/setup) downloads each archive once,
checks its sha256, extracts only the model files, checks theirs and writes them atomically into
`<cache_dir>/blazepose/`; nothing is downloaded at run time. The archives are pinned by URL and
sha256, so a changed upload is refused rather than used.
"""
import argparse
import hashlib
import io
import sys
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pose3d_ros.atomic import atomic_write
from pose3d_ros.integrity import file_sha256
from pose3d_ros.paths import DEFAULT_CACHE_DIR

SUBFOLDER = 'blazepose'


@dataclass(frozen=True)
class Archive:
    package: str  # registry and release, for messages and the model card
    url: str
    sha256: str


MEDIAPIPE_WHEEL = Archive(
    'PyPI mediapipe==0.10.21 (cp311 manylinux_2_28_x86_64 wheel; the model files are the same in every wheel)',
    'https://files.pythonhosted.org/packages/ad/83/56f760fecdc60de84c529d6c05c9dfc7d972617c6632bd254d5e021e5b16/'
    'mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl',
    '05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3')
MEDIAPIPE_POSE_NPM = Archive(
    'npm @mediapipe/pose@0.5.1675469404',
    'https://registry.npmjs.org/@mediapipe/pose/-/pose-0.5.1675469404.tgz',
    '8bb349a7b3a3ba699df23be804ddd3b3eab810b50b15406894be257859388a84')

# model file -> (archive, member inside it, sha256 of the member)
MODEL_FILES = {
    'pose_detection.tflite': (
        MEDIAPIPE_WHEEL, 'mediapipe/modules/pose_detection/pose_detection.tflite',
        '9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c'),
    'pose_landmark_lite.tflite': (
        MEDIAPIPE_POSE_NPM, 'package/pose_landmark_lite.tflite',
        'f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61'),
    'pose_landmark_full.tflite': (
        MEDIAPIPE_WHEEL, 'mediapipe/modules/pose_landmark/pose_landmark_full.tflite',
        'e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f'),
    'pose_landmark_heavy.tflite': (
        MEDIAPIPE_POSE_NPM, 'package/pose_landmark_heavy.tflite',
        '59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe'),
}


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def model_dir(cache_dir=DEFAULT_CACHE_DIR):
    return Path(cache_dir).expanduser() / SUBFOLDER


def model_path(name, cache_dir=DEFAULT_CACHE_DIR):
    """The fetched file `name` (a key of MODEL_FILES); FileNotFoundError saying how to get it, or
    ValueError when its sha256 is not the release's."""
    if name not in MODEL_FILES:
        raise ValueError(f'unknown BlazePose model {name!r}; one of {sorted(MODEL_FILES)}')
    path = model_dir(cache_dir) / name
    fetch = f'pose3d_fetch_blazepose --cache-dir {Path(cache_dir)}'
    if not path.is_file():
        raise FileNotFoundError(f'{path} does not exist: fetch the BlazePose models once with `{fetch}` '
                                f'(tools/setup does it)')
    actual, expected = file_sha256(path), MODEL_FILES[name][2]
    if actual != expected:
        raise ValueError(f'{path}: sha256 {actual} differs from the release\'s {expected} (damaged or '
                         f'replaced): fetch it again with `{fetch}`')
    return path


def _extract(archive, data, member):
    if archive.url.endswith('.whl'):
        with zipfile.ZipFile(io.BytesIO(data)) as wheel:
            return wheel.read(member)
    with tarfile.open(fileobj=io.BytesIO(data), mode='r:gz') as tarball:
        return tarball.extractfile(member).read()


def download(archive, log=print):
    log(f'downloading {archive.package}: {archive.url}')
    with urllib.request.urlopen(archive.url, timeout=120) as response:
        data = response.read()
    if sha256(data) != archive.sha256:
        raise RuntimeError(f'{archive.url}: sha256 {sha256(data)} differs from the pinned {archive.sha256}; '
                           'refusing to use it')
    return data


def missing(cache_dir=DEFAULT_CACHE_DIR):
    """The model files that are absent from cache_dir or whose sha256 differs from the pinned one."""
    folder = model_dir(cache_dir)
    return [name for name, (_, _, digest) in MODEL_FILES.items()
            if not (folder / name).is_file() or sha256((folder / name).read_bytes()) != digest]


def fetch(cache_dir=DEFAULT_CACHE_DIR, log=print):
    """Download and check every model file that is missing or corrupt -> the folder holding them."""
    folder = model_dir(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    downloaded = {}
    for name in missing(cache_dir):
        archive, member, digest = MODEL_FILES[name]
        if archive not in downloaded:
            downloaded[archive] = download(archive, log)
        data = _extract(archive, downloaded[archive], member)
        if sha256(data) != digest:
            raise RuntimeError(f'{member} in {archive.url}: sha256 {sha256(data)} differs from the pinned {digest}')
        atomic_write(folder / name, lambda file: file.write(data))
        log(f'wrote {folder / name}')
    return folder


def main(argv=None):
    parser = argparse.ArgumentParser(description='Fetch the BlazePose .tflite models from their registry '
                                                 'packages (PyPI mediapipe, npm @mediapipe/pose), checked by sha256.')
    parser.add_argument('--cache-dir', default=str(DEFAULT_CACHE_DIR),
                        help='the models go into CACHE_DIR/blazepose (default: %(default)s)')
    parser.add_argument('--check', action='store_true',
                        help='download nothing; exit 1 when a model file is missing or corrupt')
    args = parser.parse_args(argv)
    if args.check:
        absent = missing(args.cache_dir)
        if absent:
            sys.exit(f'missing or corrupt in {model_dir(args.cache_dir)}: {", ".join(absent)}')
        print(f'BlazePose models present in {model_dir(args.cache_dir)}')
        return
    try:
        folder = fetch(args.cache_dir)
    except (OSError, RuntimeError) as error:
        sys.exit(f'pose3d_fetch_blazepose: {error}')
    print(f'BlazePose models ready in {folder}')
