"""The reuse key: equal parts give equal keys; each changed part gives its own reason, in words."""

from __future__ import annotations

from toolkit.plan.reuse import InputIdentity, ReuseKey, describe_changes, short_digest

READ = InputIdentity("gs://cpg-x-main-upload/CPGLCL17_R1.fastq.gz", 1000, "md5:aaaa")


def key(**overrides) -> ReuseKey:
    parts = dict(command="fastqe in.fq --min 20 > out.html", image="sha256:" + "a" * 64, params={"min_q": 20},
                 inputs=(READ,), shell="errexit pipefail")
    parts.update(overrides)
    return ReuseKey(**parts)


def test_equal_parts_give_the_same_key_and_no_reason():
    assert key().digest == key().digest
    assert describe_changes(key().record(), key().command, key()) == []


def test_param_change_is_reported_as_the_param():
    old = key()
    new = key(params={"min_q": 30}, command="fastqe in.fq --min 30 > out.html")
    assert describe_changes(old.record(), old.command, new) == ["command changed: --param min_q 20 → 30"]


def test_param_that_no_template_uses_still_changes_the_key():
    assert key(params={"min_q": 20, "note": "x"}).digest != key().digest


def test_command_text_change_shows_the_changed_words():
    old = key()
    new = key(command="fastqe in.fq --min 20 --bin > out.html")
    reasons = describe_changes(old.record(), old.command, new)
    assert reasons == ["command changed: (nothing) → --bin"]


def test_image_change_shows_both_digests_shortened():
    old, new = key(), key(image="sha256:" + "b" * 64)
    assert describe_changes(old.record(), old.command, new) == [
        f"image changed: sha256:{'a' * 12}… → sha256:{'b' * 12}…"
    ]


def test_reads_checksum_and_size_changes_name_the_file():
    old = key()
    new = key(inputs=(InputIdentity(READ.location, 2000, "md5:bbbb"),))
    assert describe_changes(old.record(), old.command, new) == [
        "inputs changed: CPGLCL17_R1.fastq.gz checksum md5:aaaa → md5:bbbb",
        "inputs changed: CPGLCL17_R1.fastq.gz size 1000 → 2000",
    ]


def test_aggregate_members_new_and_gone():
    old, new = key(upstream=(11, 12)), key(upstream=(11, 13))
    assert describe_changes(old.record(), old.command, new) == [
        "inputs changed: new input Analysis 13; input Analysis 12 no longer active"
    ]


def test_upstream_order_does_not_matter():
    assert key(upstream=(1, 2)).digest == key(upstream=(2, 1)).digest


def test_an_analysis_without_a_key_is_explained():
    assert describe_changes({}, None, key()) == [
        "registered without a reuse key (by an older toolkit): cannot tell what it was made from"
    ]


def test_short_digest():
    assert short_digest("sha256:" + "c" * 64) == "sha256:cccccccccccc…"
    assert short_digest(None) == "none"
