"""What the training commands share: bad input ends in one `error: ...` line and exit status 2."""
import sys


def run(command):
    """Call command(); a ValueError (naming the bad file, field or value) is printed, not raised."""
    try:
        command()
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    return 0
