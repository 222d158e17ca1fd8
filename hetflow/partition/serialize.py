"""Plans on disk: a versioned JSON manifest, IR graphs as JSON with constants in .npz, and artifacts.

Layout of a plan directory::

    manifest.json        format, version, devices, subgraphs, transfers, estimates, placement
    graph.json           the whole graph (IR as JSON); constants in graph.npz
    subgraphs/<name>.json + .npz   each subgraph's IR
    artifacts/<name>/    what a backend saved of its compiled form (when it can save one)

Loading never compiles: a subgraph's executable comes from its backend's ``load_artifact(dir,
graph)``; a backend that declares ``saves_artifacts`` writes one (the reference interpreter's is the
subgraph's IR itself, so its directory is empty). Every file is listed in the manifest
with its SHA-256, so a damaged directory is caught with a one-line error naming the file.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from hetflow.backends import get_backend
from hetflow.ir import DType, Graph, Node, Region, TensorType, Value
from hetflow.ir.errors import HetflowError

PLAN_FORMAT = "hetflow-plan"
PLAN_VERSION = 1


class PlanFormatError(HetflowError):
    """A plan directory that cannot be loaded: missing, damaged, or written by an unsupported version."""


# ---------------------------------------------------------------- IR graphs


def graph_to_json(graph: Graph, arrays: dict[str, np.ndarray] | None = None,
                  ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A JSON-able dict for ``graph`` and the arrays (constants, array attributes) it refers to by key
    (added to ``arrays`` when given: a control-flow body shares its enclosing graph's)."""
    arrays = {} if arrays is None else arrays
    ids: dict[int, int] = {}
    values: list[dict[str, Any]] = []

    def ref(v: Value | None) -> int | None:
        if v is None:
            return None
        if id(v) not in ids:
            ids[id(v)] = len(values)
            entry: dict[str, Any] = {"name": v.name, "dtype": v.type.dtype.value,
                                     "shape": None if v.type.shape is None else list(v.type.shape)}
            if v.const is not None:
                key = f"c{len(arrays)}"
                arrays[key] = np.asarray(v.const)
                entry["const"] = key
            values.append(entry)
        return ids[id(v)]

    inputs = [ref(v) for v in graph.inputs]
    nodes = [{"op": n.op, "name": n.name, "region": n.region, "inputs": [ref(v) for v in n.inputs],
              "outputs": [ref(v) for v in n.outputs], "attrs": {k: _encode(a, arrays) for k, a in n.attrs.items()}}
             for n in graph.nodes]
    outputs = [ref(v) for v in graph.outputs]
    regions = [{"name": r.name, "kind": r.kind, "parent": r.parent, **_region_extra(r)} for r in graph.regions.values()]
    return {"name": graph.name, "values": values, "inputs": inputs, "nodes": nodes, "outputs": outputs,
            "regions": regions}, arrays


def _region_extra(region: Region) -> dict[str, Any]:
    pattern = getattr(region, "pattern", "")
    return {"pattern": pattern} if pattern else {}


def graph_from_json(data: dict[str, Any], arrays: dict[str, np.ndarray]) -> Graph:
    """The inverse of ``graph_to_json``: the same names, types, attributes and constants; no inference is rerun."""
    graph = Graph(data["name"])
    values = []
    for entry in data["values"]:
        const = arrays[entry["const"]] if "const" in entry else None
        shape = None if entry["shape"] is None else tuple(entry["shape"])
        values.append(Value(entry["name"], TensorType(DType.of(entry["dtype"]), shape), None, const))
    graph.inputs = [values[i] for i in data["inputs"]]
    for entry in data["nodes"]:
        node = Node(entry["op"], [None if i is None else values[i] for i in entry["inputs"]],
                    [values[i] for i in entry["outputs"]],
                    {k: _decode(a, arrays) for k, a in entry["attrs"].items()}, entry["name"], entry["region"])
        for v in node.outputs:
            v.producer = node
        graph.nodes.append(node)
    graph.outputs = [values[i] for i in data["outputs"]]
    for r in data["regions"]:
        region = Region(r["name"], r["kind"], r["parent"])
        if "pattern" in r:
            region.pattern = r["pattern"]  # type: ignore[attr-defined]
        graph.regions[region.name] = region
    graph._names = {v.name for v in values} | {n.name for n in graph.nodes}
    return graph


def _encode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, Graph):  # a control-flow node's body
        return {"__graph__": graph_to_json(value, arrays)[0]}
    if isinstance(value, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, DType):
        return {"__dtype__": value.value}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in value]}
    if isinstance(value, list):
        return [_encode(v, arrays) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k, arrays), _encode(v, arrays)] for k, v in value.items()]}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise HetflowError(f"cannot save attribute value {value!r} of type {type(value).__name__}")


def _decode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if isinstance(value, dict):
        if "__array__" in value:
            return arrays[value["__array__"]]
        if "__dtype__" in value:
            return DType.of(value["__dtype__"])
        if "__tuple__" in value:
            return tuple(_decode(v, arrays) for v in value["__tuple__"])
        if "__graph__" in value:
            return graph_from_json(value["__graph__"], arrays)
        if "__dict__" in value:
            return {_decode(k, arrays): _decode(v, arrays) for k, v in value["__dict__"]}
    return value


def write_graph(graph: Graph, directory: Path, stem: str, shared: dict[tuple, str] | None = None) -> list[str]:
    """Write ``<stem>.json`` and ``<stem>.npz`` under ``directory``; returns the files written (relative names).

    ``shared`` (fingerprint -> key in the plan's main ``graph.npz``) leaves out arrays the main graph already
    holds: a subgraph records their keys instead, so that a saved plan stores each weight once.
    """
    data, arrays = graph_to_json(graph)
    if shared is not None:
        refs = {k: shared[f] for k, a in arrays.items() if (f := fingerprint(a)) in shared}
        arrays = {k: a for k, a in arrays.items() if k not in refs}
        data["shared_arrays"] = refs
    (directory / f"{stem}.json").write_text(json.dumps(data, separators=(",", ":")))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    (directory / f"{stem}.npz").write_bytes(buffer.getvalue())
    return [f"{stem}.json", f"{stem}.npz"]


def fingerprint(array: np.ndarray) -> tuple:
    """What makes two arrays the same for storage: dtype, shape and a digest of the bytes."""
    a = np.ascontiguousarray(array)
    return a.dtype.str, a.shape, hashlib.sha256(a.tobytes()).digest()


def read_graph(directory: Path, stem: str, main: dict[str, np.ndarray] | None = None) -> Graph:
    """Read what ``write_graph`` wrote (``main``: the plan's main-graph arrays, for a subgraph's shared ones);
    any damage is a PlanFormatError naming the file."""
    json_path, npz_path = directory / f"{stem}.json", directory / f"{stem}.npz"
    try:
        data = json.loads(json_path.read_text())
        arrays = read_arrays(npz_path)
        arrays.update({k: (main or {})[ref] for k, ref in data.get("shared_arrays", {}).items()})
        return graph_from_json(data, arrays)
    except FileNotFoundError as exc:
        raise PlanFormatError(f"{exc.filename}: missing from the plan directory") from None
    except (ValueError, KeyError, TypeError, IndexError, OSError) as exc:
        raise PlanFormatError(f"{json_path} / {npz_path}: not a readable IR graph ({type(exc).__name__}: {exc})") from None


def read_arrays(npz_path: Path) -> dict[str, np.ndarray]:
    with np.load(npz_path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def checksums(root: Path, files: list[str]) -> dict[str, str]:
    return {f: sha256(root / f) for f in files}


def verify_checksums(root: Path, table: dict[str, str]) -> None:
    """Every listed file exists and is unchanged, else a PlanFormatError naming the first that is not."""
    for name, digest in table.items():
        path = root / name
        if not path.is_file():
            raise PlanFormatError(f"{path}: missing from the plan directory (listed in manifest.json)")
        if sha256(path) != digest:
            raise PlanFormatError(f"{path}: damaged (its SHA-256 does not match manifest.json); recompile the plan")


# ---------------------------------------------------------------- plans

def save_plan(plan: Any, root: Path) -> Path:
    """Write ``plan`` under ``root`` (created if needed; an existing manifest is replaced)."""
    from hetflow.partition.plan import Plan

    assert isinstance(plan, Plan)
    root.mkdir(parents=True, exist_ok=True)
    (root / "subgraphs").mkdir(exist_ok=True)
    files = write_graph(plan.graph, root, "graph")
    shared = {fingerprint(a): k for k, a in graph_to_json(plan.graph)[1].items()}
    subgraphs = []
    for sub in plan.subgraphs:
        assert sub.graph is not None
        files += [f"subgraphs/{f}" for f in write_graph(sub.graph, root / "subgraphs", sub.name, shared)]
        artifact = None
        if get_backend(sub.backend).saves_artifacts:
            artifact = f"artifacts/{sub.name}"
            (root / artifact).mkdir(parents=True, exist_ok=True)
            get_backend(sub.backend).save_artifact(sub.executable, root / artifact)
            files += sorted(str(p.relative_to(root)) for p in (root / artifact).rglob("*") if p.is_file())
        subgraphs.append({
            "name": sub.name, "device": sub.device, "backend": sub.backend, "driver": sub.driver,
            "replicas": sub.replicas, "flops": sub.flops, "graph": f"subgraphs/{sub.name}", "artifact": artifact,
            "nodes": [n.name for n in sub.nodes],
            "node_estimates": [[e.seconds, e.source, e.interval] for e in sub.node_estimates],
            "notes": sub.notes,
        })
    manifest = {
        "format": PLAN_FORMAT, "version": PLAN_VERSION, "graph": "graph", "objective": plan.objective,
        "cluster": plan.cluster_name, "home": plan.home, "options": _jsonable(plan.options),
        "devices": [{"id": d.id, "host": d.host, "present": d.present, "penalty": d.penalty,
                     "description": d.description.model_dump(mode="json")} for d in plan.devices],
        "links": {k: list(v) for k, v in plan.links.items()},
        "subgraphs": subgraphs,
        "transfers": [{"value": t.value, "nbytes": t.nbytes, "src": t.src, "dst": t.dst, "latency": t.latency,
                       "bandwidth": t.bandwidth, "kind": t.kind} for t in plan.transfers],
        "estimate": None if plan.estimate is None else vars(plan.estimate),
        "choices": {name: {"device": c.device, "rule": c.rule,
                           "options": [[dev, None if e is None else [e.seconds, e.source, e.interval], why]
                                       for dev, e, why in c.options]}
                    for name, c in plan.choices.items()},
        "files": checksums(root, files),
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return root


def load_plan(root: Path, *, recompile: bool = False) -> Any:
    """Read a plan written by ``save_plan``. Nothing is compiled unless ``recompile`` allows it for a
    backend that cannot load a saved artifact."""
    from hetflow.partition.cost import Estimate
    from hetflow.partition.plan import NodeChoice, Plan, PlanDevice, PlanEstimate, Subgraph, Transfer
    from hetflow.targets import MachineDescription

    manifest = _read_manifest(root)
    try:
        verify_checksums(root, manifest["files"])
        graph = read_graph(root, manifest["graph"])
        main_arrays = read_arrays(root / f"{manifest['graph']}.npz")
        by_name = {n.name: n for n in graph.nodes}
        devices = [PlanDevice(d["id"], d["host"], MachineDescription.model_validate(d["description"]), d["present"],
                              d["penalty"]) for d in manifest["devices"]]
        by_id = {d.id: d for d in devices}
        subgraphs = []
        for s in manifest["subgraphs"]:
            sub_graph = read_graph(root / "subgraphs", s["name"], main_arrays)
            if s["artifact"] is not None:
                executable = get_backend(s["backend"]).load_artifact(root / s["artifact"], sub_graph)
            elif recompile:
                executable = _recompile(s, sub_graph, by_id.get(s["device"]))
            else:
                raise PlanFormatError(f"{root}: subgraph {s['name']}: backend {s['backend']} saved no artifact to load; "
                                      f"load with recompile=True to compile it again")
            subgraphs.append(Subgraph(s["name"], s["device"], s["backend"], [by_name[n] for n in s["nodes"]], executable,
                                      sub_graph, s["driver"], [Estimate(*e) for e in s["node_estimates"]],
                                      list(s["replicas"]), s["flops"], list(s.get("notes", []))))
        transfers = [Transfer(**t) for t in manifest["transfers"]]
        estimate = None if manifest["estimate"] is None else PlanEstimate(**manifest["estimate"])
        choices = {name: NodeChoice(c["device"], c["rule"], [(dev, None if e is None else Estimate(*e), why)
                                                              for dev, e, why in c["options"]])
                   for name, c in manifest["choices"].items()}
        links = {k: (float(v[0]), float(v[1]), str(v[2])) for k, v in manifest["links"].items()}
        return Plan(graph, subgraphs, manifest["options"], devices, transfers, manifest["home"], manifest["objective"],
                    estimate, choices, manifest["cluster"], links)
    except PlanFormatError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise PlanFormatError(f"{root / 'manifest.json'}: malformed plan manifest ({type(exc).__name__}: {exc})") from None


def _recompile(entry: dict[str, Any], graph: Graph, device: Any) -> Any:
    """Compile a subgraph again as the plan did: for its chip's description when its chip's own driver runs it."""
    backend = get_backend(entry["backend"])
    if device is not None and not device.present and entry["driver"] == entry["backend"]:
        return backend.compile(graph, device.description)
    return backend.compile(graph)


def _read_manifest(root: Path) -> dict[str, Any]:
    path = root / "manifest.json"
    if not root.is_dir():
        raise PlanFormatError(f"{root}: not a plan directory (no such directory)")
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise PlanFormatError(f"{path}: missing; {root} is not a saved plan") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PlanFormatError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != PLAN_FORMAT:
        raise PlanFormatError(f"{path}: not a hetflow plan manifest (format is not {PLAN_FORMAT!r})")
    if manifest.get("version") != PLAN_VERSION:
        raise PlanFormatError(f"{path}: plan format version {manifest.get('version')!r} is not supported "
                              f"(this hetflow reads version {PLAN_VERSION}); recompile the plan")
    return manifest


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
