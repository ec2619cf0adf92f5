"""The KRaft cluster id the local stack formats Kafka's storage with."""

from __future__ import annotations

import base64

from devstack.components import _cluster_id


def test_cluster_ids_never_look_like_an_option() -> None:
    # One base64url id in 64 starts with "-", which kafka-storage then reads as a flag and fails.
    ids = [_cluster_id() for _ in range(5000)]
    assert not [i for i in ids if i.startswith("-")]
    assert len(set(ids)) == len(ids)
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)
