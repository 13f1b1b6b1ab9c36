#!/bin/sh
# The unary workload with h2load (Debian's nghttp2-client; `make bench` installs it when
# apt can): a load generator that is not written in Python, for comparison with
# bench/agents.py.
#
#   bench/h2load.sh                          # starts `lighthouse serve` on a free port, 20,000 calls
#   bench/h2load.sh --target 127.0.0.1:50051 -- -n 200000 -c 16 -m 100
#   bench/h2load.sh --call bench/workloads/safe.jsonl:3
#
# h2load sends one request body again and again: the body here is one ToolCall (the
# given line of a corpus-shaped JSONL file, by default the first safe call) framed as
# gRPC frames a message (a zero byte, the length as 4 bytes big-endian, the message),
# POSTed to /lighthouse.v1.Validator/Validate with the headers gRPC needs. h2load checks
# HTTP statuses only: a gRPC error comes as HTTP 200 with a grpc-status trailer, so the
# script asks the server once first and stops if that call is not answered. One body
# means one agent id: a server started here runs with --rate-limit 0, and a --target
# server should too (its per-agent limit would answer most calls RESOURCE_EXHAUSTED).
# Options after -- go to h2load (default: -n 20000 -c 8 -m 64).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
TARGET=
CALL=$ROOT/bench/workloads/safe.jsonl:1
while [ $# -gt 0 ]; do
    case $1 in
        --target) TARGET=$2; shift 2 ;;
        --call) CALL=$2; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "h2load.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
command -v h2load >/dev/null || { echo "h2load.sh: h2load not found (apt-get install nghttp2-client)" >&2; exit 2; }
[ $# -gt 0 ] || set -- -n 20000 -c 8 -m 64

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lighthouse-h2load.XXXXXX")
SERVER=
cleanup() {
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

"$PY" - "$CALL" "$TMP/body.bin" <<'EOF'
import json, struct, sys
from lighthouse.v1 import validation_pb2 as pb
path, _, line = sys.argv[1].rpartition(":")
if not path or not line.isdigit() or int(line) < 1:
    sys.exit("h2load.sh: --call takes FILE.jsonl:LINE (LINE from 1)")
rows = [l for l in open(path, encoding="utf-8") if l.strip()]
if int(line) > len(rows):
    sys.exit("h2load.sh: %s has %d calls, not %s" % (path, len(rows), line))
row = json.loads(rows[int(line) - 1])
msg = pb.ToolCall(request_id="h2load", agent_id="h2load", tool=row["tool"], input_json=json.dumps(row["input"]),
                  cwd=row.get("cwd") or "/home/dev/app").SerializeToString()
open(sys.argv[2], "wb").write(b"\0" + struct.pack(">I", len(msg)) + msg)
EOF

if [ -z "$TARGET" ]; then
    # On a port of the kernel's choice, which the server writes to its ready file once serving.
    "$PY" -m lighthouse.cli serve --port 0 --metrics-port 0 --ready-file "$TMP/ready.json" --socket "$TMP/l.sock" \
        --admin-token-file "$TMP/admin-token" --audit-db "$TMP/audit.db" --rate-limit 0 --log-level warning \
        2>"$TMP/server.log" &
    SERVER=$!
    TARGET=$("$PY" - "$TMP/ready.json" "$SERVER" <<'EOF'
import json, os, sys, time
deadline = time.monotonic() + 60
while True:
    try:
        with open(sys.argv[1], encoding="utf-8") as fh:
            print(json.load(fh)["address"])
        break
    except (FileNotFoundError, ValueError):
        pass
    try:
        os.kill(int(sys.argv[2]), 0)
    except ProcessLookupError:
        sys.exit("h2load.sh: the server exited")
    if time.monotonic() > deadline:
        sys.exit("h2load.sh: the server did not serve within 60 s")
    time.sleep(0.05)
EOF
) || { cat "$TMP/server.log" >&2; exit 1; }
fi
case $TARGET in
    127.*|localhost:*|\[::1\]:*) ;;
    *) echo "h2load.sh: $TARGET is not a loopback address" >&2; exit 2 ;;
esac

# The server answers one call before the load starts (and, once started here, is up).
"$PY" - "$TARGET" <<'EOF'
import sys, time
import grpc
from lighthouse.v1 import validation_pb2 as pb, validation_pb2_grpc as pb_grpc
deadline = time.monotonic() + 60
while True:
    try:
        with grpc.insecure_channel(sys.argv[1]) as ch:
            d = pb_grpc.ValidatorStub(ch).Validate(pb.ToolCall(tool="Bash", input_json='{"command": "ls"}',
                                                               cwd="/home/dev/app", agent_id="h2load"), timeout=5)
        break
    except grpc.RpcError as e:
        if time.monotonic() > deadline or e.code() != grpc.StatusCode.UNAVAILABLE:
            sys.exit("h2load.sh: %s does not answer: %s" % (sys.argv[1], e.code().name))
        time.sleep(0.2)
print("server %s answers (%s)" % (sys.argv[1], pb.Verdict.Name(d.verdict)))
EOF

h2load "$@" -d "$TMP/body.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://$TARGET/lighthouse.v1.Validator/Validate"
