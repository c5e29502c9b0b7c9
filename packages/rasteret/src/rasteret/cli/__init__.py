"""The ``rasteret`` command line.

Exit codes: ``0`` success, ``1`` the operation failed (unknown dataset or collection, invalid
data, I/O error...), ``2`` usage error (bad arguments), ``130`` interrupted. Errors are printed
to stderr as one ``rasteret: error: ...`` line; ``--debug`` shows the traceback instead.

Commands live in :mod:`.datasets` and :mod:`.collections`; the parser in :mod:`.parser`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rasteret.cli._interrupt import interrupts_not_swallowed
from rasteret.cli._output import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError
from rasteret.cli.parser import build_parser

__all__ = ["build_parser", "main"]


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, KeyError) and text.startswith(("'", '"')) and len(exc.args) == 1:
        text = str(exc.args[0])
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.func is None:
        args.help_parser.print_help()
        return EXIT_OK
    debug = bool(getattr(args, "debug", False))
    try:
        with interrupts_not_swallowed():
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("rasteret: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UsageError as exc:
        if debug:
            raise
        print(f"rasteret: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        if debug:
            raise
        print(f"rasteret: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILURE
