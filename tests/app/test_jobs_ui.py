"""The one job rule, as a user meets it: cancel then train again; a foreign job id in a link."""

from __future__ import annotations

import time

from tests.app.pages import open_page


def test_cancelled_training_can_be_started_again(isolated: None) -> None:
    at = open_page("model", model="resnet18")  # no shipped digits ResNet-18: the page offers training
    assert [b.label for b in at.button].count("Train baseline") == 1
    at.button[[b.label for b in at.button].index("Train baseline")].click().run()
    cancel = [b for b in at.button if b.label == "Cancel"]
    assert cancel, [b.label for b in at.button]
    cancel[0].click().run()
    deadline = time.time() + 120
    while time.time() < deadline:
        at.run()
        if any("cancelled" in w.value for w in at.warning):
            break
        time.sleep(0.5)
    assert any("cancelled" in w.value for w in at.warning)
    assert "Train again" in [b.label for b in at.button]  # the button comes back without a restart


def test_a_foreign_job_id_in_the_link_is_refused_with_a_message(isolated: None) -> None:
    at = open_page("quantize", scheme="kmeans", bits="2", qat="1", qat_job="prune-0123456789ab")
    assert not at.exception
    assert any("not a job of this page" in w.value for w in at.warning)
    assert "qat_job" not in at.query_params
    at = open_page("quantize", scheme="kmeans", bits="2", qat="1", qat_job="qat-000000000000")
    assert any("no longer on this server" in c.value for c in at.caption)
