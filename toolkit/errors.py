"""The toolkit's exception hierarchy and exit codes.

Every error a user can cause or meet derives from :class:`ToolkitError`. The CLI catches it, prints its
message (never a traceback) and exits with its ``exit_code``. Distinct codes let scripts tell a broken spec
from a failed job from an unreachable server::

    ToolkitError                    1  generic failure
    ├── UsageError                  2  bad command-line arguments
    ├── SpecError                   2  the jobspec is invalid (carries every diagnostic, with positions)
    ├── MetadataError               3  Metamist answered with an error, or its data does not fit the spec
    │   └── MetadataUnreachable     3  no answer from Metamist at all
    ├── DataLoadError               3  a dataset / sample sheet given to ``toolkit metadata load`` is invalid
    ├── EnvironmentProblem          4  something the run needs is missing here (a tool, the Docker Engine...)
    ├── ImageError                  5  building, testing or publishing an image failed
    ├── JobsFailed                  6  the run finished, but at least one group's job failed
    └── OutputsChanged              7  ``toolkit outputs --verify``: a registered output is missing or changed

Anything else escaping a command is a bug in the toolkit: the CLI prints one line and exits 70
(TOOLKIT_DEBUG=1 shows the traceback). Ctrl-C exits 130; ``toolkit run`` stopped by SIGTERM exits 143 (both
after stopping the jobs it started). A command whose standard output is a pipe that its reader closed
(``toolkit plan | head``) ends quietly with 141, as if stopped by SIGPIPE.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_SPEC = 2
EXIT_METADATA = 3
EXIT_ENVIRONMENT = 4
EXIT_IMAGE = 5
EXIT_JOBS_FAILED = 6
EXIT_OUTPUTS_CHANGED = 7
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in the toolkit itself
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of standard output stopped reading (`toolkit plan | head`)
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports it


class ToolkitError(Exception):
    """Base class of every error the toolkit reports to a user."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str = "", *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        """The text shown to the user (may span several lines)."""
        text = f"error: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class UsageError(ToolkitError):
    exit_code = EXIT_USAGE


class SpecError(ToolkitError):
    """One or more problems in a jobspec. ``diagnostics`` holds them all, each with a position."""

    exit_code = EXIT_SPEC

    def __init__(self, diagnostics, *, source_name: str = ""):
        self.diagnostics = list(diagnostics)
        self.source_name = source_name
        count = len(self.diagnostics)
        super().__init__(f"{source_name}: {count} error{'s' if count != 1 else ''} in the jobspec")

    def render(self) -> str:
        # The diagnostics' own class renders them (toolkit.spec.diagnostics.Diagnostic.render_all, with source
        # lines and underlines): this module sits below every stage and imports none of them.
        if not self.diagnostics:
            return super().render()
        return type(self.diagnostics[0]).render_all(self.diagnostics)


class MetadataError(ToolkitError):
    exit_code = EXIT_METADATA


class MetadataUnreachable(MetadataError):
    pass


class DataLoadError(ToolkitError):
    exit_code = EXIT_METADATA


class EnvironmentProblem(ToolkitError):
    exit_code = EXIT_ENVIRONMENT


class ImageError(ToolkitError):
    exit_code = EXIT_IMAGE


class JobsFailed(ToolkitError):
    exit_code = EXIT_JOBS_FAILED


class OutputsChanged(ToolkitError):
    exit_code = EXIT_OUTPUTS_CHANGED
