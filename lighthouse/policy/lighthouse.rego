# The default policy of Lighthouse's policy tier: decides the tool calls that the rule packs
# leave undecided (a miss) or hand on (a rule's ask), from the input document described in
# input.schema.json. The entrypoint is data.lighthouse.decision:
#
#   {"verdict": "allow"|"ask"|"deny", "reason": string, "escalate": bool,
#    "category": string, "quorum": number}
#
# A Bash call is allowed only when every simple command in it is allowed and nothing in it
# is denied; a deny anywhere denies the call; otherwise the call goes to experts
# (escalate: true) with the category of its riskiest undecided command. A call whose input
# document is incomplete (the analysis failed or hit a limit) is never allowed, and a
# rule's ask is never turned into an allow by this policy.
#
# Extending it (a module of your own in package lighthouse, loaded with --policy DIR):
#   deny contains "reason" if { ... }                          # denies the call
#   allowed contains {"command": i, "reason": "..."} if { ... }  # allows command i
#   escalations contains {"command": i, "category": "...", "reason": "..."} if { ... }
# and program tables in data.json under "lighthouse_extra" (see programs.rego).
package lighthouse

import rego.v1

# Categories in the order an undecided call is routed by (the first that applies wins),
# and how many experts must agree for each.
category_order := [
	"credentials", "privileged", "security-scan", "cloud-change", "network",
	"package-install", "code-execution", "filesystem", "read-outside-workspace", "changes-state",
	"unknown-program",
]

default_quorum := {"credentials": 2, "privileged": 2, "cloud-change": 2, "security-scan": 2}

quorum_of(category) := object.get(default_quorum, category, 1)

# ------------------------------------------------------------------ the decision

default decision := {
	"verdict": "ask",
	"reason": "policy: no decision for this call",
	"escalate": true,
	"category": "unknown",
	"quorum": 1,
}

decision := {"verdict": "deny", "reason": deny_reason, "escalate": false, "category": "policy", "quorum": 1} if {
	count(deny) > 0
} else := {
	"verdict": "ask",
	"reason": sprintf("policy: the call could not be fully analysed (%s); experts decide", [incomplete_why]),
	"escalate": true,
	"category": "unanalysed",
	"quorum": 1,
} if {
	not input.analysis.complete
} else := {
	"verdict": "ask",
	"reason": sprintf("policy: rule %s asks for a decision: %s", [input.escalation.rule_id, input.escalation.rule_reason]),
	"escalate": true,
	"category": rule_category,
	"quorum": quorum_of(rule_category),
} if {
	input.escalation.reason == "ask"
} else := {
	"verdict": "allow",
	"reason": sprintf("policy: %s", [concat("; ", allow_reasons)]),
	"escalate": false,
	"category": "policy",
	"quorum": 1,
} if {
	all_allowed
} else := {
	"verdict": "ask",
	"reason": sprintf("policy: %s", [escalation.reason]),
	"escalate": true,
	"category": escalation.category,
	"quorum": quorum_of(escalation.category),
}

deny_reason := concat("; ", sort([r | some r in deny]))

incomplete_why := input.analysis.error if {
	input.analysis.error != ""
} else := concat(", ", input.analysis.limits)

rule_category := split(input.escalation.rule_id, ".")[0] if {
	input.escalation.rule_id != ""
} else := "rule"

# ------------------------------------------------------------------ Bash: every command allowed

command_allowed(i) if {
	some a in allowed
	a.command == i
}

all_allowed if {
	input.tool == "Bash"
	count(input.commands) > 0
	every i, _ in input.commands {
		command_allowed(i)
	}
}

all_allowed if {
	input.tool != "Bash"
	some a in allowed
	a.command == -1
}

allow_reasons contains r if {
	some a in allowed
	r := a.reason
}

# The escalation of the first undecided command in category_order; a command nothing
# classified is an unknown program.
pending contains {"command": i, "category": e.category, "reason": e.reason} if {
	some i, _ in input.commands
	not command_allowed(i)
	some e in escalations
	e.command == i
}

pending contains {"command": i, "category": "unknown-program", "reason": msg} if {
	some i, c in input.commands
	not command_allowed(i)
	not escalated(i)
	msg := sprintf("%s is a program the rules and this policy do not know", [c.program])
}

pending contains {"command": -1, "category": e.category, "reason": e.reason} if {
	input.tool != "Bash"
	some e in escalations
	e.command == -1
}

pending contains {"command": -1, "category": "unknown-tool", "reason": msg} if {
	input.tool != "Bash"
	not escalated(-1)
	msg := sprintf("the tool %s is not one this policy knows", [input.tool])
}

escalated(i) if {
	some e in escalations
	e.command == i
}

ranked := [p |
	some cat in array.concat(category_order, ["unknown-tool"])
	some p in pending
	p.category == cat
]

# Pending escalations in categories of a user's own, in a stable order.
others := sort([p | some p in pending])

escalation := ranked[0] if {
	count(ranked) > 0
} else := others[0] if {
	count(others) > 0
} else := {"command": -1, "category": "unknown", "reason": "no decision for this call"}
