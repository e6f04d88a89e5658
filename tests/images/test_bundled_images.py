"""The bundled FastQC, MultiQC and read-checksums images for real: each spec's `tests:` inside its image (as the
images workflow runs them), and what each image promises: FastQC with a headless JRE only, MultiQC that never
reaches for the network, the tools' versions. Needs the engine, the local registry and the base images
(scripts/test.sh starts them); without them these tests skip, and in CI they fail."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import REPO
from toolkit.spec import load_spec

pytestmark = [pytest.mark.docker, pytest.mark.slow]

BUNDLED = {
    "jobspecs/fastqc.yaml": "fastqc:0.11.9-1",
    "jobspecs/multiqc.yaml": "multiqc:1.35-2",
    "jobspecs/read-checksums.yaml": "read-checksums:1.0.0-1",
}


@pytest.fixture
def built(toolkit, registry):
    """`toolkit build SPEC` into the local registry (nothing to do when up to date); returns the image name."""

    def build(spec: str) -> str:
        toolkit.run("build", spec, extra_env={"TOOLKIT_REGISTRY": registry}, timeout=1800)
        return f"{registry}/{BUNDLED[spec]}"

    return build


def in_image(image: str, *command: str) -> subprocess.CompletedProcess:
    """The command in the image as jobs run there: no network."""
    return subprocess.run(["docker", "run", "--rm", "--network", "none", image, *command],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("spec", sorted(BUNDLED))
def test_the_specs_tests_pass_inside_its_image(toolkit, registry, built, spec):
    image = built(spec)
    names = [test.name for test in load_spec(REPO / spec).model.tests]
    done = toolkit.run("test", spec, extra_env={"TOOLKIT_REGISTRY": registry}, timeout=1800)
    output = done.stdout + done.stderr
    assert re.search(rf"running {len(names)} spec tests? in {re.escape(image)}\n", output)
    assert [m.group(1) for m in re.finditer(r"^  PASS (\S+) \(", output, re.MULTILINE)] == names
    assert re.search(rf"^{len(names)} of {len(names)} spec tests? passed$", output, re.MULTILINE)


def test_fastqc_runs_on_a_headless_jre_without_the_desktop_stack(engine, built):
    image = built("jobspecs/fastqc.yaml")
    assert in_image(image, "fastqc", "--version").stdout.strip() == "FastQC v0.11.9"
    packages = in_image(image, "dpkg-query", "-W", "-f", "${Package}\n").stdout.split()
    assert "fastqc" in packages and "default-jre-headless" in packages
    # Debian's default-jre would bring the GUI JRE with GTK, Mesa and LLVM: the image's stand-in avoids them.
    assert not {p for p in packages if re.match(r"openjdk-\d+-jre$|libgtk|libgl1|libllvm", p)}
    assert engine.images.get(image).attrs["Size"] < 600 * 2**20


def test_multiqc_in_its_image_never_reaches_for_the_network(built, tmp_path):
    image = built("jobspecs/multiqc.yaml")
    assert in_image(image, "multiqc", "--version").stdout.strip() == "multiqc, version 1.35"
    # -v logs every connection MultiQC opens. With the image's config: none, even without the spec's flags.
    script = ("mkdir -p /tmp/in/S1 && cd /tmp/in/S1 && python3 -m zipfile -e /fixture.zip . && "
              "multiqc -v --outdir /tmp/out /tmp/in 2>&1")
    mount = ["-v", f"{REPO / 'jobspecs/fixtures/multiqc/CPGTEST1_fastqc.zip'}:/fixture.zip:ro"]
    runs = {}
    for label, extra in (("image config", []), ("no config", ["-e", "MULTIQC_CONFIG_PATH="])):
        runs[label] = subprocess.run(["docker", "run", "--rm", "--network", "none", *mount, *extra, image,
                                      "sh", "-c", script], capture_output=True, text=True, timeout=300)
        assert runs[label].returncode == 0 and "MultiQC complete" in runs[label].stdout, runs[label].stdout[-2000:]
    assert "Starting new HTTPS connection" not in runs["image config"].stdout
    assert "version check" not in runs["image config"].stdout
    # The control: without the config MultiQC would ask api.multiqc.info (and find no network).
    assert "Starting new HTTPS connection (1): api.multiqc.info:443" in runs["no config"].stdout


def test_read_checksums_reports_its_version(built):
    image = built("jobspecs/read-checksums.yaml")
    assert in_image(image, "read-checksums", "--version").stdout.strip() == "read-checksums 1.0.0"
