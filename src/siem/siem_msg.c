/*
 * Program-specific message parsers: OpenSSH sshd, sudo, PAM, generic
 * Linux account/auth programs (su, login, useradd, usermod, passwd,
 * systemd-logind) and netfilter (iptables/nftables LOG) kernel lines.
 *
 * Messages are matched against tables of templates (siem_tmatch), each
 * with the ECS classification it implies and where its captures go, so
 * adding a message is one table row. Captured text is never copied: the
 * message lives in the event's arena and fields point into it. Parsers
 * return 1 (recognised), 0 (not ours; the event keeps what it had) or -1
 * (arena exhausted).
 */
#include "siem/siem_int.h"

/* Where a template capture goes. */
enum cap {
	C_NONE, /* end of the list */
	C_SKIP, /* a capture that goes nowhere */
	C_USER,	    /* user.name */
	C_SRC,	    /* source.ip, or source.domain if not an IP */
	C_SPORT,    /* source.port */
	C_DST,	    /* destination.ip */
	C_DPORT,    /* destination.port */
	C_METHOD,   /* label ssh.method */
	C_REASON,   /* event.reason */
	C_EUSER,    /* user.effective.name */
	C_TUSER,    /* user.target.name */
	C_GROUP,    /* group.name */
	C_SESSION,  /* label session.id */
	C_TTY,      /* label tty */
};

struct pat {
	const char *tmpl;
	const char *category, *type, *action, *outcome;
	unsigned char caps[5];
};

static void put_cap(struct siem_event *ev, enum cap c, struct bw_str v)
{
	switch (c) {
	case C_NONE:
	case C_SKIP:
		break;
	case C_USER:
		siem_event_set(ev, SIEM_F_USER_NAME, v.p, v.len);
		break;
	case C_SRC:
		siem_event_set(ev, siem_is_ip(v.p, v.len) ? SIEM_F_SOURCE_IP
							  : SIEM_F_SOURCE_DOMAIN,
			       v.p, v.len);
		break;
	case C_SPORT:
		siem_event_set(ev, SIEM_F_SOURCE_PORT, v.p, v.len);
		break;
	case C_DST:
		siem_event_set(ev, SIEM_F_DESTINATION_IP, v.p, v.len);
		break;
	case C_DPORT:
		siem_event_set(ev, SIEM_F_DESTINATION_PORT, v.p, v.len);
		break;
	case C_METHOD:
		(void)siem_event_label(ev, "ssh.method", 10, v.p, v.len);
		break;
	case C_REASON:
		siem_event_set(ev, SIEM_F_EVENT_REASON, v.p, v.len);
		break;
	case C_EUSER:
		siem_event_set(ev, SIEM_F_USER_EFFECTIVE_NAME, v.p, v.len);
		break;
	case C_TUSER:
		siem_event_set(ev, SIEM_F_USER_TARGET_NAME, v.p, v.len);
		break;
	case C_GROUP:
		siem_event_set(ev, SIEM_F_GROUP_NAME, v.p, v.len);
		break;
	case C_SESSION:
		(void)siem_event_label(ev, "session.id", 10, v.p, v.len);
		break;
	case C_TTY:
		(void)siem_event_label(ev, "tty", 3, v.p, v.len);
		break;
	}
}

static int match_table(struct siem_event *ev, const struct pat *t, size_t n,
		       const char *msg, size_t len)
{
	struct bw_str caps[5];
	for (size_t i = 0; i < n; i++) {
		if (!siem_tmatch(t[i].tmpl, msg, len, caps, 5))
			continue;
		for (size_t c = 0; c < 5 && t[i].caps[c]; c++)
			put_cap(ev, (enum cap)t[i].caps[c], caps[c]);
		siem_event_classify(ev, t[i].category, t[i].type, t[i].action,
				    t[i].outcome);
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ sshd */

#define AUTH "authentication"
static const struct pat sshd_pats[] = {
	{ "Accepted %w for %w from %w port %d%r", AUTH, "start", "ssh_login",
	  "success", { C_METHOD, C_USER, C_SRC, C_SPORT } },
	{ "Failed %w for invalid user %w from %w port %d%r", AUTH, "start",
	  "ssh_login", "failure", { C_METHOD, C_USER, C_SRC, C_SPORT } },
	{ "Failed %w for %w from %w port %d%r", AUTH, "start", "ssh_login",
	  "failure", { C_METHOD, C_USER, C_SRC, C_SPORT } },
	{ "Invalid user %w from %w port %d%r", AUTH, "info",
	  "ssh_invalid_user", "failure", { C_USER, C_SRC, C_SPORT } },
	{ "Invalid user %w from %w", AUTH, "info", "ssh_invalid_user",
	  "failure", { C_USER, C_SRC } },
	{ "Invalid user  from %w port %d%r", AUTH, "info", "ssh_invalid_user",
	  "failure", { C_SRC, C_SPORT } },
	{ "error: maximum authentication attempts exceeded for invalid user "
	  "%w from %w port %d%r",
	  AUTH, "info", "ssh_max_auth_exceeded", "failure",
	  { C_USER, C_SRC, C_SPORT } },
	{ "error: maximum authentication attempts exceeded for %w from %w "
	  "port %d%r",
	  AUTH, "info", "ssh_max_auth_exceeded", "failure",
	  { C_USER, C_SRC, C_SPORT } },
	{ "User %w from %w not allowed because %r", AUTH, "denied",
	  "ssh_user_not_allowed", "failure", { C_USER, C_SRC, C_REASON } },
	{ "Disconnected from user %w %w port %d%r", "session", "end",
	  "ssh_disconnect", "success", { C_USER, C_SRC, C_SPORT } },
	{ "Disconnected from authenticating user %w %w port %d%r", "session",
	  "end", "ssh_disconnect", "failure", { C_USER, C_SRC, C_SPORT } },
	{ "Disconnected from invalid user %w %w port %d%r", "session", "end",
	  "ssh_disconnect", "failure", { C_USER, C_SRC, C_SPORT } },
	{ "Disconnected from %w port %d%r", "session", "end", "ssh_disconnect",
	  NULL, { C_SRC, C_SPORT } },
	{ "Received disconnect from %w port %d:%r", "session", "end",
	  "ssh_disconnect", NULL, { C_SRC, C_SPORT, C_REASON } },
	{ "Connection closed by authenticating user %w %w port %d%r",
	  "session", "end", "ssh_connection_closed", "failure",
	  { C_USER, C_SRC, C_SPORT } },
	{ "Connection closed by invalid user %w %w port %d%r", "session",
	  "end", "ssh_connection_closed", "failure",
	  { C_USER, C_SRC, C_SPORT } },
	{ "Connection closed by %w port %d%r", "session", "end",
	  "ssh_connection_closed", NULL, { C_SRC, C_SPORT } },
	{ "Connection reset by %w port %d%r", "session", "end",
	  "ssh_connection_closed", NULL, { C_SRC, C_SPORT } },
	{ "Connection from %w port %d on %w port %d%r", "network", "start",
	  "ssh_connection", NULL, { C_SRC, C_SPORT, C_DST, C_DPORT } },
	{ "Did not receive identification string from %w port %d", "network",
	  "info", "ssh_no_identification", "failure", { C_SRC, C_SPORT } },
	{ "Did not receive identification string from %w", "network", "info",
	  "ssh_no_identification", "failure", { C_SRC } },
	{ "Unable to negotiate with %w port %d: %r", "network", "info",
	  "ssh_negotiation_failed", "failure", { C_SRC, C_SPORT, C_REASON } },
	{ "banner exchange: Connection from %w port %d: %r", "network",
	  "info", "ssh_bad_banner", "failure", { C_SRC, C_SPORT, C_REASON } },
	{ "Timeout before authentication for %w port %d", AUTH, "info",
	  "ssh_auth_timeout", "failure", { C_SRC, C_SPORT } },
	{ "Server listening on %w port %d.", "process", "start",
	  "ssh_listening", NULL, { C_DST, C_DPORT } },
};

/* "... rhost=1.2.3.4  user=root": value of key in a space-separated
 * key=value list (values may be empty). */
static struct bw_str kv_get(const char *p, size_t len, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i + kl < len; i++) {
		if ((i == 0 || p[i - 1] == ' ' || p[i - 1] == ';') &&
		    memcmp(p + i, key, kl) == 0 && p[i + kl] == '=') {
			size_t v = i + kl + 1, e = v;
			while (e < len && p[e] != ' ' && p[e] != ';')
				e++;
			return bw_str_make(p + v, e - v);
		}
	}
	return bw_str_make(NULL, 0);
}

int siem_msg_sshd(struct siem_event *ev, const char *msg, size_t len)
{
	int r = match_table(ev, sshd_pats, BW_ARRAY_LEN(sshd_pats), msg, len);
	if (!r && siem_tmatch("PAM %d more authentication failure%r", msg, len,
			      NULL, 0)) {
		struct bw_str u = kv_get(msg, len, "user");
		struct bw_str h = kv_get(msg, len, "rhost");
		if (u.len)
			put_cap(ev, C_USER, u);
		if (h.len)
			put_cap(ev, C_SRC, h);
		siem_event_classify(ev, AUTH, "info", "ssh_login", "failure");
		r = 1;
	}
	if (r) {
		siem_event_setz(ev, SIEM_F_EVENT_DATASET, "sshd");
		if (!ev->f[SIEM_F_NETWORK_PROTOCOL].p)
			siem_event_setz(ev, SIEM_F_NETWORK_PROTOCOL, "ssh");
	}
	return r;
}

/* ------------------------------------------------------------------ sudo */

int siem_msg_sudo(struct siem_event *ev, const char *msg, size_t len)
{
	struct bw_str m = siem_trim(bw_str_make(msg, len));
	const char *sep = NULL;
	for (size_t i = 0; i + 3 <= m.len; i++)
		if (memcmp(m.p + i, " : ", 3) == 0) {
			sep = m.p + i;
			break;
		}
	if (!sep || sep == m.p)
		return 0;
	struct bw_str user = bw_str_make(m.p, (size_t)(sep - m.p));
	if (memchr(user.p, ' ', user.len))
		return 0;
	const char *p = sep + 3;
	size_t n = (size_t)(m.p + m.len - p);
	/* COMMAND= is last and may itself contain " ; " */
	const char *cmd = NULL;
	for (size_t i = 0; i + 8 <= n; i++)
		if (memcmp(p + i, "COMMAND=", 8) == 0 &&
		    (i == 0 || p[i - 1] == ' ')) {
			cmd = p + i;
			break;
		}
	size_t kvlen = cmd ? (size_t)(cmd - p) : n;
	struct bw_str problem = { NULL, 0 };
	bool any_kv = false;
	size_t i = 0;
	while (i < kvlen) {
		size_t s = i;
		while (i < kvlen && !(i + 3 <= kvlen && memcmp(p + i, " ; ", 3) == 0))
			i++;
		struct bw_str seg = siem_trim(bw_str_make(p + s, i - s));
		if (i < kvlen)
			i += 3;
		if (seg.len && seg.p[seg.len - 1] == ';')
			seg.len--;
		seg = siem_trim(seg);
		const char *eq = memchr(seg.p, '=', seg.len);
		if (!eq) {
			if (!any_kv && seg.len)
				problem = seg;
			continue;
		}
		any_kv = true;
		struct bw_str k = bw_str_make(seg.p, (size_t)(eq - seg.p));
		struct bw_str v = bw_str_make(eq + 1, seg.len - k.len - 1);
		if (bw_str_eq_lit(k, "USER"))
			siem_event_set(ev, SIEM_F_USER_EFFECTIVE_NAME, v.p, v.len);
		else if (bw_str_eq_lit(k, "PWD"))
			siem_event_set(ev, SIEM_F_PROCESS_WORKING_DIRECTORY, v.p,
				       v.len);
		else if (bw_str_eq_lit(k, "TTY"))
			(void)siem_event_label(ev, "tty", 3, v.p, v.len);
		else if (bw_str_eq_lit(k, "GROUP"))
			siem_event_set(ev, SIEM_F_GROUP_NAME, v.p, v.len);
	}
	if (!cmd && !any_kv)
		return 0;
	if (cmd) {
		struct bw_str c = siem_trim(bw_str_make(cmd + 8,
			(size_t)(m.p + m.len - cmd - 8)));
		siem_event_set(ev, SIEM_F_PROCESS_COMMAND_LINE, c.p, c.len);
		const char *sp = memchr(c.p, ' ', c.len);
		siem_event_set(ev, SIEM_F_PROCESS_EXECUTABLE, c.p,
			       sp ? (size_t)(sp - c.p) : c.len);
	}
	siem_event_set(ev, SIEM_F_USER_NAME, user.p, user.len);
	if (!problem.p) {
		siem_event_classify(ev, "process", "start", "sudo", "success");
	} else {
		siem_event_set(ev, SIEM_F_EVENT_REASON, problem.p, problem.len);
		struct bw_str pr = problem;
		bool pw = false;
		for (size_t k = 0; k + 18 <= pr.len && !pw; k++)
			pw = memcmp(pr.p + k, "incorrect password", 18) == 0;
		if (pw)
			siem_event_classify(ev, AUTH, "start",
					    "sudo_auth_failure", "failure");
		else
			siem_event_classify(ev, "process", "denied",
					    "sudo_denied", "failure");
	}
	siem_event_setz(ev, SIEM_F_EVENT_DATASET, "sudo");
	return 1;
}

/* ------------------------------------------------------------------- PAM */

/* "alice(uid=1000)" -> "alice"; "(uid=0)" -> empty */
static struct bw_str strip_uid(struct bw_str s)
{
	const char *par = memchr(s.p, '(', s.len);
	if (par)
		s.len = (size_t)(par - s.p);
	return s;
}

int siem_msg_pam(struct siem_event *ev, const char *msg, size_t len)
{
	struct bw_str c[4];
	if (!siem_tmatch("pam_%w(%w:%w): %r", msg, len, c, 4))
		return 0;
	(void)siem_event_label(ev, "pam.module", 10, c[0].p, c[0].len);
	(void)siem_event_label(ev, "pam.service", 11, c[1].p, c[1].len);
	(void)siem_event_label(ev, "pam.type", 8, c[2].p, c[2].len);
	siem_event_setz(ev, SIEM_F_EVENT_DATASET, "pam");
	struct bw_str rest = c[3], x[3];
	if (siem_str_startswith(rest.p, rest.len, "authentication failure")) {
		struct bw_str u = kv_get(rest.p, rest.len, "user");
		if (!u.len)
			u = kv_get(rest.p, rest.len, "ruser");
		if (!u.len)
			u = kv_get(rest.p, rest.len, "logname");
		struct bw_str h = kv_get(rest.p, rest.len, "rhost");
		if (u.len)
			put_cap(ev, C_USER, u);
		if (h.len)
			put_cap(ev, C_SRC, h);
		siem_event_classify(ev, AUTH, "start",
				    "pam_authentication_failure", "failure");
		return 1;
	}
	if (siem_tmatch("session opened for user %w by %r", rest.p, rest.len,
			x, 2)) {
		struct bw_str su = strip_uid(x[0]), by = strip_uid(x[1]);
		if (by.len) {
			siem_event_set(ev, SIEM_F_USER_NAME, by.p, by.len);
			siem_event_set(ev, SIEM_F_USER_EFFECTIVE_NAME, su.p,
				       su.len);
		} else {
			siem_event_set(ev, SIEM_F_USER_NAME, su.p, su.len);
		}
		siem_event_classify(ev, "session", "start", "session_opened",
				    "success");
		return 1;
	}
	if (siem_tmatch("session closed for user %w", rest.p, rest.len, x, 1)) {
		struct bw_str su = strip_uid(x[0]);
		siem_event_set(ev, SIEM_F_USER_NAME, su.p, su.len);
		siem_event_classify(ev, "session", "end", "session_closed",
				    "success");
		return 1;
	}
	if (siem_tmatch("password changed for %w", rest.p, rest.len, x, 1)) {
		siem_event_set(ev, SIEM_F_USER_TARGET_NAME, x[0].p, x[0].len);
		siem_event_classify(ev, "iam", "change", "password_changed",
				    "success");
		return 1;
	}
	if (siem_str_startswith(rest.p, rest.len, "check pass; user unknown")) {
		siem_event_setz(ev, SIEM_F_EVENT_REASON, "user unknown");
		siem_event_classify(ev, AUTH, "start",
				    "pam_authentication_failure", "failure");
		return 1;
	}
	/* another PAM module or message: at least say which phase */
	if (bw_str_eq_lit(c[2], "auth"))
		siem_event_setz(ev, SIEM_F_EVENT_CATEGORY, AUTH);
	return 1;
}

/* ----------------------------------------------------------- Linux auth */

static const struct pat auth_pats[] = {
	{ "FAILED SU (to %w) %w on %w", AUTH, "start", "su", "failure",
	  { C_EUSER, C_USER, C_TTY } },
	{ "(to %w) %w on %w", AUTH, "start", "su", "success",
	  { C_EUSER, C_USER, C_TTY } },
	{ "FAILED su for %w by %w", AUTH, "start", "su", "failure",
	  { C_EUSER, C_USER } },
	{ "Successful su for %w by %w", AUTH, "start", "su", "success",
	  { C_EUSER, C_USER } },
	{ "FAILED LOGIN %d FROM %w FOR %w, %r", AUTH, "start", "login",
	  "failure", { C_SKIP, C_TTY, C_USER, C_REASON } },
	{ "FAILED LOGIN (%d) on '%w' FOR '%w', %r", AUTH, "start", "login",
	  "failure", { C_SKIP, C_TTY, C_USER, C_REASON } },
	{ "ROOT LOGIN  on '%w'", AUTH, "start", "login", "success",
	  { C_TTY } },
	{ "ROOT LOGIN on '%w'", AUTH, "start", "login", "success", { C_TTY } },
	{ "LOGIN ON %w BY %w", AUTH, "start", "login", "success",
	  { C_TTY, C_USER } },
	{ "new user: name=%w, UID=%r", "iam", "creation", "user_created",
	  "success", { C_TUSER } },
	{ "delete user '%w'", "iam", "deletion", "user_deleted", "success",
	  { C_TUSER } },
	{ "new group: name=%w, GID=%r", "iam", "creation", "group_created",
	  "success", { C_GROUP } },
	{ "group added to %w: name=%w, GID=%r", "iam", "creation",
	  "group_created", "success", { C_SKIP, C_GROUP } },
	{ "add '%w' to group '%w'", "iam", "change", "user_added_to_group",
	  "success", { C_TUSER, C_GROUP } },
	{ "add '%w' to shadow group '%w'", "iam", "change",
	  "user_added_to_group", "success", { C_TUSER, C_GROUP } },
	{ "removed group '%w' owned by '%w'", "iam", "deletion",
	  "group_deleted", "success", { C_GROUP } },
	{ "password for '%w' changed by '%w'", "iam", "change",
	  "password_changed", "success", { C_TUSER, C_USER } },
	{ "New session %w of user %w.", "session", "start", "session_opened",
	  "success", { C_SESSION, C_USER } },
	{ "Removed session %w.", "session", "end", "session_closed",
	  "success", { C_SESSION } },
};

int siem_msg_auth(struct siem_event *ev, const char *msg, size_t len)
{
	int r = match_table(ev, auth_pats, BW_ARRAY_LEN(auth_pats), msg, len);
	if (r)
		siem_event_setz(ev, SIEM_F_EVENT_DATASET, "auth");
	return r;
}

/* -------------------------------------------------------------- netfilter */

static bool has_word_ci(struct bw_str s, const char *w)
{
	size_t n = strlen(w);
	for (size_t i = 0; i + n <= s.len; i++) {
		size_t j = 0;
		while (j < n && siem_lower(s.p[i + j]) == w[j])
			j++;
		if (j == n)
			return true;
	}
	return false;
}

int siem_msg_netfilter(struct siem_event *ev, const char *msg, size_t len)
{
	/* find "IN=" at the start of a token */
	size_t in = len;
	for (size_t i = 0; i + 3 <= len; i++)
		if (memcmp(msg + i, "IN=", 3) == 0 &&
		    (i == 0 || msg[i - 1] == ' ' || msg[i - 1] == ']' ||
		     msg[i - 1] == ':')) {
			in = i;
			break;
		}
	if (in == len)
		return 0;
	struct bw_str prefix = bw_str_make(msg, in);
	/* the kernel's own "[12345.678901] " uptime stamp is not a prefix */
	if (prefix.len && prefix.p[0] == '[') {
		const char *rb = memchr(prefix.p, ']', prefix.len);
		bool stamp = rb != NULL;
		for (const char *q = prefix.p + 1; stamp && q < rb; q++)
			stamp = siem_isdigit(*q) || *q == '.' || *q == ' ';
		if (stamp) {
			prefix.len -= (size_t)(rb + 1 - prefix.p);
			prefix.p = rb + 1;
		}
	}
	prefix = siem_trim(prefix);
	bool src = false;
	size_t i = in;
	while (i < len) {
		size_t s = i;
		while (i < len && msg[i] != ' ')
			i++;
		struct bw_str tok = bw_str_make(msg + s, i - s);
		while (i < len && msg[i] == ' ')
			i++;
		const char *eq = memchr(tok.p, '=', tok.len);
		if (!eq)
			continue; /* flags: DF SYN ACK ... */
		struct bw_str k = bw_str_make(tok.p, (size_t)(eq - tok.p));
		struct bw_str v = bw_str_make(eq + 1, tok.len - k.len - 1);
		if (v.len == 0)
			continue;
		if (bw_str_eq_lit(k, "IN"))
			siem_event_set(ev, SIEM_F_OBSERVER_INGRESS_INTERFACE,
				       v.p, v.len);
		else if (bw_str_eq_lit(k, "OUT"))
			siem_event_set(ev, SIEM_F_OBSERVER_EGRESS_INTERFACE,
				       v.p, v.len);
		else if (bw_str_eq_lit(k, "SRC")) {
			siem_event_set(ev, SIEM_F_SOURCE_IP, v.p, v.len);
			src = true;
		} else if (bw_str_eq_lit(k, "DST"))
			siem_event_set(ev, SIEM_F_DESTINATION_IP, v.p, v.len);
		else if (bw_str_eq_lit(k, "SPT"))
			siem_event_set(ev, SIEM_F_SOURCE_PORT, v.p, v.len);
		else if (bw_str_eq_lit(k, "DPT"))
			siem_event_set(ev, SIEM_F_DESTINATION_PORT, v.p, v.len);
		else if (bw_str_eq_lit(k, "MAC"))
			(void)siem_event_label(ev, "netfilter.mac", 13, v.p,
					       v.len);
		else if (bw_str_eq_lit(k, "PROTO")) {
			/* ECS wants lowercase (PROTO=TCP -> tcp); the
			 * message is borrowed, so lowercase into the arena */
			char *w = bw_arena_strndup(ev->arena, v.p, v.len);
			if (!w)
				return -1;
			for (size_t q = 0; q < v.len; q++)
				w[q] = siem_lower(w[q]);
			siem_event_set(ev, SIEM_F_NETWORK_TRANSPORT, w, v.len);
		}
	}
	if (!src)
		return 0;
	const char *type = "connection", *outcome = NULL;
	if (has_word_ci(prefix, "block") || has_word_ci(prefix, "drop") ||
	    has_word_ci(prefix, "deny") || has_word_ci(prefix, "reject") ||
	    has_word_ci(prefix, "refuse"))
		type = "denied", outcome = "failure";
	else if (has_word_ci(prefix, "accept") || has_word_ci(prefix, "allow") ||
		 has_word_ci(prefix, "pass"))
		type = "allowed", outcome = "success";
	siem_event_classify(ev, "network", type, NULL, outcome);
	if (prefix.len)
		siem_event_set(ev, SIEM_F_RULE_NAME, prefix.p, prefix.len);
	siem_event_setz(ev, SIEM_F_EVENT_DATASET, "netfilter");
	return 1;
}

/* --------------------------------------------------------------- dispatch */

static bool name_is(struct bw_str n, const char *const *names)
{
	for (; *names; names++)
		if (bw_str_eq_lit(n, *names))
			return true;
	return false;
}

int siem_msg_dispatch(struct siem_event *ev)
{
	struct bw_str m = ev->f[SIEM_F_MESSAGE];
	struct bw_str prog = ev->f[SIEM_F_PROCESS_NAME];
	if (!m.p || m.len == 0)
		return 0;
	if (siem_str_startswith(m.p, m.len, "CEF:") ||
	    siem_str_startswith(m.p, m.len, "LEEF:")) {
		/* CEF/LEEF unescape in place: work on a copy so the caller's
		 * message is never modified */
		char *c = bw_arena_strndup(ev->arena, m.p, m.len);
		if (!c)
			return -1;
		struct bw_err e;
		struct bw_str host = ev->f[SIEM_F_HOST_NAME];
		int r = m.p[0] == 'C'
				? siem_cef_body(ev, c, m.len, NULL, &e)
				: siem_leef_body(ev, c, m.len, NULL, &e);
		if (host.p && !ev->f[SIEM_F_OBSERVER_HOSTNAME].p)
			siem_event_set(ev, SIEM_F_OBSERVER_HOSTNAME, host.p,
				       host.len);
		return r == 0 ? 1 : 0;
	}
	if (siem_str_startswith(m.p, m.len, "pam_"))
		return siem_msg_pam(ev, m.p, m.len);
	static const char *const sshd[] = { "sshd", "sshd-session",
					    "sshd-auth", NULL };
	static const char *const auth[] = {
		"su", "login", "useradd", "userdel", "groupadd", "groupdel",
		"usermod", "passwd", "gpasswd", "chage", "systemd-logind",
		NULL };
	static const char *const web[] = { "nginx", "httpd", "apache2",
					   "apache", NULL };
	if (prog.p) {
		if (name_is(prog, sshd))
			return siem_msg_sshd(ev, m.p, m.len);
		if (bw_str_eq_lit(prog, "sudo"))
			return siem_msg_sudo(ev, m.p, m.len);
		if (name_is(prog, auth))
			return siem_msg_auth(ev, m.p, m.len);
		if (name_is(prog, web)) {
			char *c = bw_arena_strndup(ev->arena, m.p, m.len);
			if (!c)
				return -1;
			struct bw_err e;
			struct bw_str keep = ev->f[SIEM_F_MESSAGE];
			int r = siem_access_body(ev, c, m.len, &e);
			if (r < 0)
				siem_event_set(ev, SIEM_F_MESSAGE, keep.p,
					       keep.len);
			return r == 0 ? 1 : 0;
		}
	}
	/* kernel, ulogd, or a relay that lost the tag */
	return siem_msg_netfilter(ev, m.p, m.len);
}
