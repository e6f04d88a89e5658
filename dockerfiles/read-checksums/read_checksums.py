#!/usr/bin/env python3
"""Check one read file against what Metamist recorded: gzip integrity, checksum, FASTQ read count.

    read-checksums --expected=md5:<hex> --metrics=OUT.json -- READ

One pass over the file: the bytes read are hashed (md5, as Metamist records reads; sha256 if the recorded
checksum says so) while they are decompressed. The gzip check is the one `gzip -t` makes: every member
decompresses, its CRC-32 and length trailer match, the file does not end inside a member, and nothing but
zero padding follows the last member (stricter than `gzip -t`, which only warns about trailing garbage).
A file that does not start with the gzip magic is read as plain FASTQ unless its name ends in .gz (then it is
an error).

On success it writes the metrics JSON and exits 0:
    basename           string   the read file's name
    size               integer  bytes
    md5                string   hex md5 of the file as stored (compressed)
    checksum_verified  boolean  true: the recorded checksum was compared and matched; false: none was recorded
    compression        string   "gzip" (integrity checked) or "none"
    reads              integer  FASTQ records (lines / 4)

Exits 1, writes no metrics and says why on stderr, when: the checksum differs from the recorded one; the
gzip data is damaged or truncated; the line count is not a multiple of 4; no checksum was recorded and
--require-checksum was given. Exits 2 on bad arguments (an unsupported checksum algorithm, a missing file).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import re
import sys
import zlib
from pathlib import Path

__version__ = "1.0.0"  # the image sets it from its VERSION build arg (the same)
CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
ALGORITHMS = {"md5": 32, "sha256": 64}


class CheckFailed(Exception):
    pass


class UsageError(Exception):
    pass


class HashingReader(io.RawIOBase):
    """A raw file that feeds every byte it hands out to the given digests."""

    def __init__(self, raw, digests):
        self.raw = raw
        self.digests = digests
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.raw.readinto(buffer)
        if count:
            view = memoryview(buffer)[:count]
            for digest in self.digests:
                digest.update(view)
            self.size += count
        return count


def parse_expected(text: str) -> tuple[str, str] | None:
    """'md5:<hex>' (Metamist's form), 'sha256:<hex>' or a bare md5 hex -> (algorithm, hex); '' -> None."""
    text = text.strip()
    if not text:
        return None
    algorithm, _, value = text.rpartition(":")
    algorithm = algorithm.strip().lower() or "md5"
    value = value.strip().lower()
    if algorithm not in ALGORITHMS:
        raise UsageError(f"unsupported checksum algorithm {algorithm!r} in {text!r} (supported: md5, sha256)")
    if not re.fullmatch(rf"[0-9a-f]{{{ALGORITHMS[algorithm]}}}", value):
        raise UsageError(f"not a {algorithm} checksum: {text!r}")
    return algorithm, value


def count_lines(stream) -> tuple[int, bool]:
    """Lines in a binary stream (a last line without newline counts), and whether it was empty."""
    lines = 0
    last = b""
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        lines += chunk.count(b"\n")
        last = chunk
    if last and not last.endswith(b"\n"):
        lines += 1
    return lines, not last


def check(path: Path, expected: tuple[str, str] | None) -> dict:
    digests = {"md5": hashlib.md5()}
    if expected and expected[0] != "md5":
        digests[expected[0]] = hashlib.new(expected[0])
    with path.open("rb", buffering=0) as raw:
        reader = HashingReader(raw, list(digests.values()))
        buffered = io.BufferedReader(reader, CHUNK)
        compressed = buffered.peek(2)[:2] == GZIP_MAGIC
        if not compressed and path.name.lower().endswith((".gz", ".gzip")):
            raise CheckFailed(f"{path.name} is named .gz but is not gzip-compressed")
        try:
            if compressed:
                with gzip.GzipFile(fileobj=buffered, mode="rb") as stream:
                    lines, _ = count_lines(stream)
            else:
                lines, _ = count_lines(buffered)
        except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError
            raise CheckFailed(f"gzip integrity: {path.name}: {error}") from None
        while buffered.read(CHUNK):  # hash anything gzip stopped before (zero padding)
            pass
    if lines % 4:
        raise CheckFailed(f"{path.name}: {lines} lines, not a whole number of FASTQ records (4 lines each)")
    verified = False
    if expected:
        algorithm, value = expected
        actual = digests[algorithm].hexdigest()
        if actual != value:
            raise CheckFailed(
                f"{algorithm} mismatch for {path.name}: the file has {actual}, Metamist recorded {value}"
            )
        verified = True
    return {
        "basename": path.name,
        "size": reader.size,
        "md5": digests["md5"].hexdigest(),
        "checksum_verified": verified,
        "compression": "gzip" if compressed else "none",
        "reads": lines // 4,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="read-checksums", description=__doc__.split("\n\n")[0],
        epilog="Write option values as --name=VALUE; put the read path after --.",
    )
    parser.add_argument("--version", action="version", version=f"read-checksums {__version__}")
    parser.add_argument("--expected", default="", help="the recorded checksum, md5:<hex> (empty: none)")
    parser.add_argument("--require-checksum", action="store_true", help="fail when no checksum was recorded")
    parser.add_argument("--metrics", required=True, type=Path, help="the metrics JSON to write on success")
    parser.add_argument("read", type=Path, help="the read file")
    args = parser.parse_args(argv)
    try:
        expected = parse_expected(args.expected)
        if expected is None and args.require_checksum:
            raise CheckFailed(f"{args.read.name}: Metamist recorded no checksum for it (--require-checksum)")
        if not args.read.is_file():
            raise UsageError(f"{args.read}: no such file")
        metrics = check(args.read, expected)
    except UsageError as error:
        print(f"read-checksums: {error}", file=sys.stderr)
        return 2
    except CheckFailed as error:
        print(f"read-checksums: FAILED: {error}", file=sys.stderr)
        return 1
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    args.metrics.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    verified = f"{expected[0]} matches Metamist" if expected else "no checksum recorded, md5 computed"
    summary = f"{metrics['reads']} reads, {metrics['compression']}, {verified}"
    print(f"read-checksums: ok: {args.read.name}: {summary}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
