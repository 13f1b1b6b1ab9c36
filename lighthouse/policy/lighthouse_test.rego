# Tests of the default policy: `lighthouse policy test` runs them (like `opa test`).
package lighthouse

import rego.v1

base_command := {
	"index": 0, "program": "", "program_path": "", "program_where": "", "argv": [], "args": [], "flags": [],
	"options": {}, "positionals": [],
	"reads": [], "writes": [], "redirects": [], "cwd": "/home/dev/app", "sudo": false, "env": {},
	"origin": "", "pipe_in": [], "pipeline": [], "code_from": [], "code": "", "dynamic": false, "rules": [],
}

call(commands) := {
	"version": 1, "tool": "Bash", "tool_input": {"command": "..."}, "cwd": "/home/dev/app",
	"home": "/home/dev", "agent_id": "", "session_id": "",
	"escalation": {"reason": "miss", "rule_id": "", "rule_reason": ""},
	"rules": [], "paths": [],
	"commands": [object.union(base_command, c) | some c in commands],
	"analysis": {"complete": true, "error": "", "limits": []},
}

test_read_only_program_allowed if {
	d := decision with input as call([{"program": "lsb_release", "flags": ["-a"]}])
	d.verdict == "allow"
	not d.escalate
}

test_reporting_subcommand_of_unknown_tool_allowed if {
	d := decision with input as call([{"program": "velero", "positionals": ["backup", "get"]}])
	d.verdict == "allow"
}

test_changing_subcommand_escalated if {
	d := decision with input as call([{"program": "velero", "positionals": ["backup", "delete", "nightly"]}])
	d.verdict == "ask"
	d.escalate
}

test_a_program_the_call_downloads_is_code_not_a_reporting_tool if {
	fetched := call([
		{"program": "curl", "args": ["-LO", "https://example.com/releases/v2/tool-linux-amd64"],
		 "positionals": ["https://example.com/releases/v2/tool-linux-amd64"]},
		{"index": 1, "program": "tool-linux-amd64", "positionals": ["version"]},
	])
	d := decision with input as fetched
	d.verdict == "ask"
	d.escalate
	d.category == "code-execution"
}

test_a_program_the_call_writes_is_code_not_a_reporting_tool if {
	written := call([
		{"program": "chmod", "args": ["+x", "mytool"], "writes": [{"path": "/home/dev/app/mytool", "where": "workspace"}]},
		{"index": 1, "program": "mytool", "positionals": ["status"]},
	])
	d := decision with input as written
	d.verdict == "ask"
	d.category == "code-execution"
	redirected := call([
		{"program": "base64", "args": ["-d"], "redirects": [{"op": ">", "target": "x", "path": "/home/dev/app/x", "where": "workspace"}]},
		{"index": 1, "program": "x", "positionals": ["--version"]},
	])
	e := decision with input as redirected
	e.verdict == "ask"
}

test_a_reporting_subcommand_of_a_program_the_call_does_not_write_is_still_allowed if {
	d := decision with input as call([
		{"program": "chmod", "args": ["+x", "other"], "writes": [{"path": "/home/dev/app/other", "where": "workspace"}],
		 "rules": [{"id": "fs.workspace-edit", "verdict": "allow", "reason": "edits"}]},
		{"index": 1, "program": "velero", "positionals": ["backup", "get"]},
	])
	d.verdict == "allow"
}

test_unknown_program_goes_to_experts if {
	d := decision with input as call([{"program": "frobnicate", "positionals": ["all"]}])
	d.verdict == "ask"
	d.escalate
	d.category == "unknown-program"
}

test_write_to_system_path_denied if {
	d := decision with input as call([{"program": "hugo", "writes": [{"path": "/etc/nginx/site.conf", "where": "system"}]}])
	d.verdict == "deny"
}

test_redirect_into_home_goes_to_experts if {
	d := decision with input as call([{"program": "neofetch", "redirects": [{"op": ">", "target": "~/x", "path": "/home/dev/x", "where": "home"}]}])
	d.escalate
	d.category == "filesystem"
}

test_sudo_never_allowed if {
	d := decision with input as call([{"program": "sensors", "sudo": true}])
	d.verdict != "allow"
	d.category == "privileged"
	d.quorum == 2
}

test_incomplete_analysis_never_allowed if {
	doc := object.union(call([{"program": "lsb_release"}]), {"analysis": {"complete": false, "error": "nesting too deep", "limits": []}})
	d := decision with input as doc
	d.verdict == "ask"
	d.category == "unanalysed"
}

test_rule_ask_is_not_turned_into_allow if {
	doc := object.union(call([{"program": "lsb_release"}]), {"escalation": {"reason": "ask", "rule_id": "sys.sudo", "rule_reason": "Runs a command as root"}})
	d := decision with input as doc
	d.verdict == "ask"
	d.category == "sys"
}

test_every_command_must_be_allowed if {
	d := decision with input as call([{"program": "lsb_release"}, {"index": 1, "program": "frobnicate"}])
	d.verdict == "ask"
}

test_rule_allowed_command_counts_as_allowed if {
	d := decision with input as call([
		{"program": "sar"},
		{"index": 1, "program": "grep", "rules": [{"id": "routine.read-text", "verdict": "allow", "reason": "reads"}]},
	])
	d.verdict == "allow"
}

test_secret_decryption_denied if {
	d := decision with input as call([{"program": "sops", "flags": ["-d"], "positionals": ["secrets.enc.yaml"]}])
	d.verdict == "deny"
}

test_password_on_command_line_goes_to_credentials if {
	d := decision with input as call([{"program": "sshpass", "flags": ["-p"], "positionals": ["ssh", "user@host"]}])
	d.category == "credentials"
}

test_offensive_tool_denied if {
	d := decision with input as call([{"program": "hashcat"}])
	d.verdict == "deny"
}

test_code_from_pipe_escalated if {
	d := decision with input as call([{"program": "lsb_release", "code_from": ["curl"]}])
	d.escalate
	d.category == "code-execution"
}

test_home_read_goes_to_experts if {
	d := decision with input as call([{"program": "exa", "reads": [{"path": "/home/dev/.ssh", "where": "home"}]}])
	d.escalate
	d.category == "read-outside-workspace"
}

test_user_data_extends_tables if {
	d := decision with input as call([{"program": "inhouse-status"}]) with data.lighthouse_extra as {"read_only": ["inhouse-status"]}
	d.verdict == "allow"
}

test_read_in_workspace_allowed if {
	doc := object.union(call([]), {"tool": "Read", "paths": [{"field": "file_path", "path": "/home/dev/app/a.py", "where": "workspace"}]})
	d := decision with input as doc
	d.verdict == "allow"
}

test_mcp_tool_escalated if {
	doc := object.union(call([]), {"tool": "mcp__jira__create_issue"})
	d := decision with input as doc
	d.escalate
	d.category == "mcp"
}

# A program named by a path in the workspace, home or /tmp may be one the agent wrote:
# no reporting verb makes it safe. One in a system directory is the program it names.
test_a_program_named_by_a_workspace_path_runs_code if {
	d := decision with input as call([{"index": 0, "program": "tool", "program_path": "/home/dev/app/tool",
		"program_where": "workspace", "positionals": ["version"]}])
	d.verdict != "allow"
	d.category == "code-execution"
}

test_a_program_named_by_a_system_path_is_the_program if {
	d := decision with input as call([{"program": "lsb_release", "program_path": "/usr/bin/lsb_release",
		"program_where": "system", "flags": ["-a"]}])
	d.verdict == "allow"
}
