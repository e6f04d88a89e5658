"""Start-up: building the CLI (what `toolkit --help` and every verb do first) imports nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC = str(REPO / "jobspecs" / "fastqe.yaml")

HEAVY = {"hail", "hailtop", "docker", "metamist", "cpg_utils", "uvicorn", "starlette", "graphql", "requests",
         "matplotlib", "jinja2", "selenium"}


def test_building_the_cli_imports_no_heavy_module():
    script = (
        "import sys\n"
        "from toolkit.cli import build_parser\n"
        "build_parser().parse_args(['validate', 'x.yaml'])\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {HEAVY!r}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_version_answers_without_a_traceback():
    done = subprocess.run([sys.executable, "-m", "toolkit", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("toolkit ")


def _exit_script(body: str) -> str:
    return "import atexit, sys, threading, time\nfrom toolkit.cli import _exit_without_teardown\n" + body


def test_the_quick_exit_flushes_output_runs_exit_handlers_and_keeps_the_code(tmp_path):
    """The command ends without the interpreter's teardown, but nothing a normal exit does for the user is lost:
    a megabyte still in stdout's buffer reaches the pipe, atexit handlers run, the exit code is the command's."""
    marker = tmp_path / "handler-ran"
    script = _exit_script(
        f"atexit.register(lambda: open({str(marker)!r}, 'w').write('ran'))\n"
        "sys.stdout.write('x' * 1_000_000)\n"
        "_exit_without_teardown(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 3
    assert len(done.stdout) == 1_000_000
    assert marker.read_text() == "ran"


def test_the_quick_exit_waits_like_a_normal_exit_for_a_thread_still_working(tmp_path):
    marker = tmp_path / "thread-finished"
    script = _exit_script(
        f"threading.Thread(target=lambda: (time.sleep(0.5), open({str(marker)!r}, 'w').write('done'))).start()\n"
        "_exit_without_teardown(0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "done"


def test_the_program_freezes_the_collector_as_it_ends_and_a_caller_in_python_is_left_alone(monkeypatch, capsys):
    """Python's shutdown collects every live object several times (about 1 s once Hail is imported); called as
    the program, main() freezes them first. Called with arguments (tests, scripts), it leaves the collector."""
    import gc

    import toolkit.cli as cli
    from toolkit import process

    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    monkeypatch.setattr(process, "AS_PROGRAM", False)  # main() sets it: restored after the test
    assert cli.main(["validate", SPEC]) == 0
    assert frozen == [] and not process.AS_PROGRAM
    monkeypatch.setattr(sys, "argv", ["toolkit", "validate", SPEC])
    assert cli.main() == 0
    assert frozen == [True] and process.AS_PROGRAM
    monkeypatch.setattr(sys, "argv", ["toolkit", "--version"])  # argparse ends it with SystemExit: still frozen
    with pytest.raises(SystemExit) as ended:
        cli.main()
    assert ended.value.code == 0
    assert frozen == [True, True]
    capsys.readouterr()


def test_the_program_still_runs_its_exit_handlers_and_flushes_its_output():
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('atexit ran', flush=True))\n"
        f"sys.argv = ['toolkit', 'validate', {SPEC!r}]\n"
        "from toolkit.cli import main\n"
        "import gc\n"
        "code = main()\n"
        "print('frozen', gc.get_freeze_count() > 0)\n"
        "sys.stdout.write('unflushed tail')\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "frozen True" in done.stdout
    assert "atexit ran" in done.stdout and "unflushed tail" in done.stdout


def test_plan_imports_neither_cpg_utils_nor_the_metamist_client(toolkit):
    # Each costs 0.5-0.7 s (cpg_utils imports cloudpathlib's Azure, GCS and S3 clients; the metamist client
    # imports cpg_utils): a plan reads the config through toolkit.cpg_config and asks Metamist through gql.
    script = (
        "import sys\n"
        "from toolkit.cli import main\n"
        f"code = main(['plan', {SPEC!r}, '--format', 'json'])\n"
        "print(code, sorted({m.split('.')[0] for m in sys.modules} & {'cpg_utils', 'cloudpathlib', 'metamist', "
        "'hail'}), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=toolkit.env, capture_output=True,
                          text=True, timeout=300)
    assert done.stderr.strip().splitlines()[-1] == "0 []", done.stderr[-2000:]
    assert len(json.loads(done.stdout)["jobs"]) == 3  # the demo's three groups, planned all the same


def test_the_program_leaves_the_server_stack_to_its_server_process(toolkit):
    """The toolkit program forks its embedded server before importing uvicorn or Starlette: the server process
    imports them and builds the server while the command goes on (toolkit.metadata_server.forked)."""
    script = (
        "import sys\n"
        "from toolkit.cli import main\n"
        f"sys.argv = ['toolkit', 'plan', {SPEC!r}, '--format', 'json']\n"
        "code = main()\n"
        "print(code, sorted({m.split('.')[0] for m in sys.modules} & {'uvicorn', 'starlette', 'cpg_utils', "
        "'metamist', 'hail'}), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=toolkit.env, capture_output=True,
                          text=True, timeout=300)
    assert done.stderr.strip().splitlines()[-1] == "0 []", done.stderr[-2000:]
    assert len(json.loads(done.stdout)["jobs"]) == 3
