"""mmteach.training.fit on TensorFlow's own distributed engine: two workers, MultiWorkerMirroredStrategy.

Two worker processes on 127.0.0.1 (free ports), each told its role by ``TF_CONFIG``, run the
same script; gradients are all-reduced over gRPC, so both must end with identical weights.
Bounded in time; the processes are killed in ``finally`` whatever happens.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("tensorflow")

pytestmark = pytest.mark.slow  # left out of the fast lane, pytest -m "not slow"

TIMEOUT = 240  # seconds for both workers together

WORKER = textwrap.dedent(
    """
    import json, os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # first, before other TensorFlow work

    import keras
    import numpy as np
    from mmteach import training

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 32)
    x = (rng.normal(size=(96, 4)) + y[:, None]).astype("float32")

    def build():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"),
                                  keras.layers.Dense(3, activation="softmax")])
        model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
        return model

    result = training.fit(build, x, y, epochs=2, batch_size=32, strategy=strategy)
    weights = np.concatenate([w.ravel() for w in result.model.get_weights()])
    task = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    print(json.dumps({"task": task, "replicas": strategy.num_replicas_in_sync,
                      "weights": weights.tolist(), "loss": result.history["loss"].tolist()}))
    """
)


def free_ports(n: int) -> list[int]:
    """Ports the OS says are free right now (all sockets held open until every port is chosen)."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def test_two_workers_train_in_sync_under_multiworker_mirrored_strategy():
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    try:
        for index in range(2):
            env = dict(
                os.environ,
                TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            )
            env.pop("CUDA_VISIBLE_DEVICES", None)
            env["CUDA_VISIBLE_DEVICES"] = "-1"
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", WORKER],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        outputs = []
        for proc in procs:
            try:
                out, err = proc.communicate(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                pytest.fail(f"a worker did not finish within {TIMEOUT} s")
            assert proc.returncode == 0, err[-3000:]
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)

    assert sorted(o["task"] for o in outputs) == [0, 1]
    assert all(o["replicas"] == 2 for o in outputs)
    w0, w1 = (np.array(o["weights"]) for o in outputs)
    assert np.allclose(w0, w1, atol=1e-6)  # all-reduced gradients: the replicas stay identical
    assert all(np.all(np.isfinite(o["loss"])) for o in outputs)
    assert outputs[0]["loss"][-1] < outputs[0]["loss"][0]  # and it learnt something
