"""Profile-guided build of the compiled hot path (gcc).

Builds the extensions instrumented, runs a training workload through them, and builds
them again optimised with the profile: gcc then lays out the code the workload runs
together and the error paths apart, which matters here because a check touches a lot of
code once (instruction-cache misses are a large share of its time).

The workload is the challenge set (tests/data/challenge.jsonl), not the development
corpus that bench/fast.py measures, so the benchmark runs calls the profile never saw.
Run from the repository root with the project's interpreter; `make install` does:

    .venv/bin/python tools/pgo.py            # both builds and the training run
    .venv/bin/python tools/pgo.py --train    # the workload only (used by the above)
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORKLOAD = ROOT / "tests" / "data" / "challenge.jsonl"


def train(passes):
    """Run the workload through the compiled modules: rule evaluation (shell analysis
    included) with the cache off and on, and the wire decoder and encoder the server
    uses."""
    sys.path.insert(0, str(ROOT))
    from lighthouse import _fast
    from lighthouse._fast import _engine_c, _wire_c
    from lighthouse.rules.loader import engine_specs, load_policy
    from lighthouse.v1 import validation_pb2 as pb

    if not _fast.COMPILED:
        raise SystemExit("pgo: the compiled modules did not load")
    with open(WORKLOAD, encoding="utf-8") as fh:
        calls = [json.loads(line) for line in fh if line.strip()]
    policy = load_policy()
    engine = _engine_c.Engine(engine_specs(policy), policy.programs)
    cold = _engine_c.Checker(engine, 1, 0)
    hot = _engine_c.Checker(engine, 1, 4096)
    messages = [pb.ToolCall(request_id="r%d" % k, agent_id="trainer", tool=c["tool"],
                            input_json=json.dumps(c["input"]), cwd=c["cwd"]).SerializeToString()
                for k, c in enumerate(calls)]
    batch = pb.ToolCallBatch(calls=[pb.ToolCall.FromString(m) for m in messages[:100]]).SerializeToString()
    body = pb.Decision(verdict=pb.VERDICT_ALLOW, rule_id="train", reason="train").SerializeToString()
    for _ in range(passes):
        for c in calls:
            cold.check(c["tool"], c["input"], c["cwd"])
            hot.check(c["tool"], c["input"], c["cwd"])
        for m in messages:
            call = _wire_c.parse_tool_call(m)
            _wire_c.finish_decision(call.request_id, body, time.perf_counter_ns())
        _wire_c.parse_tool_call_batch(batch)
    print("pgo: trained on %d calls x %d passes" % (len(calls), passes))


def ensure_build_requirements():
    """The in-place builds run setup.py with this interpreter, outside pip's isolated
    build environment: install what pyproject.toml's [build-system] requires."""
    import tomllib
    with open(ROOT / "pyproject.toml", "rb") as fh:
        requires = tomllib.load(fh)["build-system"]["requires"]
    print("pgo: build requirements: %s" % ", ".join(requires))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *requires], check=True)


def build(setting):
    """One build of the extensions in place; its compiler output is shown only if it fails."""
    env = dict(os.environ, LIGHTHOUSE_PGO=setting)
    done = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace", "--force"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        raise SystemExit("pgo: the build with LIGHTHOUSE_PGO=%s failed" % setting)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", action="store_true", help="run the training workload only")
    ap.add_argument("--passes", type=int, default=10, help="passes over the workload")
    args = ap.parse_args(argv)
    if args.train:
        train(args.passes)
        return 0
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "").split()
    if not cc or "gcc" not in os.path.basename(cc[0]):
        print("pgo: the profile flags need gcc, and the compiler is %r; keeping the plain build"
              % " ".join(cc))
        return 0
    ensure_build_requirements()
    profile = tempfile.mkdtemp(prefix="lighthouse-pgo-")
    try:
        print("pgo: instrumented build")
        build("generate:" + profile)
        subprocess.run([sys.executable, __file__, "--train", "--passes", str(args.passes)],
                       cwd=ROOT, check=True)
        if not any(p.suffix == ".gcda" for p in pathlib.Path(profile).rglob("*")):
            raise SystemExit("pgo: the training run wrote no profile into %s" % profile)
        print("pgo: optimised build")
        build("use:" + profile)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    subprocess.run([sys.executable, "-c", "import lighthouse._fast as f; assert f.COMPILED"],
                   cwd=ROOT, check=True)
    print("pgo: done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
