"""The spec stage: load a jobspec and check everything that can be checked offline.

Public surface::

    load_spec(path) -> LoadedSpec          raises toolkit.errors.SpecError with every Diagnostic
    LoadedSpec(path, model, text, content_hash, warnings, document).resolve(relative) -> Path
    LoadedSpec.at_value(("register", "report", "type"), message) -> Diagnostic   (errors found after loading)
    Diagnostic(file, line, column, message, end_column=None, severity="error")
    render_diagnostics(diagnostics) -> str

Every bound a hostile file could cross (size, nesting, values, numbers, query depth) is in toolkit.spec.limits.
Imports stay light (ruamel.yaml, pydantic, jinja2, graphql-core, jmespath): ``toolkit validate`` must start fast.
"""

from toolkit.spec.diagnostics import Diagnostic, render_diagnostics
from toolkit.spec.loader import LoadedSpec, load_spec
from toolkit.spec.models import JobSpec

__all__ = ["Diagnostic", "JobSpec", "LoadedSpec", "load_spec", "render_diagnostics"]
