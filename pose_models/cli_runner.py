"""The run loop every ``python -m pose_models.<name>`` command line shares.

Exit status: 0 ok, 1 file/output error (``OSError``), 2 bad input (the package's own error types).
Errors are one ``ERROR`` log line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Mapping

Command = Callable[[argparse.Namespace], object]


def run_command(args: argparse.Namespace, commands: Mapping[str, Command],
                bad_input: tuple[type[Exception], ...], logger: logging.Logger) -> int:
    """Configure logging (``args.verbose`` -> DEBUG) and run ``commands[args.command](args)``."""
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        commands[args.command](args)
    except bad_input as exc:
        logger.error("%s", exc)
        return 2
    except OSError as exc:
        logger.error("%s", exc)
        return 1
    return 0
