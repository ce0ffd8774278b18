"""Plausible wrong answers to the exercise of lessons/07_internals.ipynb (see test_exercises.py).

The exercise: predict where the four tasks of a small graph run on a simulated
three-node cluster (head, ingest, accel) and which objects get copied between nodes.
"""

_RIGHT_PLACEMENT = 'placement = {"load": "ingest", "tidy": "ingest", "fit": "accel", "report": "head"}\n'
_RIGHT_COPIES = '{("clean", "accel"), ("weights", "accel"), ("model", "head")}'

WRONG_ANSWERS = {
    "ex1": {
        # The driver's node does everything; nothing moves.
        "all on the head node": (
            'placement = {"load": "head", "tidy": "head", "fit": "head", "report": "head"}\n'
            "copies = set()\n"),
        # Right nodes, but results are thought to flow back to the driver instead of being
        # pulled by the task that consumes them.
        "results go back to the driver": (
            _RIGHT_PLACEMENT
            + 'copies = {("raw", "head"), ("clean", "head"), ("model", "head")}\n'),
        # Forgot that the consumer pulls a large argument the driver put.
        "the put object does not travel": (
            _RIGHT_PLACEMENT + 'copies = {("clean", "accel"), ("model", "head")}\n'),
        # Counted the driver's put into its own node's store as a copy.
        "the put counted as a copy": (
            _RIGHT_PLACEMENT + f'copies = {_RIGHT_COPIES} | {{("weights", "head")}}\n'),
        # Every argument copied into its consumer, even on the same node.
        "same-node argument copied": (
            _RIGHT_PLACEMENT + f'copies = {_RIGHT_COPIES} | {{("raw", "ingest")}}\n'),
        # The small summary counted as a copy to the driver's node.
        "small result copied": (
            _RIGHT_PLACEMENT + f'copies = {_RIGHT_COPIES} | {{("summary", "head")}}\n'),
        # Data locality over resources: report placed next to the model.
        "report next to its input": (
            'placement = {"load": "ingest", "tidy": "ingest", "fit": "accel", "report": "accel"}\n'
            'copies = {("clean", "accel"), ("weights", "accel")}\n'),
        # Copies written as object names only (not pairs).
        "object names without nodes": (
            _RIGHT_PLACEMENT + 'copies = {"clean", "weights", "model"}\n'),
    },
}
