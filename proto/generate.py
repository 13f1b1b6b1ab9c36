"""Generate the Python gRPC stubs under lighthouse/v1/ from proto/lighthouse/v1/*.proto.

    python proto/generate.py            # regenerate the committed stubs (or: make protos)
    python proto/generate.py --out DIR  # generate into DIR/lighthouse/v1/ (the drift test)

Needs grpcio-tools (the `test` extra). The stubs are committed, so users of the package
never need it; tests/test_server_protos.py fails when they drift from the .proto files.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
PACKAGE = "lighthouse/v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def proto_files():
    return sorted((PROTO_DIR / PACKAGE).glob("*.proto"))


def generate(out_dir):
    """Run protoc (from grpcio-tools) on every .proto file, writing under out_dir."""
    from grpc_tools import protoc

    import grpc_tools
    out_dir = pathlib.Path(out_dir)
    (out_dir / PACKAGE).mkdir(parents=True, exist_ok=True)
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    args = ["protoc", "-I", str(PROTO_DIR), "-I", str(well_known),
            "--python_out=%s" % out_dir, "--pyi_out=%s" % out_dir, "--grpc_python_out=%s" % out_dir]
    # Relative names keep absolute paths of this checkout out of the generated files.
    args += [str(p.relative_to(PROTO_DIR)) for p in proto_files()]
    rc = protoc.main(args)
    if rc != 0:
        raise RuntimeError("protoc failed with exit code %d" % rc)
    return sorted(p for p in (out_dir / PACKAGE).iterdir() if p.name.endswith(GENERATED_SUFFIXES))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT), help="output root (default: the checkout)")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
