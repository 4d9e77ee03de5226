"""What every training command shares: YAML configs over defaults, run folders with atomic
checkpoints that resume, the history file, the optimizer, the device, the progress bar and the
command line."""
import argparse
import copy
import json
import sys
from pathlib import Path

import torch
import yaml
from tqdm import tqdm

from pose3d_ros.atomic import atomic_write
from training import cli

# Keys that may change between the run that wrote a checkpoint and the one resuming it (data.teacher_sides:
# a label fix a long run may take up; the history records it per epoch).
RESUMABLE_CHANGES = (('train', 'epochs'), ('data', 'root'), ('data', 'photos'), ('data', 'teacher'),
                     ('data', 'teacher_sides'))


def load_config(path, defaults, overrides=()):
    """YAML experiment file merged over `defaults` (section -> key -> value), then `overrides`
    ('section.key=value', value in YAML) over it. Unknown sections or keys are errors, except in
    'model', whose keys the model constructor checks."""
    try:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f'{path}: cannot read the config ({error})') from None
    if not isinstance(loaded, dict):
        raise ValueError(f'{path}: expected a mapping of sections, got {type(loaded).__name__}')
    config = copy.deepcopy(defaults)
    for section, values in loaded.items():
        if section not in config or not isinstance(values, dict):
            raise ValueError(f'{path}: unknown or malformed section {section!r}; expected '
                             f'mappings named {sorted(config)}')
        merge_section(config, section, values, path)
    for override in overrides:
        section, key, value = parse_override(override)
        if section not in config:
            raise ValueError(f'--set {override}: unknown section {section!r}; expected one of {sorted(config)}')
        merge_section(config, section, {key: value}, f'--set {override}')
    return config


def merge_section(config, section, values, source):
    if section != 'model':
        unknown = set(values) - set(config[section])
        if unknown:
            raise ValueError(f'{source}: unknown key(s) {sorted(unknown)} in {section!r}; '
                             f'expected {sorted(config[section])}')
    config[section].update(values)


def parse_override(text):
    """'section.key=value' -> (section, key, value parsed as YAML: 10 -> int, 0.8 -> float)."""
    name, equals, value = text.partition('=')
    section, dot, key = name.partition('.')
    if not (equals and dot and section and key):
        raise ValueError(f'--set {text}: expected section.key=value, e.g. train.epochs=10')
    try:
        return section, key, yaml.safe_load(value)
    except yaml.YAMLError as error:
        raise ValueError(f'--set {text}: the value is not YAML ({error})') from None


def resumable(config):
    """The part of a config that must match to resume: all but RESUMABLE_CHANGES."""
    if config is None:
        return None
    config = copy.deepcopy(config)
    for section, key in RESUMABLE_CHANGES:
        config.get(section, {}).pop(key, None)
    return config


def resolve_device(name):
    if name == 'auto':
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    return name


def progress(iterable, description, enabled):
    return tqdm(iterable, desc=description, disable=not enabled,
                mininterval=1 if sys.stderr.isatty() else 30, dynamic_ncols=True)


class RunFolder:
    """A training run's folder: config.yaml, checkpoint.pt and history.jsonl, all written
    atomically, so a kill at any moment leaves the previous complete versions."""

    def __init__(self, out):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.checkpoint_path = self.out / 'checkpoint.pt'

    def resume(self, config, device, defaults):
        """The checkpoint to continue from, or None for a new run (then config.yaml is written).
        A key the checkpoint's config lacks (added to `defaults` after the run started) takes its
        default, so a run spanning sessions survives a new option it does not use."""
        if not self.checkpoint_path.is_file():
            atomic_write(self.out / 'config.yaml', lambda file: file.write(yaml.safe_dump(config).encode()))
            return None
        previous = torch.load(self.checkpoint_path, map_location=device, weights_only=True)
        written = previous.get('config')
        if written is not None:
            written = {section: {**defaults.get(section, {}), **values} if section != 'model' else values
                       for section, values in written.items()}
        if resumable(written) != resumable(config):
            changeable = ', '.join('.'.join(key) for key in RESUMABLE_CHANGES)
            raise ValueError(f'{self.checkpoint_path} was written by a different config (only '
                             f'{changeable} may change); use a new --out folder')
        print(f'resuming {self.checkpoint_path} after epoch {previous["epoch"]}', file=sys.stderr)
        return previous

    def save_epoch(self, header, config, model, optimizer, scheduler, history):
        """Write the checkpoint after the epoch that `history` ends with -> the checkpoint dict.

        header: what the model's loader needs (format, model spec, ...); the training states,
        the config and the history are added here."""
        checkpoint = {**header, 'config': config, 'state_dict': model.state_dict(),
                      'optimizer': optimizer.state_dict(), 'scheduler': scheduler.state_dict(),
                      'epoch': history[-1]['epoch'], 'history': history}
        self.save(checkpoint)
        return checkpoint

    def save(self, checkpoint):
        """Write the checkpoint, then the history it holds (one JSON record per epoch)."""
        atomic_write(self.checkpoint_path, lambda file: torch.save(checkpoint, file))
        records = ''.join(json.dumps(record) + '\n' for record in checkpoint['history'])
        atomic_write(self.out / 'history.jsonl', lambda file: file.write(records.encode()))
        print(json.dumps(checkpoint['history'][-1]), file=sys.stderr)


def evaluates_after(epoch, settings):
    """Whether periodic evaluation runs after 0-based `epoch` (every train.eval_every, and last)."""
    return (epoch + 1) % settings['eval_every'] == 0 or epoch + 1 == settings['epochs']


def optimization(model, settings):
    """Adam with an exponential per-epoch decay, from train.lr, lr_decay (and weight_decay)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=settings['lr'], weight_decay=settings.get('weight_decay', 0.0))
    return optimizer, torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=settings['lr_decay'])


def restore(previous, model, optimizer, scheduler):
    """Load a resumed checkpoint's states -> (first epoch to run, history so far)."""
    if previous is None:
        return 0, []
    model.load_state_dict(previous['state_dict'])
    optimizer.load_state_dict(previous['optimizer'])
    scheduler.load_state_dict(previous['scheduler'])
    return previous['epoch'], previous['history']


def training_command(argv, description, load_config, train, precisions=()):
    """The command line every training command shares: --config, --out, --data, --device, --set, and
    --precision where `train` offers several `precisions` (the first is the default)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', required=True, help='experiment YAML file')
    parser.add_argument('--out', required=True, help='run folder (resumed when it has a checkpoint)')
    parser.add_argument('--data', help='Human3.6M folder, overriding data.root')
    parser.add_argument('--device', default='auto', help='auto (CUDA when present), cpu, cuda, ...')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    if precisions:
        parser.add_argument('--precision', choices=precisions, default=precisions[0],
                            help='arithmetic of the training forward passes (default %(default)s)')
    parser.add_argument('--set', action='append', default=[], metavar='SECTION.KEY=VALUE',
                        help='override one config value (YAML), e.g. --set train.epochs=10; repeatable')
    args = parser.parse_args(argv)

    def command():
        config = load_config(args.config, args.set)
        if args.data:
            config['data']['root'] = args.data
        options = {'precision': args.precision} if precisions else {}
        train(config, args.out, args.device, progress=not args.no_progress, **options)
    return cli.run(command)
