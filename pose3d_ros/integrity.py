"""Is a model file the one that was written? Checked before anything loads it.

- Shipped files (pose3d_ros/weights/) are listed with their sha256 in weights/SHA256SUMS, the
  format `sha256sum -c` reads; a listed file that differs is refused, naming both hashes, and a
  shipped checkpoint missing from the list is refused too (a file nobody vouched for).
- Any PyTorch checkpoint (a zip archive since PyTorch 1.6) has a CRC-32 per member that
  torch.load never reads; `check_checkpoint_archive` reads them, so flipped bytes in a user's own
  checkpoint are found (torch.load alone loads them and the network outputs garbage).
ONNX exports and TensorRT engines made from these carry their own sha256 in their records
(pose3d_ros.inference.networks, pose3d_ros.inference.engines).
"""
import hashlib
import zipfile
import zlib
from pathlib import Path

from pose3d_ros.atomic import atomic_write
from pose3d_ros.paths import WEIGHTS_DIR

MANIFEST_NAME = 'SHA256SUMS'
# The shipped files the manifest must list: models and the joint regressor, not the model card.
SHIPPED_SUFFIXES = ('.pt', '.json')


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as file:
        for block in iter(lambda: file.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder=WEIGHTS_DIR):
    """{file name: sha256} of folder/SHA256SUMS; ValueError naming the line that is malformed."""
    manifest = Path(folder) / MANIFEST_NAME
    try:
        lines = manifest.read_text().splitlines()
    except OSError as error:
        raise ValueError(f'{manifest}: cannot read the list of shipped files ({error.strerror}); reinstall '
                         f'the package') from None
    listed = {}
    for number, line in enumerate(lines, 1):
        digest, separator, name = line.partition('  ')
        if not separator or len(digest) != 64 or not name or '/' in name:
            raise ValueError(f'{manifest}:{number}: expected "<sha256>  <file name>", got {line!r}')
        listed[name] = digest
    return listed


def write_manifest(folder=WEIGHTS_DIR):
    """Rewrite folder/SHA256SUMS (atomically) from the shipped files there -> {name: sha256}."""
    folder = Path(folder)
    listed = {path.name: file_sha256(path) for path in sorted(folder.iterdir())
              if path.suffix in SHIPPED_SUFFIXES and path.is_file()}
    text = ''.join(f'{digest}  {name}\n' for name, digest in listed.items())
    atomic_write(folder / MANIFEST_NAME, lambda file: file.write(text.encode()))
    return listed


def list_if_shipped(path, folder=WEIGHTS_DIR):
    """After writing `path`: rewrite the manifest when the file is one of the shipped folder's."""
    if Path(path).resolve().parent == Path(folder).resolve():
        write_manifest(folder)


def check_shipped(path, folder=WEIGHTS_DIR):
    """ValueError unless `path`, when it is a file of the shipped folder, has its listed sha256.
    Files elsewhere (a user's checkpoints) pass: nothing vouches for them."""
    path, folder = Path(path).resolve(), Path(folder).resolve()
    if path.parent != folder or path.suffix not in SHIPPED_SUFFIXES or not path.is_file():
        return
    listed = read_manifest(folder).get(path.name)
    if listed is None:
        raise ValueError(f'{path}: a shipped file not listed in {folder / MANIFEST_NAME} (add it with '
                         f'pose3d_export_weights, which rewrites the list)')
    actual = file_sha256(path)
    if actual != listed:
        raise ValueError(f'{path}: sha256 {actual} differs from {listed} listed in {folder / MANIFEST_NAME} '
                         f'(a damaged or replaced file: reinstall the package or restore the file)')


def check_checkpoint_archive(path):
    """ValueError naming the file and member when a zip-format PyTorch checkpoint has a member
    whose CRC-32 does not match (bytes changed after it was written). Other files pass: torch.load
    reports what it cannot read."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return  # not a zip, or cut short before its directory: torch.load's error says so
    with archive:
        try:
            damaged = archive.testzip()
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as error:  # a damaged header
            raise ValueError(f'{path}: damaged checkpoint archive ({error})') from None
    if damaged is not None:
        raise ValueError(f'{path}: damaged checkpoint: the CRC-32 of {damaged!r} does not match its data '
                         f'(the file changed after it was written: copy or export it again)')


def check_model_file(path):
    """Both checks, for any checkpoint about to be loaded."""
    check_shipped(path)
    check_checkpoint_archive(path)
