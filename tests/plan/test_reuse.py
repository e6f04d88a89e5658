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


# The key must not move when its encoder does: every Analysis registered so far was hashed from json.dumps.
def _json_canonical(parts):
    import json

    return json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def _param_values():
    from hypothesis import strategies as st

    scalars = (st.text() | st.integers(min_value=-(2**70), max_value=2**70) | st.booleans() | st.none()
               | st.floats(allow_nan=True, allow_infinity=True) | st.dates())
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                        max_leaves=12)


def test_canonical_json_is_the_standard_librarys_byte_for_byte():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from toolkit.plan.reuse import canonical_json

    @settings(max_examples=3000, deadline=None)
    @given(command=st.text(), params=st.dictionaries(st.text(), _param_values(), max_size=5),
           sizes=st.lists(st.none() | st.integers(min_value=0, max_value=2**66), max_size=3),
           checksum=st.none() | st.text())
    def check(command, params, sizes, checksum):
        parts = {"command": command, "image": "sha256:ab", "params": params, "shell": "bash",
                 "inputs": [{"location": f"gs://b/{index}", "size": size, "checksum": checksum}
                            for index, size in enumerate(sizes)], "upstream": [3, 1]}
        try:
            expected = _json_canonical(parts)
        except UnicodeEncodeError:  # a lone surrogate: both refuse it alike
            try:
                canonical_json(parts)
            except UnicodeEncodeError:
                return
            raise AssertionError("canonical_json accepted what json cannot encode") from None
        assert canonical_json(parts) == expected

    check()


def test_a_key_registered_before_the_faster_encoder_is_still_the_same_key():
    """The digest the toolkit computed for this key before orjson (json.dumps), recorded here: plans made after
    the change still find the Analyses registered before it done."""
    key = ReuseKey(command="fastqe --bin 'gs://b/CPGAA1_R1.fq.gz' > '/out/CPGAA1.html'", image="sha256:0123",
                   params={"min_q": 20, "label": "é"}, inputs=(InputIdentity("gs://b/CPGAA1_R1.fq.gz", 1234, "md5:ab"),),
                   shell="bash, set -o errexit -o pipefail")
    assert key.digest == "sha256:77cce15688debc9232ace4de0e06d3d293b58ebb9d4a1cfebed91a2ae7527f37"
