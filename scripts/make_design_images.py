"""Make the design pictures of the internals lesson (lessons/07_internals.ipynb).

Run from the repository root with the project's venv::

    .venv/bin/python scripts/make_design_images.py            # both pictures
    .venv/bin/python scripts/make_design_images.py task_graph # only that one

- ``images/design.png``      Ray's parts (GCS, raylets, plasma stores, owners) beside
                             minirt's, the minirt side drawn from a live simulated cluster
                             (``minirt.cluster_utils.Cluster`` and ``minirt.nodes()``)
- ``images/task_graph.png``  the make/make/add task graph of the lesson's walkthrough,
                             drawn from ``minirt.events()`` of a real run: each task and
                             object in the column of the node where it ran or was stored,
                             the copies between nodes as dashed arrows

The pictures are drawn with matplotlib (no browser needed).
"""

from __future__ import annotations

import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

import minirt  # noqa: E402
from minirt.cluster_utils import Cluster  # noqa: E402

IMAGES = os.path.join(ROOT, "images")
MB = 1_000_000
GREEN, GREEN_EDGE = "#d9ead3", "#38761d"
BLUE, BLUE_EDGE = "#cfe2f3", "#3d85c6"
YELLOW, YELLOW_EDGE = "#fff2cc", "#bf9000"
GREY, GREY_EDGE = "#f4f4f4", "#555555"
ORANGE = "#e69138"


def _box(ax, x, y, w, h, text, fill, edge, size=9.5, bold=False, align="left"):
    """A rounded box with its lower-left corner at (x, y) and text inside."""
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=fill, edgecolor=edge, linewidth=1.3))
    tx = x + 0.12 if align == "left" else x + w / 2
    ax.text(tx, y + h / 2, text, ha=align, va="center", fontsize=size,
            fontweight="bold" if bold else "normal", wrap=True)


def _arrow(ax, start, end, color="#444444", dashed=False, text=None, text_at=None):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color=color,
                                 linewidth=1.4, linestyle="--" if dashed else "-"))
    if text:
        x, y = text_at or ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        ax.text(x, y, text, fontsize=8.5, color=color, ha="center", va="center",
                bbox=dict(facecolor="white", edgecolor="none", pad=1.0))


def _blank(ax, xmax, ymax):
    ax.set_xlim(0, xmax)
    ax.set_ylim(0, ymax)
    ax.axis("off")


# --------------------------------------------------------------------------------------
# design.png: Ray's parts beside minirt's
# --------------------------------------------------------------------------------------
def live_nodes():
    """Nodes of a live simulated cluster: a head with 1 CPU and two nodes with 2 CPUs."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"head": 1}})
    cluster.add_node(num_cpus=2, resources={"disk": 1})
    cluster.add_node(num_cpus=2, resources={"accel": 1})
    minirt.init(address=cluster.address)
    try:
        nodes = sorted(minirt.nodes(), key=lambda n: n["NodeIndex"])
    finally:
        minirt.shutdown()
        cluster.shutdown()
    return nodes


def make_design():
    nodes = live_nodes()
    fig = Figure(figsize=(13, 6.4), dpi=96)
    left, right = fig.add_axes([0.0, 0.0, 0.5, 0.93]), fig.add_axes([0.5, 0.0, 0.5, 0.93])
    fig.text(0.01, 0.965, "Ray's parts (left) and minirt's (right): the same API, the same jobs, "
             "different places", fontsize=13, fontweight="bold")

    # Ray: a head node and a worker node, each a machine of its own.
    ax = left
    _blank(ax, 10, 10)
    ax.text(0.2, 9.6, "Ray: one machine per node", fontsize=11.5, fontweight="bold")
    for x0, title in ((0.2, "head node (a machine)"), (5.1, "worker node (another machine)")):
        ax.add_patch(FancyBboxPatch((x0, 0.3), 4.6, 8.9, boxstyle="round,pad=0.02",
                                    facecolor=GREY, edgecolor=GREY_EDGE, linewidth=1.6))
        ax.text(x0 + 0.15, 8.85, title, fontsize=10, fontweight="bold")
        _box(ax, x0 + 0.2, 5.3, 4.2, 1.0, "raylet: this node's scheduler\nand worker pool",
             BLUE, BLUE_EDGE)
        _box(ax, x0 + 0.2, 0.6, 4.2, 1.3, "plasma: this node's object store\n"
             "(shared memory; spills to disk\nwhen full)", YELLOW, YELLOW_EDGE)
        _box(ax, x0 + 0.2, 2.3, 4.2, 0.8, "workers: run tasks, host actors;\neach owns the refs it makes",
             BLUE, BLUE_EDGE, size=9)
    _box(ax, 0.4, 7.0, 4.2, 1.5, "GCS (Global Control Service):\ncluster tables: nodes, resources,\n"
         "actors, jobs", GREEN, GREEN_EDGE)
    _box(ax, 0.4, 3.5, 4.2, 1.4, "driver (your script): the OWNER\nof every ref it makes with\n"
         ".remote() or put", GREEN, GREEN_EDGE)
    _arrow(ax, (7.4, 6.4), (4.65, 7.6), text="heartbeats,\nresources", text_at=(6.6, 7.5))
    _arrow(ax, (5.25, 1.25), (4.65, 1.25), color=ORANGE, dashed=True)
    ax.text(4.9, 0.05, "objects are pulled from node to node", fontsize=8.5, color=ORANGE,
            ha="center")

    # minirt: one process tree on one machine, nodes are slices of it.
    ax = right
    _blank(ax, 10, 10)
    ax.text(0.2, 9.6, "minirt: one machine, simulated nodes (from a live cluster)",
            fontsize=11.5, fontweight="bold")
    _box(ax, 0.2, 6.9, 9.6, 2.3,
         "driver process (your notebook's kernel) with the HEAD inside:\n"
         "  node and actor tables (Ray: the GCS)\n"
         "  one scheduler that places tasks on every node (Ray: each node's raylet)\n"
         "  the object table: the owner of every object (Ray: each ref's owner)",
         GREEN, GREEN_EDGE, size=9.5)
    width = 9.6 / len(nodes)
    for i, node in enumerate(nodes):
        x0 = 0.2 + i * width
        ax.add_patch(FancyBboxPatch((x0 + 0.05, 0.3), width - 0.15, 6.2, boxstyle="round,pad=0.02",
                                    facecolor=GREY, edgecolor=GREY_EDGE, linewidth=1.6))
        custom = {k: v for k, v in node["Resources"].items() if k not in ("CPU", "object_store_memory")}
        label = f"node {node['NodeIndex']}" + (" (head)" if node["IsHead"] else "")
        ax.text(x0 + 0.2, 6.1, label, fontsize=10, fontweight="bold")
        ax.text(x0 + 0.2, 5.65, f"{node['Resources']['CPU']:.0f} CPU, "
                + ", ".join(f"{k}: {v:g}" for k, v in custom.items()), fontsize=8.5, color="#444444")
        _box(ax, x0 + 0.2, 3.0, width - 0.5, 1.9, "worker\nprocesses\n(forked)", BLUE, BLUE_EDGE,
             size=9, align="center")
        _box(ax, x0 + 0.2, 0.6, width - 0.5, 1.9,
             f"store folder\n/dev/shm/.../n{node['NodeIndex']}\n(Ray: plasma)", YELLOW, YELLOW_EDGE,
             size=9, align="center")
    _arrow(ax, (0.2 + width - 0.35, 1.5), (0.2 + width + 0.25, 1.5), color=ORANGE, dashed=True)
    ax.text(0.2 + width - 0.05, 0.05, "a copy between nodes is a file copy", fontsize=8.5,
            color=ORANGE, ha="center")
    out = os.path.join(IMAGES, "design.png")
    fig.savefig(out)
    print("wrote", out)


# --------------------------------------------------------------------------------------
# task_graph.png: the walkthrough's task graph, from a real run
# --------------------------------------------------------------------------------------
def run_walkthrough():
    """The lesson's section-3 run on a 3-node cluster; returns (events, names)."""
    minirt.init(num_nodes=3, num_cpus=2)
    try:
        deadline = time.time() + 30
        while any(n["Workers"] < 2 for n in minirt.nodes()) and time.time() < deadline:
            time.sleep(0.05)

        @minirt.remote
        def make_array(n):
            time.sleep(0.5)
            return np.random.standard_normal(n)

        @minirt.remote
        def add_arrays(a1, a2):
            time.sleep(0.5)
            return a1 + a2

        first = len(minirt.events())
        array_1 = make_array.remote(2_000_000)
        array_2 = make_array.remote(2_000_000)
        total = add_arrays.remote(array_1, array_2)
        minirt.get(total)
        names = {array_1.hex(): "array 1", array_2.hex(): "array 2", total.hex(): "sum"}
        producer = {array_1.hex(): "make_array #1", array_2.hex(): "make_array #2",
                    total.hex(): "add_arrays"}
        return minirt.events()[first:], names, producer
    finally:
        minirt.shutdown()


def make_task_graph():
    events, names, producer = run_walkthrough()
    # where each task ran (the two make_array calls in the order they were placed)
    placed, count = {}, {}
    for e in events:
        if e["kind"] == "place":
            count[e["task"]] = count.get(e["task"], 0) + 1
            label = e["task"] + (f" #{count[e['task']]}" if e["task"] == "make_array" else "")
            placed[label] = e["node"]
    stored = {names[e["object"]]: (e["node"], e["bytes"]) for e in events
              if e["kind"] == "store" and e.get("object") in names}
    copies = [(names[e["object"]], e["src"], e["dst"], e["bytes"]) for e in events
              if e["kind"] == "copy" and e.get("object") in names]
    got = [e for e in events if e["kind"] == "get" and e.get("object") in names]

    fig = Figure(figsize=(12, 6.6), dpi=96)
    ax = fig.add_axes([0, 0, 1, 0.92])
    fig.text(0.01, 0.955, "The walkthrough's task graph, drawn from minirt.events() of a real run",
             fontsize=13, fontweight="bold")
    _blank(ax, 12, 10)
    col = {i: 0.3 + i * 3.9 for i in range(3)}
    for i in range(3):
        ax.add_patch(FancyBboxPatch((col[i], 0.3), 3.6, 9.2, boxstyle="round,pad=0.02",
                                    facecolor=GREY, edgecolor=GREY_EDGE, linewidth=1.4))
        ax.text(col[i] + 0.15, 9.1, f"node {i}" + (" (the driver's node)" if i == 0 else ""),
                fontsize=10.5, fontweight="bold")
    slot = {}

    def spot(node, row):
        n = slot.get((node, row), 0)
        slot[(node, row)] = n + 1
        return col[node] + 0.2 + n * 1.75, row

    pos = {}
    for label, node in placed.items():                       # tasks: blue, rows by depth
        row = 7.6 if label.startswith("make_array") else 3.9
        x, y = spot(node, row)
        _box(ax, x, y, 1.6, 0.8, label, BLUE, BLUE_EDGE, size=9, align="center")
        pos[label] = (x, y)
    for name, (node, size) in stored.items():                # objects: yellow, under their task
        row = 5.8 if name != "sum" else 2.1
        x, y = spot(node, row)
        _box(ax, x, y, 1.6, 0.8, f"{name}, {size / MB:.0f} MB\nowner in Ray: driver", YELLOW,
             YELLOW_EDGE, size=8.5, align="center")
        pos[name] = (x, y)
    for name, src, dst, size in copies:                      # copies: dashed orange
        x, y = spot(dst, 5.8)
        _box(ax, x, y, 1.6, 0.8, f"copy of\n{name}", YELLOW, ORANGE, size=9, align="center")
        sx, sy = pos[name]
        _arrow(ax, (sx, sy + 0.4), (x + 1.6, y + 0.4), color=ORANGE, dashed=True,
               text=f"copied node {src} -> node {dst}, {size / MB:.0f} MB", text_at=((sx + x + 1.6) / 2, y + 1.15))
        pos[f"copy of {name}"] = (x, y)
    label_of = {v: k for k, v in names.items()}
    for name in stored:                                      # task -> the object it returned
        tx, ty = pos[producer[label_of[name]]]
        ox, oy = pos[name]
        _arrow(ax, (tx + 0.8, ty), (ox + 0.8, oy + 0.8))
    add_x, add_y = pos["add_arrays"]
    for name in ("array 1", "array 2"):                      # arguments of add_arrays, local
        local = f"copy of {name}" if f"copy of {name}" in pos else name
        ax_, ay_ = pos[local]
        _arrow(ax, (ax_ + 0.8, ay_), (add_x + 0.8, add_y + 0.8))
    if got:
        x, y = spot(got[0]["node"], 0.6)
        _box(ax, x, y, 1.6, 0.8, "driver:\nget(sum)", GREEN, GREEN_EDGE, size=9, align="center")
        sx, sy = pos["sum"]
        _arrow(ax, (sx + 0.8, sy), (x + 0.8, y + 0.8), text="no copy: same node",
               text_at=(sx + 2.0, (sy + y + 0.8) / 2))
    busy = set(placed.values()) | {node for node, _ in stored.values()}
    for i in range(3):
        if i not in busy:
            ax.text(col[i] + 1.8, 6.0, "nothing ran or was\nstored on this node", fontsize=9,
                    color="#777777", ha="center")
    ax.text(col[2] + 0.15, 2.6, "In Ray, the driver OWNS all three\nobjects: it made each ref with\n"
            ".remote(), although no object was\nmade in the driver. The owner counts\n"
            "the references and knows where the\ncopies are. In minirt, the head's\n"
            "object table does that.", fontsize=9, color="#333333", va="center")
    out = os.path.join(IMAGES, "task_graph.png")
    fig.savefig(out)
    print("wrote", out)


MAKERS = {"design": make_design, "task_graph": make_task_graph}


def main(argv):
    """Make the pictures named in argv (all of them without arguments)."""
    wanted = argv or list(MAKERS)
    unknown = [w for w in wanted if w not in MAKERS]
    if unknown:
        sys.exit(f"unknown picture(s) {unknown}; choose from {list(MAKERS)}")
    for name in wanted:
        MAKERS[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
