"""Generate the demo project's paired FASTQ files (run once; the output is committed).

    python -m toolkit.metadata_server.demo.make_demo_fastqs

Each sample gets 2,000 read pairs of 100 bp sampled from its own random 30 kb "genome" (insert ~300 bp, 0.5 %
substitutions), with Illumina-like Phred+33 qualities: high (mid/high 30s) over the first cycles, decaying
towards the 3' end, with per-read variation and occasional low-quality dips. A fixed seed makes the files
reproducible byte for byte (gzip mtime 0).
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

HERE = Path(__file__).parent
SAMPLES = ("DEMO001", "DEMO002", "DEMO003")
READ_PAIRS = 2000
READ_LENGTH = 100
GENOME_LENGTH = 30_000
SEED = 20240611
COMPLEMENT = str.maketrans("ACGT", "TGCA")


def quality_string(rng: random.Random) -> str:
    start = rng.gauss(36.5, 1.2)
    end = rng.gauss(27, 3.5)
    scores = []
    for cycle in range(READ_LENGTH):
        fraction = cycle / (READ_LENGTH - 1)
        mean = start - (start - end) * fraction ** 1.8
        score = rng.gauss(mean, 1.5 + 3 * fraction)
        if rng.random() < 0.004 + 0.02 * fraction:  # a bubble or cluster problem: a sharp dip
            score = rng.uniform(2, 15)
        scores.append(min(41, max(2, round(score))))
    return "".join(chr(33 + score) for score in scores)


def mutate(sequence: str, quality: str, rng: random.Random) -> str:
    bases = list(sequence)
    for index, char in enumerate(quality):
        error_rate = 10 ** (-(ord(char) - 33) / 10)
        if rng.random() < max(error_rate, 0.005 if rng.random() < 0.01 else 0):
            bases[index] = rng.choice([base for base in "ACGT" if base != bases[index]])
    return "".join(bases)


def write_sample(name: str, lane_id: int, rng: random.Random) -> None:
    genome = "".join(rng.choice("ACGT") for _ in range(GENOME_LENGTH))
    r1_path, r2_path = HERE / f"{name}_R1.fastq.gz", HERE / f"{name}_R2.fastq.gz"
    with open(r1_path, "wb") as raw1, open(r2_path, "wb") as raw2, \
            gzip.GzipFile(fileobj=raw1, mode="wb", mtime=0) as out1, \
            gzip.GzipFile(fileobj=raw2, mode="wb", mtime=0) as out2:
        for pair in range(READ_PAIRS):
            insert = max(2 * READ_LENGTH, int(rng.gauss(300, 40)))
            start = rng.randrange(0, GENOME_LENGTH - insert)
            fragment = genome[start:start + insert]
            forward = fragment[:READ_LENGTH]
            reverse = fragment[-READ_LENGTH:].translate(COMPLEMENT)[::-1]
            tile, x, y = 1101 + pair // 800, rng.randrange(1000, 32000), rng.randrange(1000, 37000)
            header = f"A00123:8:HDEMOXX3:{lane_id}:{tile}:{x}:{y}"
            for out, sequence, read in ((out1, forward, 1), (out2, reverse, 2)):
                quality = quality_string(rng)
                record = f"@{header} {read}:N:0:ACGTACGT+TGCATGCA\n{mutate(sequence, quality, rng)}\n+\n{quality}\n"
                out.write(record.encode())


def main() -> None:
    rng = random.Random(SEED)
    for lane_id, name in enumerate(SAMPLES, start=1):
        write_sample(name, lane_id, rng)
    print("written:", ", ".join(sorted(path.name for path in HERE.glob("*.fastq.gz"))))


if __name__ == "__main__":
    main()
