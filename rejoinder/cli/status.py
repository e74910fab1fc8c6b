"""`rejoinder status`: the state of local models, like `kubectl get dm`."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("status", help="show the state of local (rejoinder up) models")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("-f", "--file", type=Path, help="DialogModel YAML (its storage.path is searched)")
    source.add_argument("--artifacts", type=Path, default=Path(".rejoinder"),
                        help="artifacts directory to search (default: .rejoinder)")
    parser.add_argument("-o", "--output", choices=["table", "yaml"], default="table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import yaml

    from ..api import load_dialog_model
    from ..local import display, state

    storage = args.artifacts
    only = None
    if args.file is not None:
        model = load_dialog_model(args.file)
        storage, only = Path(model.spec.storage.path), model.metadata.name
    found = [(ns, name, root) for ns, name, root in state.find_models(storage) if only in (None, name)]
    if not found:
        print(f"no local models under {storage} (run `rejoinder up -f FILE` first)")
        return 1
    rows, docs = [], []
    for namespace, name, root in found:
        status = state.load(root)
        assert status is not None
        task = _task(root)
        rows.append(display.row(name, task, status))
        docs.append({"name": name, "namespace": namespace, "status": status.to_wire()})
    print(display.table(rows) if args.output == "table" else yaml.safe_dump_all(docs, sort_keys=False))
    return 0


def _task(root: Path) -> str:
    import yaml

    spec_file = root / "dialogmodel.yaml"
    if spec_file.is_file():
        return str(yaml.safe_load(spec_file.read_text()).get("spec", {}).get("task", "-"))
    return "-"
