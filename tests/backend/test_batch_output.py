"""The batch's output reaches stderr through toolkit.backend's filter: every line but blank ones, whole."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from toolkit.backend import _forward_without_blank_lines, _stdout_to_stderr


def _forwarded(chunks: list[bytes]) -> bytes:
    source_read, source_write = os.pipe()
    target_read, target_write = os.pipe()
    received: list[bytes] = []

    def collect() -> None:
        with os.fdopen(target_read, "rb") as target:
            received.append(target.read())

    forwarder = threading.Thread(target=_forward_without_blank_lines, args=(source_read, target_write))
    collector = threading.Thread(target=collect)
    forwarder.start()
    collector.start()
    for chunk in chunks:
        os.write(source_write, chunk)
    os.close(source_write)
    forwarder.join(10)
    os.close(target_write)
    collector.join(10)
    return received[0]


def test_blank_lines_are_dropped_and_every_other_line_kept_whole():
    chunks = [b"\n", b"first line\n\n   \n\t\n", b"a line split ", b"over two writes\n", b"\n", b"no newline at the end"]
    assert _forwarded(chunks) == b"first line\na line split over two writes\nno newline at the end"


def test_a_large_output_passes_in_full():
    lines = [f"line {index} ".encode() + b"x" * 200 + b"\n" for index in range(5000)]
    assert _forwarded([b"".join(lines[i:i + 7]) + b"\n" for i in range(0, len(lines), 7)]) == b"".join(lines)


def test_child_processes_write_to_stderr_and_not_to_stdout(tmp_path):
    """What Hail's LocalBackend starts (a job, its copy tool) writes to file descriptor 1: that goes to stderr
    without its blank lines, while the toolkit's stdout stays for its own results."""
    script = (
        "import subprocess, sys\n"
        "from toolkit.backend import _stdout_to_stderr\n"
        "print('result before', flush=True)\n"
        "with _stdout_to_stderr():\n"
        "    subprocess.run(['sh', '-c', 'echo; echo job output; echo; echo'], check=True)\n"
        "    print('python inside')\n"
        "print('result after')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout == "result before\nresult after\n"
    assert done.stderr == "job output\npython inside\n"


def test_the_toolkits_stdout_is_restored_after_the_batch(capfd):
    with _stdout_to_stderr():
        os.write(1, b"from the batch\n\n")
    os.write(1, b"after\n")
    captured = capfd.readouterr()
    assert captured.out == "after\n" and captured.err == "from the batch\n"
