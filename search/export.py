"""Writing a search tree out: JSON (node-link), GraphML, and a PNG picture of a small tree.

Nodes get short ids (`n0`, `n1`, ... in discovery order) with the goals text as an attribute; failed
tactics, which are not nodes of the tree, appear in the files as each node's `failures` (with
their kind) and in the picture as small red leaves.  Every function takes a `SearchTree`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

from search.tree import NO_GOALS, node_attributes

if TYPE_CHECKING:
    from search.tree import SearchTree

STATUS_COLOURS = {"proved": "#4caf50", "open": "#90caf9", "failed": "#bdbdbd"}


def _ids(g: nx.DiGraph) -> dict[str, str]:
    order = sorted(g.nodes, key=lambda k: g.nodes[k].get("order", 0))
    return {k: f"n{i}" for i, k in enumerate(order)}


def to_data(tree: SearchTree) -> dict[str, Any]:
    """The tree as plain JSON data: {"nodes": [...], "edges": [...]}, nodes in discovery order."""
    ids = {n.key: f"n{n.order}" for n in tree.nodes.values()}
    nodes = [{"id": ids[n.key], "goals": n.key, **node_attributes(n), "no_goals": n.key == NO_GOALS}
             for n in tree.nodes.values()]
    edges = [{"source": ids[e.parent.key], "target": ids[e.child.key], "tactic": e.tactic, "thought": e.thought,
              "logprob": e.logprob, "tokens": e.tokens} for e in tree.edges()]
    return {"nodes": nodes, "edges": edges}


def write_json(tree: SearchTree, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(to_data(tree), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return p


def write_graphml(tree: SearchTree, path: str | Path) -> Path:
    """GraphML wants scalar attributes: failures become a JSON string, a missing expansion index
    or value -1."""
    data = to_data(tree)
    h = nx.DiGraph()
    for n in data["nodes"]:
        h.add_node(n["id"], **{k: v for k, v in n.items() if k not in ("id", "failures", "expanded_at", "value")},
                   expanded_at=-1 if n["expanded_at"] is None else n["expanded_at"],
                   value=-1.0 if n["value"] is None else n["value"],
                   failures=json.dumps(n["failures"], ensure_ascii=False))
    for e in data["edges"]:
        h.add_edge(e["source"], e["target"], **{k: v for k, v in e.items() if k not in ("source", "target")})
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    nx.write_graphml(h, p)
    return p


def _short(text: str, width: int = 28) -> str:
    """A label: the targets (`⊢ ...` lines) of the goals, or the last line of a tactic."""
    targets = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("⊢")]
    line = " ; ".join(targets) if targets else (text.strip().splitlines()[-1] if text.strip() else "no goals")
    return line if len(line) <= width else line[: width - 1] + "…"


def draw_png(tree: SearchTree, path: str | Path, max_nodes: int = 60, title: str = "") -> Path:
    """A picture of the search tree (root at the top, one row per depth).  Trees with more than
    `max_nodes` nodes raise ValueError: a picture of them would be unreadable."""
    if len(tree) > max_nodes:
        raise ValueError(f"tree has {len(tree)} nodes; pictures are drawn up to {max_nodes}")
    g = tree.to_networkx()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ids = _ids(g)
    root = next(iter(ids))
    # a tree: each node under the parent that first reached it (BFS), failures as extra leaves
    tree = nx.bfs_tree(g, root) if root in g else nx.DiGraph()
    kids: dict[str, list[str]] = {k: list(tree.successors(k)) for k in tree}
    fails: dict[str, list[tuple[str, str]]] = {}
    for k in tree:
        fl = [(f"{k}\x00fail{i}", f["tactic"]) for i, f in enumerate(g.nodes[k]["failures"])]
        fails[k] = fl
        kids[k] = kids[k] + [f for f, _ in fl]
    pos: dict[str, tuple[float, float]] = {}
    next_x = [0.0]

    def place(k: str, depth: int) -> float:
        ch = kids.get(k, [])
        if not ch:
            x = next_x[0]
            next_x[0] += 1.0
        else:
            xs = [place(c, depth + 1) for c in ch]
            x = (xs[0] + xs[-1]) / 2
        pos[k] = (x, -depth)
        return x

    place(root, 0)
    fig_w = max(6.0, min(30.0, 1.6 * next_x[0]))
    fig_h = max(3.0, 1.3 * (1 - min(y for _, y in pos.values())) + 1)
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    for a, b in tree.edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        ax.plot([x0, x1], [y0, y1], color="#555555", lw=1, zorder=1)
        ax.text((x0 + x1) / 2, (y0 + y1) / 2, _short(g.edges[a, b]["tactic"], 22), fontsize=7, ha="center",
                va="center", bbox={"fc": "white", "ec": "none", "pad": 0.5}, zorder=2)
    for a, b in g.edges:  # edges to a node first reached another way (a merge or a loop back)
        if a in pos and b in pos and not tree.has_edge(a, b):
            (x0, y0), (x1, y1) = pos[a], pos[b]
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0), zorder=1,
                        arrowprops={"arrowstyle": "->", "color": "#7e57c2", "ls": ":", "connectionstyle": "arc3,rad=0.3"})
            lx, ly = (x0 + x1) / 2 + 0.15 * (y1 - y0), (y0 + y1) / 2 - 0.15 * (x1 - x0)  # on the arc
            ax.text(lx, ly, _short(g.edges[a, b]["tactic"], 22), fontsize=6, color="#7e57c2", ha="center",
                    va="center", bbox={"fc": "white", "ec": "none", "pad": 0.5})
    for k, fl in fails.items():
        for f, tac in fl:
            (x0, y0), (x1, y1) = pos[k], pos[f]
            ax.plot([x0, x1], [y0, y1], color="#e57373", lw=0.8, ls="--", zorder=1)
            ax.scatter([x1], [y1], s=40, marker="x", color="#d32f2f", zorder=3)
            ax.text(x1, y1 - 0.18, _short(tac, 18), fontsize=6, ha="center", va="top", color="#d32f2f")
    for k in tree:
        x, y = pos[k]
        d = g.nodes[k]
        ax.scatter([x], [y], s=220, color=STATUS_COLOURS.get(d["status"], "white"), edgecolors="black", zorder=3)
        ax.text(x, y + 0.2, f"{ids[k]} {_short(k)}", fontsize=7, ha="center", va="bottom", zorder=4)
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=s) for s, c in STATUS_COLOURS.items()]
    handles.append(plt.Line2D([], [], marker="x", ls="", color="#d32f2f", label="tactic failed"))
    ax.legend(handles=handles, loc="lower right", fontsize=7)
    ax.set_title(title or "search tree", fontsize=9)
    ax.axis("off")
    ax.margins(0.08)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return p


def export_graph(tree: SearchTree, out_dir: str | Path, name: str, max_picture_nodes: int = 60) -> list[Path]:
    """`NAME.json` and `NAME.graphml` in `out_dir`, plus `NAME.png` when the tree is small enough."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "theorem"
    d = Path(out_dir)
    paths = [write_json(tree, d / f"{safe}.json"), write_graphml(tree, d / f"{safe}.graphml")]
    if len(tree) <= max_picture_nodes:
        paths.append(draw_png(tree, d / f"{safe}.png", max_picture_nodes, title=name))
    return paths
