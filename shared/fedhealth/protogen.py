"""Generate the Python stubs from `proto/` (grpcio-tools + mypy-protobuf), or check drift.

`python -m fedhealth.protogen` rewrites `shared/fedhealth/v1/`; `--check` generates into a
temporary folder and fails if anything differs from the committed stubs.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "shared"
PACKAGE = Path("fedhealth") / "v1"


def generate(out_root: Path) -> Path:
    """Run protoc on every .proto under proto/fedhealth/v1; return the generated folder."""
    from grpc_tools import protoc

    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in (PROTO_DIR / PACKAGE).glob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    import mypy_protobuf

    bins = [Path(sys.executable).parent, Path(mypy_protobuf.__file__).resolve().parents[4] / "bin"]
    plugin = next((b / "protoc-gen-mypy" for b in bins if (b / "protoc-gen-mypy").is_file()), None)
    if plugin is None:
        raise SystemExit("protoc-gen-mypy (mypy-protobuf) is not installed")
    args = ["protoc", f"-I{PROTO_DIR}", f"-I{include}", f"--python_out={out_root}",
            f"--grpc_python_out={out_root}", f"--plugin=protoc-gen-mypy={plugin}",
            f"--mypy_out={out_root}"]
    if protoc.main(args + protos) != 0:
        raise SystemExit("protoc failed")
    out = out_root / PACKAGE
    (out / "__init__.py").write_text('"""Generated from proto/fedhealth/v1 by fedhealth.protogen. Do not edit."""\n')
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed stubs drift")
    args = parser.parse_args()
    if not args.check:
        generate(OUT_DIR)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        committed = OUT_DIR / PACKAGE
        names = sorted({p.name for p in fresh.iterdir()} | {p.name for p in committed.glob("*") if p.is_file() and p.suffix in (".py", ".pyi")})
        drift = [n for n in names if not (committed / n).is_file() or not (fresh / n).is_file()
                 or not filecmp.cmp(fresh / n, committed / n, shallow=False)]
    if drift:
        print("generated stubs drift from proto/: " + ", ".join(drift) + " (run `make protos`)")
        return 1
    print("stubs match proto/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
