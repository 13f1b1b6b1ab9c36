# How the default policy classifies the simple commands of a Bash call the rules did not
# settle: by what the shell analysis saw (paths read and written and where they lie, sudo,
# code fed to an interpreter, expanded values) and by what kind of program runs.
#
# Program tables can be extended without editing this file: a data.json in a --policy
# directory with {"lighthouse_extra": {"read_only": [...], "workspace_tools": [...], ...}}
# adds to the table of that name.
package lighthouse

import rego.v1

# Evaluated once per evaluation (it does not depend on the input), then looked up.
tables := {name: t |
	some name, base in base_tables
	t := base | {p | some p in object.get(data, ["lighthouse_extra", name], [])}
}

base_tables := {
	# Report on the system, the hardware, the network or files, and change nothing.
	"read_only": {
		"lsb_release", "sar", "pidstat", "iotop", "nethogs", "iftop", "dstat", "atop", "sensors",
		"nvidia-smi", "lspci", "lsusb", "lshw", "hwinfo", "inxi", "upower", "acpi", "xrandr",
		"systemd-analyze", "loginctl", "resolvectl", "networkctl", "iwconfig", "ethtool", "bmon",
		"vnstat", "swapon", "mount", "findmnt", "blkid", "lsmod", "exa", "eza", "lsd", "dust", "duf",
		"gdu", "diskus", "erdtree", "ncdu", "glances", "btop", "htop", "top", "ctop", "neofetch",
		"fastfetch", "onefetch", "screenfetch", "git-sizer", "tokei", "fzf", "zoxide", "broot",
		"nnn", "ranger", "lf", "yazi", "vifm", "glow", "frogmouth", "mdless", "difftastic", "difft",
		"meld", "kdiff3", "vimdiff", "git-delta", "sd", "choose", "frawk", "huniq", "xan", "rga",
		"ugrep", "sift", "pt", "gron", "jo", "jc", "dasel", "csvstat", "csvsql", "visidata",
		"tabview", "q", "pdfinfo", "pdftotext", "qpdf", "exiftool", "mediainfo", "ffprobe",
		"mdls", "mdfind", "diskutil", "hdiutil", "scutil", "system_profiler", "pmset", "sw_vers",
		"spctl", "csrutil", "codesign", "xattr", "fuser", "inotifywait", "fswatch", "lsof",
		"pkg-config", "ldconfig", "update-alternatives", "ccache", "sccache", "cppcheck", "kubeconform",
		"kubeval", "kube-linter", "polaris", "popeye", "reuse", "licensee", "gitleaks",
		"trufflehog", "detect-secrets", "git-secrets", "ggshield", "talisman", "tfsec", "tflint",
		"checkov", "conftest", "opa", "cue", "jsonnet", "hjson", "json5", "toml", "taplo", "twiggy",
		"readelf", "pahole", "gprof", "callgrind_annotate", "heaptrack_print", "sensors-detect",
		"keytool", "certutil", "whois", "tsh", "tailscale", "wg", "zerotier-cli", "lima",
		"multipass", "virsh", "VBoxManage", "lxc", "incus", "qemu-img", "skopeo", "crane",
		"regctl", "crictl", "ctr", "runc", "nerdctl", "podman", "buildah", "stern", "k9s",
		"kubectx", "kubens", "kubectl-neat", "kubectl-tree", "krew", "hubble", "cilium",
		"calicoctl", "cmctl", "linkerd", "istioctl", "velero", "argocd", "flux", "consul", "nomad",
		"etcdctl", "kapp", "ytt", "kbld", "clusterctl", "talosctl", "k3d", "oc", "rancher",
		"doctl", "linode-cli", "hcloud", "vultr-cli", "scw", "exoscale", "oci", "ibmcloud",
		"aliyun", "steampipe", "render", "supervisorctl", "pm2", "rabbitmqctl", "kcat",
		"mosquitto_sub", "nats", "clickhouse-client", "cqlsh", "influx", "duckdb", "pgcli",
		"mycli", "litecli", "usql", "pg_isready", "pg_ctl", "sqlmesh", "airflow", "prefect",
		"dagster", "mlflow", "tensorboard", "ollama", "chezmoi", "yadm", "asdf", "mise", "rtx",
		"rbenv", "jenv", "goenv", "pyenv", "fnm", "sdkman", "nvm", "defaults", "launchctl",
		"networksetup", "softwareupdate", "nmcli", "ufw", "sysctl", "timedatectl", "hostnamectl",
		"distrobox", "toolbox", "orbctl", "colima", "lpass", "bw", "jira", "glab", "tig", "gitui",
		"lazygit", "lazydocker", "lazysql", "harlequin", "watchman", "asciinema", "vhs",
		"terminalizer", "helmfile",
		"minisign", "cosign", "step", "cfssl", "inkscape", "tesseract", "sensors",
	},
	# Build, format, lint, test or document the project: they read it and write inside it.
	"workspace_tools": {
		"hugo", "jekyll", "gatsby", "mdbook", "zola", "eleventy", "hexo", "pelican", "quarto",
		"typst", "latexmk", "pdflatex", "xelatex", "lualatex", "bibtex", "biber", "asciidoctor",
		"rst2html.py", "plantuml", "mmdc", "dot", "d2", "drawio", "docusaurus", "vuepress", "mike",
		"mkdocs", "yamlfmt", "taplo", "gofumpt", "golines", "cmake-format", "cppcheck",
		"include-what-you-use", "iwyu_tool.py", "bear", "compiledb", "xmake", "premake5", "tup",
		"redo", "mold", "cross", "wasm-opt", "gotestsum", "gocov", "govulncheck", "gosec", "revive",
		"errcheck", "ineffassign", "mockgen", "wire", "swag", "templ", "sqlboiler", "ent",
		"earthly", "moon", "rush", "bit", "pants", "please", "mage", "goreleaser", "git-cliff",
		"conventional-changelog", "towncrier", "scriv", "tbump", "bumpversion", "bump2version",
		"cargo-nextest", "cargo-audit", "cargo-deny", "cargo-udeps", "cargo-outdated",
		"cargo-expand", "cargo-bloat", "cargo-tarpaulin", "cargo-llvm-cov", "cargo-make",
		"optipng", "pngquant", "jpegoptim", "svgo", "gifsicle", "cwebp", "vips", "rsvg-convert",
		"sox", "lame", "ocrmypdf", "kubeconform", "kustomize", "jb", "tk", "vendir", "ko",
		"snakemake", "dvc", "cyclonedx-py",
		"scancode", "ort", "fossa", "spdx-sbom-generator", "datasette", "csvkit", "flamegraph.pl",
		"inferno-flamegraph", "massif-visualizer", "kcachegrind", "uftrace", "samply",
		"cargo-flamegraph", "heaptrack", "wasmtime", "wasmer", "locust", "invoke", "doit", "fab",
		"tmuxinator", "zellij", "byobu", "abduco", "dtach", "modd", "reflex", "entr", "stow",
		"direnv", "age-keygen", "mkcert", "parallel", "fallocate", "deactivate", "slides",
		"presenterm", "alembic", "yoyo", "knex", "sequelize", "typeorm", "prisma", "drizzle-kit",
		"release-it", "semantic-release", "cz", "dagger", "act", "circleci", "conan", "vcpkg",
	},
	# Reach other machines: transfers, remote shells, tunnels, proxies, capture.
	"network": {
		"sftp", "ftp", "lftp", "tftp", "sshpass", "autossh", "mosh", "sshuttle", "socat", "ncat",
		"websocat", "wscat", "mitmproxy", "mitmdump", "tshark", "termshark", "tcpdump", "ngrep",
		"openvpn", "iperf3", "iperf", "speedtest-cli", "speedtest", "aria2c", "axel", "httrack",
		"yt-dlp", "youtube-dl", "lynx", "w3m", "links", "mutt", "sendmail", "msmtp", "swaks", "mailx",
		"mail", "curlie", "xh", "httpie", "hurl", "grpc_cli", "arping", "fping", "hping3", "mtr",
		"tracepath", "drill", "kdig", "ngrok", "localtunnel", "cloudflared", "rclone", "s3cmd",
		"azcopy", "gsutil", "mc", "minio", "restic", "borg", "duplicity", "rsync", "telnet",
	},
	# Scan or attack other machines.
	"security_scan": {
		"nmap", "masscan", "zmap", "nikto", "nuclei", "sqlmap", "ffuf", "gobuster", "dirb", "wfuzz",
		"zap-baseline.py", "zap.sh", "wpscan", "prowler", "scoutsuite", "kubeshark",
	},
	# Break credentials or take over machines: never run by an agent unattended.
	"offensive": {
		"hydra", "medusa", "john", "hashcat", "responder", "msfconsole", "msfvenom", "mimikatz",
		"crackmapexec", "netexec", "evil-winrm", "ettercap", "bettercap", "aircrack-ng",
	},
	# Hold secrets.
	"secret_store": {
		"pass", "gopass", "op", "bw", "lpass", "keepassxc-cli", "vault", "sops", "age", "gpg",
		"gpg2", "git-crypt", "kubeseal", "aws-vault", "saml2aws", "granted", "security",
		"secret-tool", "huggingface-cli", "wandb",
	},
	# Install, remove and query packages: allowed only with a reporting subcommand.
	"package_manager": {
		"dpkg", "dpkg-query", "rpm", "apt-file", "apt-cache", "aptitude", "pacman", "zypper",
		"xbps-query", "eopkg", "mas", "snap", "flatpak", "choco", "winget", "scoop", "yay", "paru",
		"emerge", "apk", "xbps-install", "nix-env", "guix", "port", "pkg", "pkgin",
	},
	# Install software or runtimes.
	"installer": {
		"apk", "xbps-install", "eopkg", "emerge", "yay", "paru", "nix-env", "nix", "guix", "alien",
		"checkinstall", "volta", "n", "sdk", "rtx", "spacy", "pipx", "cargo-binstall",
		"appimagetool", "jpm", "krew",
	},
	# Run code: interpreters, shells, notebooks, AI agents, job runners.
	"interpreter": {
		"bash", "sh", "zsh", "dash", "fish", "ksh", "csh", "tcsh", "powershell", "pwsh", "cmd.exe",
		"osascript", "nix-shell", "devbox", "devcontainer", "python2", "pypy", "pypy3", "tclsh",
		"wish", "awk", "gimp", "aider", "llm", "sgpt", "ollama", "nltk.downloader", "label-studio",
		"meltano", "hasura", "supabase", "atlas", "goose", "flyway", "liquibase", "dbmate", "migrate", "dbt", "kedro", "nextflow", "great_expectations", "msfconsole", "forever", "nohup", "at", "batch",
		"mongod", "meilisearch", "typesense-server", "caddy", "traefik", "envoy", "nginx",
		"apachectl", "certbot", "gitlab-runner", "jib", "packer", "vagrant", "sentry-cli",
		"stripe", "wrangler", "netlify-cli", "railway", "zeet", "kamal", "capistrano", "cap",
		"redis-benchmark", "memtier_benchmark", "pgbench", "pg_restore", "pg_basebackup",
		"pg_upgrade", "mongodump", "mongorestore", "mongoimport", "kafka-topics.sh",
		"kafka-console-consumer.sh", "zkCli.sh", "elasticsearch-plugin", "opensearch-cli",
		"cloud-nuke", "docker-slim", "trivy-db", "kubespy", "crossplane", "carvel",
		"openshift-install", "espanso", "karabiner_cli", "say", "notify-send", "terminal-notifier",
		"caffeinate", "xclip", "xsel", "wl-copy", "pbpaste", "pactl", "renovate", "dependabot-cli",
		"bfg", "git-filter-repo", "gcloud", "bpftrace", "bpftool", "opensnoop", "execsnoop",
		"ttyrec", "sealed-secrets", "tilt", "skaffold", "kind",
	},
	# Change how the machine runs: services, kernel, firewall, mounts, users, power.
	"system_control": {
		"iptables", "ip6tables", "nft", "ufw", "firewall-cmd", "modprobe", "insmod", "rmmod",
		"sysctl", "mount", "umount", "swapon", "swapoff", "mkswap", "launchctl", "defaults",
		"networksetup", "softwareupdate", "nmcli", "timedatectl", "hostnamectl", "loginctl",
		"visudo", "vipw", "chsh", "pmset", "csrutil", "spctl", "wsl", "diskutil", "hdiutil",
		"supervisorctl", "pm2", "rabbitmqctl",
	},
}

# Subcommands (any of the first three positionals) that only report, and those that
# change something: an unknown tool run with a reporting verb and no changing one reads.
read_verbs := {
	"version", "help", "status", "list", "ls", "info", "check", "validate", "doctor", "show",
	"get", "describe", "lint", "diff", "plan", "inspect", "top", "logs", "log", "whoami", "print",
	"dashboard", "observe", "analyze", "audit", "members", "current", "versions", "search",
	"lookup", "stats", "query", "test", "preview", "tree", "explain", "verify", "print-defaults",
	"--version", "--help", "--list", "--show", "--display", "--query", "--check", "--report",
	"--short", "--show-stats", "--list-profile-names",
}

write_verbs := {
	"create", "new", "delete", "del", "rm", "remove", "destroy", "apply", "deploy", "up", "down",
	"start", "stop", "restart", "reload", "kill", "install", "uninstall", "add", "set", "unset",
	"update", "upgrade", "push", "publish", "release", "login", "logout", "exec", "run", "ssh",
	"sync", "reset", "drop", "truncate", "import", "export", "insert", "edit", "write", "put",
	"enable", "disable", "mount", "unmount", "tap", "trace", "record", "unlock", "decrypt",
	"allow", "attach", "enter", "shell", "connect", "open", "serve", "server", "flush", "prune",
	"migrate", "rollback", "seed", "--decrypt", "--delete", "--install", "--remove", "--force",
	"--write", "--apply",
}

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
