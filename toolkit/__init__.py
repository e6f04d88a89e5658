"""jobspec toolkit: run a tool on every sequencing group of a Metamist project from a YAML jobspec.

The package is laid out as the pipeline it runs:

    spec/             load -> validate a jobspec (positions on every error)
    query/            ask Metamist (through the ``metamist`` client) and turn answers into groups
    plan/             expand groups into jobs: rendered commands, outputs, resources, registrations
    render.py         the sandboxed template renderer (spec checks templates with it, plan renders them)
    backend/          submit the plan to Hail Batch (through cpg-utils) and collect job outcomes
    registration/     register each succeeded output in Metamist as an Analysis, exactly once
    images/           build, test and publish the spec's Docker image
    spectests.py      a spec's ``tests:``, run through plan and backend (``toolkit test``, ``toolkit publish``)
    metadata_server/  the embedded Metamist-compatible server used when no real Metamist is configured
    cli/              one module per command-line verb

Only ``toolkit.errors`` and the CLI are imported at start-up; everything heavy is imported by the verb that
needs it.
"""

__version__ = "0.1.0"
