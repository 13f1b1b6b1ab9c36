# How the default policy classifies the simple commands of a Bash call the rules did not
# settle: by what the shell analysis saw (paths read and written and where they lie, sudo,
# code fed to an interpreter, expanded values) and by what kind of program runs.
#
# Program tables can be extended without editing this file: a data.json in a --policy
# directory with {"lighthouse_extra": {"read_only": [...], "workspace_tools": [...], ...}}
# adds to the table of that name.
package lighthouse

import rego.v1

# The program tables and the verb sets are data, in data.json beside this file (mounted as
# data.lighthouse_programs and data.lighthouse_verbs): each an object whose keys are its
# names, built once when the policy loads, where a set written out here would be built
# again by every evaluation (measured: half of the decision's time). The tables:
#
#   read_only        report on the system, the hardware, the network or files, and change nothing
#   workspace_tools  build, format, lint, test or document the project: they read it and write inside it
#   network          reach other machines: transfers, remote shells, tunnels, proxies, capture
#   security_scan    scan or attack other machines
#   offensive        break credentials or take over machines: never run by an agent unattended
#   secret_store     hold secrets
#   package_manager  install, remove and query packages: allowed only with a reporting subcommand
#   installer        install software or runtimes
#   interpreter      run code: interpreters, shells, notebooks, AI agents, job runners
#   system_control   change how the machine runs: services, kernel, firewall, mounts, users, power
#
# A --policy directory's data.json adds programs under "lighthouse_extra" (a list per table).
# (data.lighthouse_extra by its path: object.get on data would evaluate every rule of every
# package for the whole data document.)
tables := object.union(data.lighthouse_programs, {name: t |
	some name, extra in extra_tables
	base := data.lighthouse_programs[name]
	t := object.union(base, {p: true | some p in extra})
})

default extra_tables := {}

extra_tables := data.lighthouse_extra

# Subcommands (any of the first three positionals) that only report, and those that
# change something (data.lighthouse_verbs: read and write): an unknown tool run with a
# reporting verb and no changing one reads.
read_verbs := data.lighthouse_verbs.read

write_verbs := data.lighthouse_verbs.write

positional_window(c) := array.slice(c.positionals, 0, 3)

# The flags and positionals of a command that matter for its verbs.
verbs(c) := {v | some v in positional_window(c)} | {f | some f in c.flags}

reads_only(c) if {
	some v in verbs(c)
	read_verbs[v]
	not mutating(c)
}

mutating(c) if {
	some v in verbs(c)
	write_verbs[v]
}

# ------------------------------------------------------------------ what the analysis saw

safe_write_places := {"workspace", "tmp", "stdio"}

# Places a command may read without an expert: home directories (dotfiles, keys, other
# projects) and values the analysis could not know are left out.
safe_read_places := {"workspace", "tmp", "stdio", "system", "other"}

writes_outside(c) := {w | some w in c.writes; not safe_write_places[w.where]} | {{"path": r.path, "where": r.where} |
	some r in c.redirects
	r.op != "<"
	not safe_write_places[r.where]
}

reads_outside(c) := {r | some r in c.reads; not safe_read_places[r.where]}

# Paths a command names outside the places it may write: for a program whose argv the
# rules do not describe, any path argument may be written.
paths_outside(c) := {r.path | some r in c.reads; not safe_write_places[r.where]} | {w.path | some w in writes_outside(c)}

writes_system(c) := {w.path | some w in writes_outside(c); w.where == "system"}

runs_code(c) if count(c.code_from) > 0

runs_code(c) if c.code != ""

runs_code(c) if {
	some p in c.pipeline
	tables.interpreter[p]
	p != c.program
}

# A program named by a path outside the system's directories (./tool, bin/run, ~/x,
# /tmp/x): a file the agent may have written itself, so no subcommand makes it a
# reporting tool. (`program` is the base name; `program_path` the path the command
# names it by, resolved, and `program_where` where that lies.)
runs_code(c) if {
	c.program_path != ""
	c.program_where != "system"
}

# A program the call itself fetches or writes (curl -O, chmod +x, cp, a redirect): its code
# is whatever was just put there, so no subcommand makes it a reporting tool.
runs_code(c) if fetched_or_written[c.program]

last_segment(s) := parts[count(parts) - 1] if {
	parts := split(trim_right(s, "/"), "/")
}

fetched_or_written contains name if {
	some c in input.commands
	some w in c.writes
	name := last_segment(w.path)
}

fetched_or_written contains name if {
	some c in input.commands
	some r in c.redirects
	r.op != "<"
	name := last_segment(r.path)
}

fetched_or_written contains name if {
	some c in input.commands
	some a in c.args
	contains(a, "://")
	name := last_segment(split(split(a, "?")[0], "#")[0])
}

risky_env := {"LD_PRELOAD", "LD_LIBRARY_PATH", "DYLD_INSERT_LIBRARIES", "PYTHONSTARTUP", "BASH_ENV", "ENV", "PROMPT_COMMAND"}

risky(c) if c.sudo

risky(c) if c.dynamic

risky(c) if runs_code(c)

risky(c) if count(writes_outside(c)) > 0

risky(c) if count(reads_outside(c)) > 0

risky(c) if {
	some k, _ in c.env
	risky_env[k]
}

risky(c) if c.origin != ""

risky(c) if secret_flag(c)

secret_flag(c) if {
	some f in c.flags
	f in {"-p", "--password", "--pass", "--passwd", "--token", "--secret", "--api-key", "--master-key", "--key"}
	c.program in {"sshpass", "meilisearch", "mysql", "mysqladmin", "redis-cli", "vault", "minio", "typesense-server"}
}

secret_flag(c) if {
	some k, _ in c.options
	contains(lower(k), "password")
}

secret_flag(c) if {
	some k, _ in c.options
	contains(lower(k), "token")
}

# ------------------------------------------------------------------ deny

deny contains sprintf("%s writes to a system path outside the workspace: %s", [c.program, concat(", ", sort([p | some p in writes_system(c)]))]) if {
	some c in input.commands
	count(writes_system(c)) > 0
}

deny contains sprintf("%s breaks credentials or attacks machines, which an agent never does unattended", [c.program]) if {
	some c in input.commands
	tables.offensive[c.program]
}

deny contains sprintf("%s decrypts a secret into the agent's context", [c.program]) if {
	some c in input.commands
	tables.secret_store[c.program]
	some v in verbs(c)
	v in {"-d", "--decrypt", "decrypt", "read", "show", "get"}
	input.escalation.reason == "miss"
}

# ------------------------------------------------------------------ allow

allowed contains {"command": i, "reason": sprintf("%s only reports or reads", [c.program])} if {
	some i, c in input.commands
	tables.read_only[c.program]
	not risky(c)
	not mutating(c)
	not changes_system(c)
	not tables.secret_store[c.program]
}

allowed contains {"command": i, "reason": sprintf("%s builds, formats or documents the workspace", [c.program])} if {
	some i, c in input.commands
	tables.workspace_tools[c.program]
	not risky(c)
	not changes_remote(c)
	count(paths_outside(c)) == 0
}

# A command allowed by the rule packs (an allow rule matched it and no ask or deny rule
# did) stays allowed: the call escalated for its other commands.
allowed contains {"command": i, "reason": sprintf("rule %s allows %s", [r.id, c.program])} if {
	some i, c in input.commands
	some r in c.rules
	r.verdict == "allow"
	every q in c.rules {
		q.verdict == "allow"
	}
}

allowed contains {"command": i, "reason": sprintf("%s %s only reports", [c.program, concat(" ", positional_window(c))])} if {
	some i, c in input.commands
	not known_risky_program(c.program)
	not tables.read_only[c.program]
	not tables.workspace_tools[c.program]
	reads_only(c)
	not risky(c)
}

known_risky_program(p) if tables.offensive[p]

known_risky_program(p) if tables.secret_store[p]

known_risky_program(p) if tables.security_scan[p]

known_risky_program(p) if tables.interpreter[p]

known_risky_program(p) if tables.installer[p]

known_risky_program(p) if tables.network[p]

known_risky_program(p) if tables.package_manager[p]

# A read-only program's flags that change the machine after all (`mount /dev/x /mnt`,
# `sysctl -w`, `swapon /swap`).
changes_system(c) if {
	tables.system_control[c.program]
	count(c.args) > 0
	not reads_only(c)
}

changes_remote(c) if {
	some v in positional_window(c)
	v in {"deploy", "publish", "release", "push", "upload", "apply", "up", "destroy"}
}

# ------------------------------------------------------------------ escalate

escalations contains {"command": i, "category": "credentials", "reason": sprintf("%s handles secrets or credentials", [c.program])} if {
	some i, c in input.commands
	tables.secret_store[c.program]
}

escalations contains {"command": i, "category": "credentials", "reason": sprintf("%s takes a password or token on its command line", [c.program])} if {
	some i, c in input.commands
	secret_flag(c)
}

escalations contains {"command": i, "category": "read-outside-workspace", "reason": sprintf("%s reads %s", [c.program, concat(", ", sort([r.path | some r in reads_outside(c)]))])} if {
	some i, c in input.commands
	count(reads_outside(c)) > 0
}

escalations contains {"command": i, "category": "privileged", "reason": sprintf("%s runs with sudo", [c.program])} if {
	some i, c in input.commands
	c.sudo
}

escalations contains {"command": i, "category": "privileged", "reason": sprintf("%s changes how the machine runs", [c.program])} if {
	some i, c in input.commands
	changes_system(c)
}

escalations contains {"command": i, "category": "security-scan", "reason": sprintf("%s scans or probes other machines", [c.program])} if {
	some i, c in input.commands
	tables.security_scan[c.program]
}

escalations contains {"command": i, "category": "cloud-change", "reason": sprintf("%s %s changes remote infrastructure or publishes", [c.program, concat(" ", positional_window(c))])} if {
	some i, c in input.commands
	changes_remote(c)
}

escalations contains {"command": i, "category": "network", "reason": sprintf("%s reaches other machines", [c.program])} if {
	some i, c in input.commands
	tables.network[c.program]
}

escalations contains {"command": i, "category": "package-install", "reason": sprintf("%s installs software", [c.program])} if {
	some i, c in input.commands
	tables.installer[c.program]
}

escalations contains {"command": i, "category": "package-install", "reason": sprintf("%s manages packages", [c.program])} if {
	some i, c in input.commands
	tables.package_manager[c.program]
}

escalations contains {"command": i, "category": "changes-state", "reason": sprintf("%s %s changes state", [c.program, concat(" ", positional_window(c))])} if {
	some i, c in input.commands
	mutating(c)
}

escalations contains {"command": i, "category": "package-install", "reason": sprintf("%s %s installs software", [c.program, concat(" ", positional_window(c))])} if {
	some i, c in input.commands
	some v in positional_window(c)
	v in {"install", "add", "upgrade"}
}

escalations contains {"command": i, "category": "code-execution", "reason": sprintf("%s runs code the analysis cannot judge", [c.program])} if {
	some i, c in input.commands
	runs_code(c)
}

escalations contains {"command": i, "category": "code-execution", "reason": sprintf("%s runs code (an interpreter, a service or a job runner)", [c.program])} if {
	some i, c in input.commands
	tables.interpreter[c.program]
}

escalations contains {"command": i, "category": "code-execution", "reason": sprintf("%s has arguments the analysis could not know", [c.program])} if {
	some i, c in input.commands
	c.dynamic
}

escalations contains {"command": i, "category": "filesystem", "reason": sprintf("%s names paths outside the workspace: %s", [c.program, concat(", ", sort(paths_outside(c)))])} if {
	some i, c in input.commands
	not tables.read_only[c.program]
	count(writes_outside(c)) == 0
	count(paths_outside(c)) > 0
}

escalations contains {"command": i, "category": "filesystem", "reason": sprintf("%s writes outside the workspace: %s", [c.program, concat(", ", sort([w.path | some w in writes_outside(c)]))])} if {
	some i, c in input.commands
	count(writes_outside(c)) > 0
}

# ------------------------------------------------------------------ other tools

allowed contains {"command": -1, "reason": sprintf("%s of a path in the workspace", [input.tool])} if {
	input.tool != "Bash"
	input.tool in {"Read", "Glob", "Grep", "LS", "NotebookRead"}
	count(input.paths) > 0
	every p in input.paths {
		p.where == "workspace"
	}
}

escalations contains {"command": -1, "category": "mcp", "reason": sprintf("the MCP tool %s", [input.tool])} if {
	startswith(input.tool, "mcp__")
}

escalations contains {"command": -1, "category": "filesystem", "reason": sprintf("%s of %s", [input.tool, p.path])} if {
	input.tool != "Bash"
	some p in input.paths
	p.where != "workspace"
}
