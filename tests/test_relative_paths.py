"""A relative cwd or home has nothing to be resolved against, so no path of the call could
be judged: every front end refuses it, naming the field (lighthouse.bounds.path_problem).
The library denies the call (rule input.invalid, since check never raises), gRPC answers
INVALID_ARGUMENT and the local socket an invalid_argument error; the hook denies either."""

from __future__ import annotations

import json
import os

import grpc
import pytest

from lighthouse.client import CallError, Client
from lighthouse.localsock import ask
from lighthouse.server.app import ServerConfig

from serverkit import WS, ServerThread

pytestmark = pytest.mark.timeout(60)

CASES = [("cwd", "app"), ("cwd", "."), ("cwd", "~/app"), ("home", "dev"), ("home", "~")]
CALL = ("Bash", {"command": "rm -rf node_modules"})


@pytest.mark.parametrize("field,value", CASES)
def test_the_library_denies_it(validator, field, value):
    d = validator.check(*CALL, **{"cwd": WS, field: value})
    assert (d.verdict, d.rule_id) == ("deny", "input.invalid")
    assert d.reason == "%s must be an absolute path, not %r" % (field, value)
    # An empty or absent one means unknown, and is judged.
    assert validator.check(*CALL, **{"cwd": WS, field: ""}).rule_id != "input.invalid"


def test_a_validator_with_a_relative_home_is_refused(make_validator):
    with pytest.raises(ValueError, match="home must be an absolute path"):
        make_validator(home="dev")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    sock = os.path.join(str(tmp_path_factory.mktemp("s")), "lh.sock")
    with ServerThread(ServerConfig(port=0, metrics_port=0, socket=sock)) as srv:
        yield srv, sock


@pytest.mark.parametrize("field,value", CASES)
def test_grpc_and_the_local_socket_refuse_it_naming_the_field(server, field, value):
    srv, sock = server
    message = "%s must be an absolute path, not %r" % (field, value)
    with Client(srv.address, timeout=10) as c:
        with pytest.raises(CallError) as e:
            c.validate(*CALL, **{"cwd": WS, field: value})
        assert (e.value.code, e.value.field, e.value.message) == (grpc.StatusCode.INVALID_ARGUMENT, field, message)
        assert c.validate(*CALL, cwd=WS).verdict == "allow"
    reply = ask({"tool": CALL[0], "input": CALL[1], "cwd": WS, field: value, "id": 1}, sock, timeout=10)
    assert reply == {"error": "invalid_argument", "message": message, "field": field, "id": 1}
    assert ask({"tool": CALL[0], "input": CALL[1], "cwd": WS}, sock, timeout=10)["verdict"] == "allow"


def test_the_cli_takes_a_relative_cwd_from_where_it_runs(tmp_path):
    import subprocess
    import sys
    (tmp_path / "app").mkdir()
    answers = []
    for cwd in ("app", str(tmp_path / "app")):
        proc = subprocess.run([sys.executable, "-m", "lighthouse.cli", "check", "--command", "rm -rf build",
                               "--cwd", cwd], capture_output=True, text=True, cwd=str(tmp_path), timeout=60)
        answers.append((json.loads(proc.stdout), proc.returncode))
    assert answers[0] == answers[1] and answers[0][0]["rule_id"] == "fs.workspace-edit", answers
