"""The embedded server in a process of its own, forked from the toolkit program (toolkit.metadata_server.forked).

Each case runs in a fresh interpreter: forking is only done with no other thread running, and the test process
runs other tests' servers in threads.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

START = """
import json, os, sys, threading, urllib.request
from toolkit.metadata_server import ensure_demo_loaded, start_server_process

db = sys.argv[1]
ensure_demo_loaded(db)

def my_projects(url):
    request = urllib.request.Request(url + "/graphql", data=json.dumps({"query": "{ myProjects { name } }"}).encode(),
                                     headers={"Content-Type": "application/json"})
    return [p["name"] for p in json.load(urllib.request.urlopen(request, timeout=10))["data"]["myProjects"]]
"""


def run_script(body: str, db: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", START + body, str(db)], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return True  # ended; its parent (init, once ours is gone) has not reaped it yet
        time.sleep(0.05)
    return False


def test_it_answers_from_another_process_and_stops_when_asked(tmp_path):
    done = run_script("""
server = start_server_process(db_path=db)
assert server.pid not in (0, os.getpid())
assert my_projects(server.url) == ["sandbox-test"]
# a reader of the command's output must not wait for the server: its stdout is not the command's
assert os.readlink(f"/proc/{server.pid}/fd/1") == "/dev/null"
server.stop()
try:
    os.kill(server.pid or -1, 0)
except (ProcessLookupError, PermissionError):
    pass
try:
    my_projects(server.url)
    print("still answering")
except OSError:
    print("stopped")
""", tmp_path / "metadata.sqlite")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["stopped"]


def test_ctrl_c_and_sigterm_leave_it_serving_and_the_command_ending_in_any_way_ends_it(tmp_path):
    """Ctrl-C reaches every process of the terminal's group (SIGTERM may reach it from a run stopping its
    jobs): the command may still need Metamist while it winds down, so the server ignores both; it ends when
    the command does, even without stop() (a crash, SIGKILL)."""
    done = run_script("""
import signal, time
server = start_server_process(db_path=db)
assert my_projects(server.url) == ["sandbox-test"]
os.kill(server.pid, signal.SIGINT)
os.kill(server.pid, signal.SIGTERM)
time.sleep(0.3)
assert my_projects(server.url) == ["sandbox-test"], "Ctrl-C or SIGTERM stopped it"
print(server.pid, flush=True)
os._exit(0)  # no stop(), no clean-up of any kind
""", tmp_path / "metadata.sqlite")
    assert done.returncode == 0, done.stderr
    assert gone(int(done.stdout), within=10), "the server outlived the command"


def test_nothing_is_forked_while_another_thread_runs(tmp_path):
    done = run_script("""
import time
threading.Thread(target=time.sleep, args=(5,), daemon=True).start()
print(start_server_process(db_path=db))
""", tmp_path / "metadata.sqlite")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None"]


def test_a_store_that_cannot_be_opened_is_said_by_the_command_not_a_server_that_never_answers(toolkit):
    toolkit.home.mkdir(parents=True)
    (toolkit.home / "metadata.sqlite").write_bytes(b"not a database at all" * 100)
    done = toolkit.run("plan", "jobspecs/fastqe.yaml", check=None, timeout=60)
    assert done.returncode == 4
    assert "the metadata store" in done.stderr and "cannot be opened: file is not a database" in done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
def test_a_killed_command_leaves_no_server_behind(tmp_path):
    """`toolkit metadata serve`'s opposite: a command's own server ends with the command, however it ends."""
    command = subprocess.Popen(
        [sys.executable, "-c", START + """
server = start_server_process(db_path=db)
print(server.pid, flush=True)
import time; time.sleep(60)
""", str(tmp_path / "metadata.sqlite")], cwd=REPO, stdout=subprocess.PIPE, text=True)
    child = int(command.stdout.readline())
    command.kill()
    command.wait(timeout=10)
    assert gone(child, within=10), "the server outlived a killed command"


def test_a_command_whose_server_died_says_so(toolkit):
    """The server process killed under a running command: the command says its server stopped, not that some
    Metamist cannot be reached."""
    done = subprocess.run([sys.executable, "-c", """
import os, signal, sys
import toolkit.metadata_server.forked as forked
import toolkit.preflight

SERVER = []
started = forked.start_server_process
def remember(*args, **kwargs):
    server = started(*args, **kwargs)
    SERVER.append(server.pid)
    return server
forked.start_server_process = remember

original = toolkit.preflight.check_before_running
def check_after_losing_the_server(*args, **kwargs):
    os.kill(SERVER[0], signal.SIGKILL)
    return original(*args, **kwargs)
toolkit.preflight.check_before_running = check_after_losing_the_server
sys.argv = ["toolkit", "plan", "jobspecs/fastqe.yaml"]
from toolkit.cli import entry
entry()
"""], cwd=REPO, env=toolkit.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 4, done.stderr
    assert "the embedded metadata server stopped unexpectedly" in done.stderr
    assert "Traceback" not in done.stderr
