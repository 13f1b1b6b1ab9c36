/*
 * lighthouse-hook: the Claude Code PreToolUse hook as a small native program.
 *
 * Same protocol, deadline and meaning as `lighthouse hook claude-code`
 * (lighthouse/hooks/claude_code.py), without starting a Python interpreter on the common
 * path: it reads the hook event on stdin, asks the server over the local socket
 * (lighthouse/localsock.py: one JSON line each way, the pending line for a call the server
 * escalates), and prints the decision JSON exactly as the Python hook does, byte for byte.
 *
 * It answers by itself only what it can answer exactly like the Python hook: a well-formed
 * event (strict JSON, UTF-8) and a server that answers, or says it is deciding and then
 * answers or not in time. Everything else goes to the Python hook, with the event unchanged
 * on its stdin (execv of `PYTHON -P -m lighthouse.hooks.claude_code` with the same options):
 *   - no trustworthy server answers on the socket (down, refusing connections, planted by
 *     another user, silent past --timeout, answering something that is not a JSON object):
 *     the Python hook asks again (and over gRPC when --server is configured), and decides
 *     locally with the server's published rules: a dead server is never an allow;
 *   - an event that is not strict JSON, or not of the expected shape, -h/--help, and
 *     options it does not check itself: the Python hook names the problem (a deny, or an
 *     ask for a misconfiguration) in its own words.
 * Once the server has said it is deciding a call, the program never hands it over: the
 * answer is the server's, or its fail-mode verdict at the deadline (never allow).
 * If the Python hook cannot be started, the answer is a deny naming why.
 *
 * Options: those of `lighthouse hook claude-code`, plus `--python PATH`, the interpreter
 * to hand over to (default: python3 on PATH), which is not passed on.
 *
 * Bounds: the event is read up to MAX_EVENT bytes (beyond: deny, as the Python hook);
 * a reply line up to MAX_LINE bytes; JSON nesting up to MAX_DEPTH (deeper: handed over);
 * every socket operation under the one deadline. Always exits 0 after printing one
 * decision (or nothing, with --defer and an allow); 1 when the decision cannot be written.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENT (64 * 1024 * 1024)                /* lighthouse.hooks.claude_code.MAX_EVENT */
#define MAX_LINE (4 * 1024 * 1024 + 64 * 1024)      /* lighthouse.localsock.MAX_REQUEST */
#define MAX_REASON 2000         /* claude_code.MAX_REASON, in code points */
#define MAX_DEPTH 512
#define ANSWER_GRACE 1.0        /* localsock.ANSWER_GRACE */
#define DEFAULT_TIMEOUT 1.5     /* claude_code.DEADLINE */
#define DEFAULT_WAIT 32.0       /* claude_code.WAIT */
#define MAX_TIMEOUT 60.0
#define MAX_WAIT 600.0

/* ------------------------------------------------------------------ memory */

static void die_deny(const char *why) __attribute__((noreturn));

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        die_deny("lighthouse hook: out of memory");
    return q;
}

typedef struct {
    char *p;
    size_t n, cap;
} buf_t;

static void buf_add(buf_t *b, const void *s, size_t n)
{
    if (b->cap - b->n < n + 1) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n + 1)
            cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void buf_str(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }

/* A string as Python holds it: code points (lone surrogates included). */
typedef struct {
    uint32_t *p;
    size_t n, cap;
} ustr;

static void us_push(ustr *u, uint32_t c)
{
    if (u->n == u->cap) {
        u->cap = u->cap ? u->cap * 2 : 256;
        u->p = xrealloc(u->p, u->cap * sizeof *u->p);
    }
    u->p[u->n++] = c;
}

static void us_cat(ustr *u, const ustr *v)
{
    for (size_t i = 0; i < v->n; i++)
        us_push(u, v->p[i]);
}

/* The length of the valid UTF-8 sequence at p (avail bytes there), its code point in *cp;
 * 0 when it is not one (overlong, a surrogate, past U+10FFFF, truncated). */
static size_t utf8_seq(const unsigned char *p, size_t avail, uint32_t *cp)
{
    unsigned c = p[0];
    size_t len;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        *cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        *cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        *cp = c & 0x07;
    } else {
        return 0;
    }
    if (avail < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((p[k] & 0xc0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (p[k] & 0x3f);
    }
    if ((len == 3 && (*cp < 0x800 || (*cp >= 0xd800 && *cp <= 0xdfff))) || (len == 4 && (*cp < 0x10000 || *cp > 0x10ffff)))
        return 0;
    return len;
}

/* Bytes -> code points as Python's os.fsdecode does: UTF-8, each byte of an invalid
 * sequence mapped to U+DC80..U+DCFF (surrogateescape). */
static void us_bytes(ustr *u, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = utf8_seq(p + i, n - i, &cp);
        if (!len) {
            us_push(u, 0xdc00 + p[i]);
            i++;
            continue;
        }
        us_push(u, cp);
        i += len;
    }
}

static void us_fmt(ustr *u, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[512];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        us_bytes(u, small, (size_t)n);
        return;
    }
    char *big = xrealloc(NULL, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    us_bytes(u, big, (size_t)n);
    free(big);
}

/* json.dumps(str) with ensure_ascii (Python's default): the exact bytes. */
static void json_quote(buf_t *b, const uint32_t *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    buf_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        char e[12];
        switch (c) {
        case '"': buf_add(b, "\\\"", 2); continue;
        case '\\': buf_add(b, "\\\\", 2); continue;
        case '\n': buf_add(b, "\\n", 2); continue;
        case '\r': buf_add(b, "\\r", 2); continue;
        case '\t': buf_add(b, "\\t", 2); continue;
        case '\b': buf_add(b, "\\b", 2); continue;
        case '\f': buf_add(b, "\\f", 2); continue;
        default: break;
        }
        if (c >= 0x20 && c <= 0x7e) {
            char ch = (char)c;
            buf_add(b, &ch, 1);
            continue;
        }
        if (c >= 0x10000) {
            uint32_t v = c - 0x10000;
            uint32_t hi = 0xd800 | (v >> 10), lo = 0xdc00 | (v & 0x3ff);
            e[0] = '\\'; e[1] = 'u';
            for (int k = 0; k < 4; k++)
                e[2 + k] = hex[(hi >> (12 - 4 * k)) & 0xf];
            e[6] = '\\'; e[7] = 'u';
            for (int k = 0; k < 4; k++)
                e[8 + k] = hex[(lo >> (12 - 4 * k)) & 0xf];
            buf_add(b, e, 12);
        } else {
            e[0] = '\\'; e[1] = 'u';
            for (int k = 0; k < 4; k++)
                e[2 + k] = hex[(c >> (12 - 4 * k)) & 0xf];
            buf_add(b, e, 6);
        }
    }
    buf_add(b, "\"", 1);
}

/* ------------------------------------------------------------------ output */

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int opt_defer;

/* Print claude_code.decision_output(verdict, reason) as json.dumps does, and exit. */
static void answer(const char *verdict, ustr *reason) __attribute__((noreturn));
static void answer(const char *verdict, ustr *reason)
{
    if (opt_defer && strcmp(verdict, "allow") == 0)
        exit(0);
    if (reason->n > MAX_REASON) {
        reason->n = MAX_REASON - 3;
        for (int i = 0; i < 3; i++)
            us_push(reason, '.');
    }
    buf_t b = {0};
    buf_str(&b, "{\"hookSpecificOutput\": {\"hookEventName\": \"PreToolUse\", \"permissionDecision\": \"");
    buf_str(&b, verdict);
    buf_str(&b, "\", \"permissionDecisionReason\": ");
    json_quote(&b, reason->p, reason->n);
    buf_str(&b, "}}\n");
    exit(write_all(1, b.p, b.n) ? 1 : 0);
}

static void die_deny(const char *why)
{
    /* No allocation here: it may be what failed. */
    static char out[1024];
    snprintf(out, sizeof out, "{\"hookSpecificOutput\": {\"hookEventName\": \"PreToolUse\", "
             "\"permissionDecision\": \"deny\", \"permissionDecisionReason\": \"%s\"}}\n", why);
    exit(write_all(1, out, strlen(out)) ? 1 : 0);
}

/* ------------------------------------------------------------------ strict JSON */

enum jtype { J_NONE, J_OBJ, J_ARR, J_STR, J_INT, J_FLOAT, J_TRUE, J_FALSE, J_NULL };

typedef struct {
    enum jtype t;
    const char *s, *e;          /* the token's bytes */
} jval;

static const char *skip_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A string token at p (p[0] == '"'): strict UTF-8, no raw control characters, valid
 * escapes. Returns the position after the closing quote, or NULL. */
static const char *scan_string(const char *p, const char *e)
{
    p++;
    while (p < e) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            if (++p >= e)
                return NULL;
            switch (*p) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                p++;
                break;
            case 'u':
                if (e - p < 5)
                    return NULL;
                for (int k = 1; k <= 4; k++)
                    if (hexval(p[k]) < 0)
                        return NULL;
                p += 5;
                break;
            default:
                return NULL;
            }
            continue;
        }
        if (c < 0x80) {
            p++;
            continue;
        }
        uint32_t cp;
        size_t len = utf8_seq((const unsigned char *)p, (size_t)(e - p), &cp);
        if (!len)
            return NULL;
        p += len;
    }
    return NULL;
}

static const char *scan_digits(const char *p, const char *e)
{
    const char *q = p;
    while (q < e && *q >= '0' && *q <= '9')
        q++;
    return q > p ? q : NULL;
}

static const char *scan_value(const char *p, const char *e, int depth, jval *out);

static const char *scan_container(const char *p, const char *e, int depth, int obj)
{
    char close = obj ? '}' : ']';
    if (depth >= MAX_DEPTH)
        return NULL;
    p = skip_ws(p + 1, e);
    if (p < e && *p == close)
        return p + 1;
    for (;;) {
        jval v;
        if (obj) {
            if (p >= e || *p != '"' || !(p = scan_string(p, e)))
                return NULL;
            p = skip_ws(p, e);
            if (p >= e || *p != ':')
                return NULL;
            p = skip_ws(p + 1, e);
        }
        if (!(p = scan_value(p, e, depth + 1, &v)))
            return NULL;
        p = skip_ws(p, e);
        if (p < e && *p == ',') {
            p = skip_ws(p + 1, e);
            continue;
        }
        if (p < e && *p == close)
            return p + 1;
        return NULL;
    }
}

static const char *scan_value(const char *p, const char *e, int depth, jval *out)
{
    out->s = p;
    out->t = J_NONE;
    if (p >= e)
        return NULL;
    switch (*p) {
    case '{':
        out->t = J_OBJ;
        p = scan_container(p, e, depth, 1);
        break;
    case '[':
        out->t = J_ARR;
        p = scan_container(p, e, depth, 0);
        break;
    case '"':
        out->t = J_STR;
        p = scan_string(p, e);
        break;
    case 't':
        out->t = J_TRUE;
        p = (e - p >= 4 && !memcmp(p, "true", 4)) ? p + 4 : NULL;
        break;
    case 'f':
        out->t = J_FALSE;
        p = (e - p >= 5 && !memcmp(p, "false", 5)) ? p + 5 : NULL;
        break;
    case 'n':
        out->t = J_NULL;
        p = (e - p >= 4 && !memcmp(p, "null", 4)) ? p + 4 : NULL;
        break;
    default:
        out->t = J_INT;
        if (*p == '-')
            p++;
        if (p < e && *p == '0')
            p++;
        else if (!(p = scan_digits(p, e)))
            break;
        if (p < e && *p == '.') {
            out->t = J_FLOAT;
            if (!(p = scan_digits(p + 1, e)))
                break;
        }
        if (p < e && (*p == 'e' || *p == 'E')) {
            out->t = J_FLOAT;
            p++;
            if (p < e && (*p == '+' || *p == '-'))
                p++;
            p = scan_digits(p, e);
        }
        break;
    }
    out->e = p;
    return p;
}

/* The code points of a valid string token, as Python's json decodes it (a \uD8xx\uDCxx
 * pair is one code point; a lone surrogate stays one). */
static void decode_string(ustr *u, const jval *v)
{
    const char *p = v->s + 1, *e = v->e - 1;
    while (p < e) {
        if (*p != '\\') {
            const char *q = p;
            while (q < e && *q != '\\')
                q++;
            us_bytes(u, p, (size_t)(q - p));
            p = q;
            continue;
        }
        p++;
        char c = *p++;
        switch (c) {
        case 'b': us_push(u, '\b'); break;
        case 'f': us_push(u, '\f'); break;
        case 'n': us_push(u, '\n'); break;
        case 'r': us_push(u, '\r'); break;
        case 't': us_push(u, '\t'); break;
        case 'u': {
            uint32_t cp = 0;
            for (int k = 0; k < 4; k++)
                cp = (cp << 4) | (uint32_t)hexval(p[k]);
            p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff && e - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                uint32_t lo = 0;
                for (int k = 0; k < 4; k++)
                    lo = (lo << 4) | (uint32_t)hexval(p[2 + k]);
                if (lo >= 0xdc00 && lo <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                }
            }
            us_push(u, cp);
            break;
        }
        default: us_push(u, (unsigned char)c); break;      /* " \ / */
        }
    }
}

static int str_is(const jval *v, const char *want)
{
    if (v->t != J_STR)
        return 0;
    ustr u = {0};
    decode_string(&u, v);
    size_t n = strlen(want);
    int same = u.n == n;
    for (size_t i = 0; same && i < n; i++)
        same = u.p[i] == (unsigned char)want[i];
    free(u.p);
    return same;
}

/* A whole document that is one JSON object; for each key in `keys` the value of its last
 * occurrence (json.loads keeps the last), J_NONE when absent. 0, or -1 when the document
 * is not strict JSON; its type in *top when it is JSON but not an object (returns 1). */
static int parse_object(const char *s, size_t n, const char *const *keys, jval *vals, int nkeys, enum jtype *top)
{
    const char *p = s, *e = s + n;
    jval whole;
    for (int i = 0; i < nkeys; i++)
        vals[i].t = J_NONE;
    p = skip_ws(p, e);
    const char *end = scan_value(p, e, 0, &whole);
    if (!end || skip_ws(end, e) != e)
        return -1;
    *top = whole.t;
    if (whole.t != J_OBJ)
        return 1;
    /* The document is valid: walk its top-level members again, picking the keys. */
    p = skip_ws(p + 1, e);
    while (p < e && *p == '"') {
        jval key, val;
        key.t = J_STR;
        key.s = p;
        key.e = p = scan_string(p, e);
        p = skip_ws(skip_ws(p, e) + 1, e);
        p = skip_ws(scan_value(p, e, 1, &val), e);
        for (int i = 0; i < nkeys; i++)
            if (str_is(&key, keys[i]))
                vals[i] = val;
        if (*p == ',')
            p = skip_ws(p + 1, e);
        else
            break;
    }
    return 0;
}

/* A valid JSON value's bytes without the whitespace between tokens (the request is one line). */
static void add_compact(buf_t *b, const jval *v)
{
    const char *p = v->s, *run = p;
    int in_str = 0;
    for (; p < v->e; p++) {
        char c = *p;
        if (in_str) {
            if (c == '\\')
                p++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            buf_add(b, run, (size_t)(p - run));
            run = p + 1;
        }
    }
    buf_add(b, run, (size_t)(v->e - run));
}

/* ------------------------------------------------------------------ handing over */

static char **pass_argv;        /* the options for the Python hook (without --python) */
static int pass_argc;
static const char *python = "python3";

/* Run the Python hook in this process, with `data` (the event read so far; NULL: stdin
 * was not read) on its stdin. Does not return. */
static void hand_over(const char *data, size_t n) __attribute__((noreturn));
static void hand_over(const char *data, size_t n)
{
    if (data) {
        int fd = -1;
#ifdef MFD_CLOEXEC
        fd = memfd_create("lighthouse-hook-event", 0);
#endif
        if (fd < 0) {
            FILE *f = tmpfile();
            fd = f ? dup(fileno(f)) : -1;
        }
        if (fd < 0 || write_all(fd, data, n) || lseek(fd, 0, SEEK_SET) != 0 || dup2(fd, 0) < 0) {
            ustr r = {0};
            us_fmt(&r, "lighthouse hook: cannot pass the event to the Python hook (%s); the call is blocked",
                   strerror(errno));
            answer("deny", &r);
        }
        if (fd != 0)
            close(fd);
    }
    char **argv = xrealloc(NULL, sizeof *argv * (size_t)(pass_argc + 5));
    int k = 0;
    argv[k++] = (char *)python;
    argv[k++] = "-P";
    argv[k++] = "-m";
    argv[k++] = "lighthouse.hooks.claude_code";
    for (int i = 0; i < pass_argc; i++)
        argv[k++] = pass_argv[i];
    argv[k] = NULL;
    signal(SIGPIPE, SIG_DFL);
    if (strchr(python, '/'))
        execv(python, argv);
    else
        execvp(python, argv);
    int err = errno;
    signal(SIGPIPE, SIG_IGN);
    ustr r = {0};
    us_fmt(&r, "lighthouse hook: the Python hook (%s), which decides what this program does not, cannot be "
           "started (%s); the call is blocked", python, strerror(err));
    answer("deny", &r);
}

/* ------------------------------------------------------------------ options */

static double opt_timeout = DEFAULT_TIMEOUT, opt_wait = DEFAULT_WAIT;
static const char *opt_socket, *opt_agent = "claude-code";

/* A plain decimal number (what float() surely reads the same); else -1. */
static double seconds(const char *s)
{
    const char *p = s;
    int digits = 0, dot = 0;
    for (; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p == '.' && !dot)
            dot = 1;
        else
            return -1;
    }
    if (!digits || p - s > 32)
        return -1;
    return strtod(s, NULL);
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* 0: understood; -1: for the Python hook to answer (help, a bad or unchecked option).
 * Mirrors claude_code.parse_args. */
static int parse_options(int argc, char **argv)
{
    pass_argv = xrealloc(NULL, sizeof *pass_argv * (size_t)(argc + 1));
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--python") && i + 1 < argc)
            python = argv[++i];
        else if (!strncmp(argv[i], "--python=", 9))
            python = argv[i] + 9;
        else
            pass_argv[pass_argc++] = argv[i];
    }
    pass_argv[pass_argc] = NULL;
    for (int i = 0; i < pass_argc; i++)
        if (!strcmp(pass_argv[i], "-h") || !strcmp(pass_argv[i], "--help"))
            return -1;
    const char *tls_ca = env_nonempty("LIGHTHOUSE_TLS_CA"), *tls_cert = env_nonempty("LIGHTHOUSE_TLS_CERT"),
               *tls_key = env_nonempty("LIGHTHOUSE_TLS_KEY");
    static const char *const names[] = {"--socket", "--server", "--timeout", "--wait", "--rules",
                                        "--agent-id", "--tls-ca", "--tls-cert", "--tls-key"};
    for (int i = 0; i < pass_argc; i++) {
        const char *arg = pass_argv[i];
        if (!strcmp(arg, "--defer")) {
            opt_defer = 1;
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        int which = -1;
        for (int k = 0; k < (int)(sizeof names / sizeof *names); k++)
            if (strlen(names[k]) == len && !strncmp(arg, names[k], len))
                which = k;
        if (which < 0)
            return -1;
        const char *value = eq ? eq + 1 : NULL;
        if (!value) {
            if (i + 1 >= pass_argc)
                return -1;
            value = pass_argv[++i];
        }
        double v;
        switch (which) {
        case 0: opt_socket = value; break;
        case 2:
        case 3:
            v = seconds(value);
            if (!(v > 0 && v <= (which == 2 ? MAX_TIMEOUT : MAX_WAIT)))
                return -1;
            if (which == 2)
                opt_timeout = v;
            else
                opt_wait = v;
            break;
        case 5: opt_agent = value; break;
        case 6: tls_ca = *value ? value : NULL; break;
        case 7: tls_cert = *value ? value : NULL; break;
        case 8: tls_key = *value ? value : NULL; break;
        default: break;         /* --server, --rules: the Python hook's business */
        }
    }
    if ((!tls_cert) != (!tls_key) || (tls_cert && !tls_ca))
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ the socket */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* poll() one fd until `deadline`: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, double deadline)
{
    for (;;) {
        double left = deadline - now();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int ms = (int)ceil(left * 1000.0);
        int r = poll(&p, 1, ms);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* os.path.dirname(path) or "." */
static char *parent_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    size_t n = (size_t)(slash - path) + 1;
    size_t all = 0;
    while (all < n && path[all] == '/')
        all++;
    if (all != n)
        while (n > 0 && path[n - 1] == '/')
            n--;
    return strndup(path, n);
}

/* localsock.trusted_socket: this user's (or root's) socket in a directory others cannot
 * write to (unless sticky). */
static int trusted_socket(const char *path)
{
    struct stat st, pst;
    uid_t uid = getuid();
    if (lstat(path, &st) || !S_ISSOCK(st.st_mode) || (st.st_uid != uid && st.st_uid != 0))
        return 0;
    char *parent = parent_of(path);
    int ok = parent && !stat(parent, &pst) && (pst.st_uid == uid || pst.st_uid == 0)
        && (!(pst.st_mode & 022) || (pst.st_mode & S_ISVTX));
    free(parent);
    return ok;
}

/* The default socket path: localsock.resolve_socket_path. */
static char *socket_path(void)
{
    const char *p = opt_socket && *opt_socket ? opt_socket : env_nonempty("LIGHTHOUSE_SOCKET");
    if (p)
        return strdup(p);
    const char *run = getenv("XDG_RUNTIME_DIR");
    char *out;
    if (run && run[0] == '/') {
        size_t n = strlen(run);
        if (asprintf(&out, "%s%slighthouse.sock", run, run[n - 1] == '/' ? "" : "/") < 0)
            return NULL;
    } else if (asprintf(&out, "/tmp/lighthouse-%u/lighthouse.sock", (unsigned)getuid()) < 0) {
        return NULL;
    }
    return out;
}

/* A connected socket to a trustworthy server, or -1. */
static int connect_to(const char *path, double deadline)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (!trusted_socket(path) || strlen(path) >= sizeof sa.sun_path)
        return -1;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    for (;;) {
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            break;
        if (errno == EAGAIN) {          /* the listen backlog is full: try again shortly */
            if (now() + 0.005 >= deadline)
                goto fail;
            poll(NULL, 0, 5);
            continue;
        }
        if (errno == EINPROGRESS || errno == EINTR) {
            int err = 0;
            socklen_t len = sizeof err;
            if (wait_fd(fd, POLLOUT, deadline) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) || err)
                goto fail;
            break;
        }
        goto fail;
    }
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) || (cred.uid != getuid() && cred.uid != 0))
        goto fail;
    return fd;
fail:
    close(fd);
    return -1;
}

/* Send it all before `deadline`: 0; -1 timed out or failed. A server that stops reading
 * (it refused a request over its limit, said so and closed) is not a failure: its answer
 * waits to be read. */
static int send_all(int fd, const char *p, size_t n, double deadline)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w >= 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EPIPE || errno == ECONNRESET)
            return 0;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        if (wait_fd(fd, POLLOUT, deadline) != 1)
            return -1;
    }
    return 0;
}

enum { LINE_OK, LINE_TIMEOUT, LINE_ERROR };

/* The next line (to *line, *len; at end of input what is there; past MAX_LINE bytes what
 * was read), keeping what follows in `in`. */
static int read_line(int fd, buf_t *in, size_t *consumed, double deadline, const char **line, size_t *len,
                     int *err)
{
    for (;;) {
        char *start = in->p ? in->p + *consumed : NULL;
        size_t have = in->n - *consumed;
        char *nl = start ? memchr(start, '\n', have) : NULL;
        if (nl || have > MAX_LINE) {
            *line = start;
            *len = nl ? (size_t)(nl - start) : have;
            *consumed += nl ? *len + 1 : have;
            return LINE_OK;
        }
        int r = wait_fd(fd, POLLIN, deadline);
        if (r == 0)
            return LINE_TIMEOUT;
        char chunk[65536];
        ssize_t got = r < 0 ? -1 : recv(fd, chunk, sizeof chunk, 0);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got < 0 && errno != ECONNRESET) {
            *err = errno;
            return LINE_ERROR;
        }
        if (got <= 0) {                 /* end of input */
            *line = start ? start : "";
            *len = have;
            *consumed += have;
            return LINE_OK;
        }
        buf_add(in, chunk, (size_t)got);
    }
}

/* ------------------------------------------------------------------ deciding */

/* Python's "%s" of a JSON scalar in the reply: 0 when it has no plain rendering. */
static int py_str(ustr *u, const jval *v)
{
    switch (v->t) {
    case J_STR: decode_string(u, v); return 1;
    case J_NULL: us_fmt(u, "None"); return 1;
    case J_TRUE: us_fmt(u, "True"); return 1;
    case J_FALSE: us_fmt(u, "False"); return 1;
    case J_INT: {
        const char *p = v->s;
        int neg = *p == '-';
        p += neg;
        if (neg && !(v->e - p == 1 && *p == '0'))
            us_push(u, '-');
        us_bytes(u, p, (size_t)(v->e - p));
        return 1;
    }
    default: return 0;
    }
}

/* Python's truth value of a JSON value (absent: false). */
static int py_true(const jval *v)
{
    switch (v->t) {
    case J_STR: return v->e - v->s > 2;
    case J_TRUE: return 1;
    case J_INT: return !(v->e - v->s == 1 || (v->e - v->s == 2 && v->s[0] == '-'));
    case J_FLOAT: return strtod(v->s, NULL) != 0;
    case J_OBJ: case J_ARR: return skip_ws(v->s + 1, v->e) != v->e - 1;
    default: return 0;
    }
}

static const char *type_name(enum jtype t)
{
    switch (t) {
    case J_ARR: return "list";
    case J_STR: return "str";
    case J_INT: return "int";
    case J_FLOAT: return "float";
    case J_TRUE: case J_FALSE: return "bool";
    default: return "NoneType";
    }
}

typedef struct {
    int seen;
    double deadline;            /* announced; <= 0 when none */
    const char *fallback;       /* "ask" or "deny" */
    ustr reason, rule_id;
} pending_t;

/* claude_code._fail_mode for a call the server was deciding: its fail-mode verdict. */
static void fail_mode(const pending_t *pd, const char *path, ustr *what, double wait_arg)
{
    ustr msg = {0}, text = {0};
    us_fmt(&msg, "the server at ");
    us_bytes(&msg, path, strlen(path));
    us_fmt(&msg, " was deciding this call but gave no decision (");
    us_cat(&msg, what);
    us_fmt(&msg, ")");
    if (pd->deadline > 0 && pd->deadline + ANSWER_GRACE > wait_arg)
        us_fmt(&msg, "; it takes up to %gs, longer than this client waits (%.1fs)", pd->deadline, wait_arg);
    fputs("lighthouse hook: ", stderr);
    for (size_t i = 0; i < msg.n; i++)
        fputc(msg.p[i] < 0x80 ? (int)msg.p[i] : '?', stderr);
    fputc('\n', stderr);
    us_fmt(&text, "lighthouse: ");
    if (pd->reason.n)
        us_cat(&text, &pd->reason);
    else
        us_fmt(&text, "escalated, fail-mode verdict %s", pd->fallback);
    us_fmt(&text, "; ");
    us_cat(&text, &msg);
    if (pd->deadline > 0 && pd->deadline + ANSWER_GRACE > opt_wait)
        us_fmt(&text, " (lighthouse hook install --escalation-deadline %g lets the hook wait longer)",
               ceil(pd->deadline));
    if (pd->rule_id.n) {
        us_fmt(&text, " [rule ");
        us_cat(&text, &pd->rule_id);
        us_fmt(&text, "]");
    }
    answer(pd->fallback, &text);
}

static const char *const REPLY_KEYS[] = {"verdict", "reason", "rule_id", "error", "message", "pending",
                                         "deadline", "fallback"};
enum { R_VERDICT, R_REASON, R_RULE, R_ERROR, R_MESSAGE, R_PENDING, R_DEADLINE, R_FALLBACK, R_N };

/* The server's answer to a decision (or refusal) reply. */
static void answer_reply(const jval *r, const char *path)
{
    static const char *const verdicts[] = {"allow", "ask", "deny"};
    for (int i = 0; i < 3; i++) {
        if (!str_is(&r[R_VERDICT], verdicts[i]))
            continue;
        ustr text = {0};
        us_fmt(&text, "lighthouse: ");
        int ok = r[R_REASON].t == J_NONE || py_str(&text, &r[R_REASON]);
        if (ok && py_true(&r[R_RULE])) {
            us_fmt(&text, " [rule ");
            ok = py_str(&text, &r[R_RULE]);
            us_fmt(&text, "]");
        }
        if (!ok) {
            text.n = 0;
            us_fmt(&text, "lighthouse: the server at %s gave a reason this client cannot read", path);
        }
        answer(verdicts[i], &text);
    }
    /* An answer that is no verdict: a refusal (too large, invalid, rate limited), a deny. */
    ustr text = {0};
    us_fmt(&text, "lighthouse server refused this call (");
    int ok = 1;
    if (py_true(&r[R_ERROR]))
        ok = py_str(&text, &r[R_ERROR]);
    else
        us_fmt(&text, "no verdict");
    us_fmt(&text, ": ");
    if (ok && py_true(&r[R_MESSAGE]))
        ok = py_str(&text, &r[R_MESSAGE]);
    us_fmt(&text, ")");
    if (!ok) {
        text.n = 0;
        us_fmt(&text, "lighthouse server refused this call (the server at %s answered an error this client "
               "cannot read)", path);
    }
    answer("deny", &text);
}

/* Ask the server at `path`; answers and exits, or returns when no (trustworthy) server
 * answered in time, for the Python hook to take over. */
static void ask_server(const char *path, const char *request, size_t reqlen)
{
    double start = now();
    double timeout = opt_timeout;
    double wait_arg = opt_wait - (now() - start);
    double deadline = start + timeout;
    int fd = connect_to(path, deadline);
    if (fd < 0)
        return;
    if (send_all(fd, request, reqlen, deadline)) {
        close(fd);
        return;
    }
    buf_t in = {0};
    size_t consumed = 0;
    pending_t pd = {0};
    for (;;) {
        const char *line;
        size_t len;
        int err = 0;
        int got = read_line(fd, &in, &consumed, deadline, &line, &len, &err);
        ustr what = {0};
        jval r[R_N];
        enum jtype top = J_NONE;
        if (got == LINE_TIMEOUT) {
            if (!pd.seen)
                break;
            us_fmt(&what, "no decision within %.1fs", now() - start);
        } else if (got == LINE_ERROR) {
            if (!pd.seen)
                break;
            us_fmt(&what, "connection lost: %s", strerror(err));
        } else if (len == 0) {
            if (!pd.seen)
                break;
            us_fmt(&what, "the server at ");
            us_bytes(&what, path, strlen(path));
            us_fmt(&what, " closed the connection without answering");
        } else {
            int parsed = parse_object(line, len, REPLY_KEYS, r, R_N, &top);
            if (parsed != 0 && !pd.seen)
                break;
            if (parsed < 0) {
                us_fmt(&what, "the server at ");
                us_bytes(&what, path, strlen(path));
                us_fmt(&what, " answered something that is not JSON");
            } else if (parsed > 0) {
                us_fmt(&what, "the server at ");
                us_bytes(&what, path, strlen(path));
                us_fmt(&what, " answered a JSON %s, not an object", type_name(top));
            } else if (!pd.seen && r[R_PENDING].t == J_TRUE && r[R_VERDICT].t == J_NONE
                       && r[R_ERROR].t == J_NONE) {
                /* The server is deciding: wait for its answer until the deadline it
                 * announced (plus the grace), at most max(wait, timeout) from the start. */
                pd.seen = 1;
                if (r[R_DEADLINE].t == J_INT || r[R_DEADLINE].t == J_FLOAT) {
                    double d = strtod(r[R_DEADLINE].s, NULL);
                    pd.deadline = d > 0 && isfinite(d) ? d : 0;
                }
                pd.fallback = str_is(&r[R_FALLBACK], "deny") ? "deny" : "ask";
                if (r[R_REASON].t == J_STR)
                    decode_string(&pd.reason, &r[R_REASON]);
                if (r[R_RULE].t == J_STR)
                    decode_string(&pd.rule_id, &r[R_RULE]);
                double limit = start + (wait_arg > timeout ? wait_arg : timeout);
                deadline = limit;
                if (pd.deadline > 0 && now() + pd.deadline + ANSWER_GRACE < limit)
                    deadline = now() + pd.deadline + ANSWER_GRACE;
                continue;
            } else {
                close(fd);
                answer_reply(r, path);
            }
        }
        close(fd);
        fail_mode(&pd, path, &what, wait_arg);
    }
    close(fd);
    free(in.p);
}

/* os.path.expanduser("~") */
static char *home_dir(void)
{
    const char *h = getenv("HOME");
    if (!h) {
        struct passwd *pw = getpwuid(getuid());
        if (!pw)
            return strdup("~");
        h = pw->pw_dir;
    }
    size_t n = strlen(h);
    while (n > 0 && h[n - 1] == '/')
        n--;
    return n ? strndup(h, n) : strdup("/");
}

static void add_text(buf_t *b, const char *s)
{
    ustr u = {0};
    us_bytes(&u, s, strlen(s));
    json_quote(b, u.p, u.n);
    free(u.p);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (parse_options(argc, argv))
        hand_over(NULL, 0);

    buf_t ev = {0};
    char chunk[65536];
    for (;;) {
        ssize_t got = read(0, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            ustr r = {0};
            us_fmt(&r, "lighthouse: cannot read the hook input (%s)", strerror(errno));
            answer("deny", &r);
        }
        if (got == 0)
            break;
        if (ev.n + (size_t)got > MAX_EVENT) {
            ustr r = {0};
            us_fmt(&r, "lighthouse: hook input exceeds %d bytes", MAX_EVENT);
            answer("deny", &r);
        }
        buf_add(&ev, chunk, (size_t)got);
    }

    static const char *const keys[] = {"hook_event_name", "tool_name", "tool_input", "cwd", "session_id"};
    jval v[5];
    enum jtype top;
    if (!ev.p || parse_object(ev.p, ev.n, keys, v, 5, &top)
        || (v[0].t != J_NONE && !(v[0].e - v[0].s == 12 && !memcmp(v[0].s, "\"PreToolUse\"", 12)))
        || v[1].t != J_STR || v[1].e - v[1].s == 2 || v[2].t != J_OBJ)
        hand_over(ev.p ? ev.p : "", ev.n);     /* the Python hook names the problem */

    buf_t req = {0};
    buf_str(&req, "{\"tool\":");
    add_compact(&req, &v[1]);
    buf_str(&req, ",\"input\":");
    add_compact(&req, &v[2]);
    buf_str(&req, ",\"cwd\":");
    if (v[3].t == J_STR && v[3].e - v[3].s > 2) {
        add_compact(&req, &v[3]);
    } else {
        char *cwd = getcwd(NULL, 0);
        if (!cwd)
            hand_over(ev.p, ev.n);
        add_text(&req, cwd);
        free(cwd);
    }
    buf_str(&req, ",\"session_id\":");
    if (v[4].t == J_STR)
        add_compact(&req, &v[4]);
    else
        buf_str(&req, "null");
    buf_str(&req, ",\"agent_id\":");
    add_text(&req, opt_agent);
    buf_str(&req, ",\"home\":");
    char *home = home_dir();
    if (!home)
        hand_over(ev.p, ev.n);
    add_text(&req, home);
    buf_str(&req, ",\"progress\":true}\n");

    char *path = socket_path();
    if (path)
        ask_server(path, req.p, req.n);
    hand_over(ev.p, ev.n);
    return 0;
}
