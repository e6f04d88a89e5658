"""Command-line entry point: ``toolkit VERB ...``.

One module per verb (planemo's layout). Each verb module is light at import time: it only declares its
arguments in ``add_arguments`` and imports what it needs (hail, docker, the server stack...) inside ``run``,
so ``toolkit --help`` and ``toolkit validate`` start fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from toolkit import __version__
from toolkit.errors import EXIT_BROKEN_PIPE, EXIT_INTERNAL, EXIT_INTERRUPTED, ToolkitError

# verb -> (module, one-line help). Order is the order shown in --help: the pipeline's order.
VERBS: dict[str, tuple[str, str]] = {
    "validate": ("toolkit.cli.validate", "check a jobspec offline (YAML, schema, templates, GraphQL query)"),
    "plan": ("toolkit.cli.plan", "show every job a run would submit, without running or writing anything"),
    "run": ("toolkit.cli.run", "query Metamist, run one job per sequencing group, register the outputs"),
    "outputs": ("toolkit.cli.outputs", "list the Analyses a jobspec registered, with their display URLs"),
    "serve": ("toolkit.cli.serve", "serve the results page and this home's reports on 127.0.0.1 (Ctrl-C stops it)"),
    "report": ("toolkit.cli.report", "write the results page as files (index.html + assets), e.g. for a web bucket"),
    "build": ("toolkit.cli.build", "build the jobspec's Docker image"),
    "test": ("toolkit.cli.test", "run the jobspec's tests inside its image (or on the host)"),
    "publish": ("toolkit.cli.publish", "test, then push the jobspec's image to the registry and lock its digest"),
    "metadata": ("toolkit.cli.metadata", "the embedded Metamist-compatible metadata server: load, demo, serve"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="toolkit",
        description="Run a tool on every sequencing group of a Metamist project, from a YAML jobspec.",
    )
    parser.add_argument("--version", action="version", version=f"toolkit {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for verb, (module_name, help_text) in VERBS.items():
        module = importlib.import_module(module_name)
        verb_parser = sub.add_parser(verb, help=help_text, description=help_text)
        module.add_arguments(verb_parser)
        verb_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one verb. ``argv`` None: called as the program (the ``toolkit`` script, ``python -m toolkit``),
    whose process ends when this returns (toolkit.process, :func:`_ending_process`); a list: called from
    Python."""
    if argv is None:
        from toolkit import process

        process.AS_PROGRAM = True
    try:
        return _main(argv)
    finally:
        if argv is None:
            _ending_process()


def _ending_process() -> None:
    """The process ends next: spare it the cyclic garbage collector's last passes.

    Python's shutdown runs the collector over every object still alive, several times; once a run has
    imported Hail (``cpg_utils.hail_batch`` imports all of ``hail``: numpy, scipy, pandas, bokeh, some 300,000
    objects) that is about 1 s of CPU, measured, before the process may exit, in every ``toolkit run``. Frozen
    objects are skipped by the collector; everything else about shutdown is unchanged: atexit handlers,
    stream flushes, and objects freed by reference counting as their modules are cleared.
    """
    import gc

    gc.freeze()


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args._run(args)
    except ToolkitError as error:
        from toolkit.cli._common import shown  # messages can quote metadata: never raw escape sequences

        print(shown(error.render(), multiline=True), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError as error:
        if not _stdout_reader_gone():
            return _internal_error(error)
        # `toolkit plan | head`: the reader has what it wanted and stopped reading. Nothing went wrong here; end
        # quietly, as a program stopped by SIGPIPE does (the shell reports 141), with stdout pointed at
        # /dev/null so that Python's final flush of it does not print a second error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE
    except Exception as error:  # a bug in the toolkit, not the user's input: say so, keep the trace on demand
        return _internal_error(error)
    return int(code or 0)


def entry() -> None:
    """The ``toolkit`` command (and ``python -m toolkit``): ``main``, then an exit without the interpreter's
    teardown when nothing is left to do."""
    code = main()
    _exit_without_teardown(code)


def _exit_without_teardown(code: int) -> None:
    """End the process the quick way once the command is over.

    Python's normal exit frees every object one by one before the OS takes the memory back anyway: after the
    reuse decision of `plan --format json` over 10,000 groups that was about a second of CPU, for nothing. Only
    when it is safe: output flushed, exit handlers run (atexit and weakref finalizers: temporary folders and
    the like), and no other non-daemon thread left to wait for (then the normal exit, which waits for it).
    """
    import atexit
    import threading

    others = [thread for thread in threading.enumerate()
              if thread is not threading.main_thread() and thread.is_alive() and not thread.daemon]
    if others:
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed or broken stream: the normal exit knows how to report it
        sys.exit(code)
    atexit._run_exitfuncs()  # what the normal exit would run; CPython's own, stable since 2.x
    try:
        sys.stdout.flush()  # what the handlers printed
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)


def _internal_error(error: Exception) -> int:
    if os.environ.get("TOOLKIT_DEBUG"):
        raise error
    print(
        f"internal error: {error.__class__.__name__}: {error}\n"
        "  this is a bug in the toolkit; rerun with TOOLKIT_DEBUG=1 for the traceback and report it",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


def _stdout_reader_gone() -> bool:
    """Is standard output a pipe whose reading end is closed? (A broken pipe elsewhere is a bug.)"""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _fd, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # stdout closed, or not a file
        return False


if __name__ == "__main__":  # pragma: no cover
    entry()
