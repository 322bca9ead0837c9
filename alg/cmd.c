/*
 * cmd.c - the FTP command table: one row per command.
 *
 * A row says what the core must know of a command: its verb, flags (uses
 * the data channel, sets it up, needs a login, holds the client until
 * answered, carries a secret, takes no argument) and, where the command is
 * more than "queue it and forward it", its request and reply handlers.
 * Adding a command is adding a row; session.c has no per-command switch.
 *
 * The table is also the known command set that tells an FTP control
 * connection from anything else (an HTTP request driven by a web page: NAT
 * slipstreaming, issue 11).  It holds RFC 959 and the extensions clients
 * really send: RFC 775 (X*), 1639 (LPRT/LPSV), 2228 (security), 2389
 * (FEAT/OPTS), 2428 (EPRT/EPSV), 2640 (LANG), 3659 (MDTM/SIZE/MLST/MLSD),
 * 7151 (HOST), and common vendor commands (CLNT, AVBL, MFMT, HASH, XCRC...).
 */
#include <string.h>

#include "alg/cmd.h"

#define F_T	ALG_CF_TRANSFER
#define F_S	(ALG_CF_SETUP | ALG_CF_LOGIN | ALG_CF_BLOCKS)
#define F_NA	ALG_CF_NOARG
#define F_SEC	ALG_CF_SECRET

#define ROW(verb, id, flags, ref, req, rep) { verb, id, flags, ref, req, rep }

static const struct alg_cmd_def alg_cmds[] = {
	/* row 0: a line whose verb is not known (or an empty line) */
	ROW("", ALG_CMD_OTHER, 0, "-", NULL, NULL),

	/* RFC 959: access control */
	ROW("USER", ALG_CMD_USER, 0, "RFC 959", NULL, alg_rep_login),
	ROW("PASS", ALG_CMD_PASS, F_SEC, "RFC 959", NULL, alg_rep_login),
	ROW("ACCT", ALG_CMD_ACCT, F_SEC, "RFC 959", NULL, alg_rep_login),
	ROW("CWD", ALG_CMD_OTHER, 0, "RFC 959", NULL, NULL),
	ROW("CDUP", ALG_CMD_OTHER, F_NA, "RFC 959", NULL, NULL),
	ROW("SMNT", ALG_CMD_OTHER, 0, "RFC 959", NULL, NULL),
	ROW("REIN", ALG_CMD_REIN, F_NA, "RFC 959", NULL, alg_rep_rein),
	ROW("QUIT", ALG_CMD_QUIT, F_NA, "RFC 959", NULL, alg_rep_quit),
	/* RFC 959: transfer parameters; data-channel setup */
	ROW("PORT", ALG_CMD_PORT, F_S | ALG_CF_ACTIVE, "RFC 959", alg_req_active, alg_rep_active),
	ROW("PASV", ALG_CMD_PASV, F_S | ALG_CF_PASSIVE | F_NA, "RFC 959", alg_req_passive,
	    alg_rep_passive),
	ROW("TYPE", ALG_CMD_OTHER, 0, "RFC 959", NULL, NULL),
	ROW("STRU", ALG_CMD_OTHER, 0, "RFC 959", NULL, NULL),
	ROW("MODE", ALG_CMD_OTHER, 0, "RFC 959", NULL, NULL),
	/* RFC 959: service commands */
	ROW("RETR", ALG_CMD_RETR, F_T, "RFC 959", NULL, NULL),
	ROW("STOR", ALG_CMD_STOR, F_T, "RFC 959", NULL, NULL),
	ROW("STOU", ALG_CMD_STOU, F_T, "RFC 959", NULL, NULL),
	ROW("APPE", ALG_CMD_APPE, F_T, "RFC 959", NULL, NULL),
	ROW("ALLO", ALG_CMD_OTHER, 0, "RFC 959", NULL, NULL),
	ROW("REST", ALG_CMD_REST, 0, "RFC 959, 3659", NULL, NULL),
	ROW("RNFR", ALG_CMD_OTHER, 0, "RFC 959", NULL, NULL),
	ROW("RNTO", ALG_CMD_OTHER, 0, "RFC 959", NULL, NULL),
	ROW("ABOR", ALG_CMD_ABOR, F_NA, "RFC 959", NULL, NULL),
	ROW("DELE", ALG_CMD_OTHER, 0, "RFC 959", NULL, NULL),
	ROW("RMD", ALG_CMD_OTHER, 0, "RFC 959", NULL, NULL),
	ROW("MKD", ALG_CMD_OTHER, 0, "RFC 959", NULL, NULL),
	ROW("PWD", ALG_CMD_OTHER, F_NA, "RFC 959", NULL, NULL),
	ROW("LIST", ALG_CMD_LIST, F_T, "RFC 959", NULL, NULL),
	ROW("NLST", ALG_CMD_NLST, F_T, "RFC 959", NULL, NULL),
	ROW("SITE", ALG_CMD_OTHER, 0, "RFC 959", NULL, NULL),
	ROW("SYST", ALG_CMD_OTHER, F_NA, "RFC 959", NULL, NULL),
	ROW("STAT", ALG_CMD_OTHER, 0, "RFC 959", NULL, NULL),
	ROW("HELP", ALG_CMD_OTHER, 0, "RFC 959", NULL, NULL),
	ROW("NOOP", ALG_CMD_OTHER, 0, "RFC 959", NULL, NULL),
	/* RFC 775: the X forms older clients (Windows ftp.exe) still send */
	ROW("XCUP", ALG_CMD_OTHER, F_NA, "RFC 775", NULL, NULL),
	ROW("XCWD", ALG_CMD_OTHER, 0, "RFC 775", NULL, NULL),
	ROW("XMKD", ALG_CMD_OTHER, 0, "RFC 775", NULL, NULL),
	ROW("XPWD", ALG_CMD_OTHER, F_NA, "RFC 775", NULL, NULL),
	ROW("XRMD", ALG_CMD_OTHER, 0, "RFC 775", NULL, NULL),
	/* RFC 1639: long addresses */
	ROW("LPRT", ALG_CMD_LPRT, F_S | ALG_CF_ACTIVE, "RFC 1639", alg_req_active, alg_rep_active),
	ROW("LPSV", ALG_CMD_LPSV, F_S | ALG_CF_PASSIVE | F_NA, "RFC 1639", alg_req_passive,
	    alg_rep_passive),
	/* RFC 2228: security extensions */
	ROW("AUTH", ALG_CMD_AUTH, ALG_CF_BLOCKS, "RFC 2228, 4217", alg_req_auth, alg_rep_auth),
	ROW("ADAT", ALG_CMD_OTHER, F_SEC, "RFC 2228", NULL, NULL),
	ROW("PROT", ALG_CMD_OTHER, 0, "RFC 2228", NULL, NULL),
	ROW("PBSZ", ALG_CMD_OTHER, 0, "RFC 2228", NULL, NULL),
	ROW("CCC", ALG_CMD_CCC, F_NA, "RFC 2228", NULL, NULL),
	ROW("MIC", ALG_CMD_OTHER, F_SEC, "RFC 2228", NULL, NULL),
	ROW("CONF", ALG_CMD_OTHER, F_SEC, "RFC 2228", NULL, NULL),
	ROW("ENC", ALG_CMD_OTHER, F_SEC, "RFC 2228", NULL, NULL),
	/* RFC 2389: feature negotiation */
	ROW("FEAT", ALG_CMD_OTHER, F_NA, "RFC 2389", NULL, NULL),
	ROW("OPTS", ALG_CMD_OTHER, 0, "RFC 2389", NULL, NULL),
	/* RFC 2428: extended addresses */
	ROW("EPRT", ALG_CMD_EPRT, F_S | ALG_CF_ACTIVE, "RFC 2428", alg_req_active, alg_rep_active),
	ROW("EPSV", ALG_CMD_EPSV, F_S | ALG_CF_PASSIVE, "RFC 2428", alg_req_passive,
	    alg_rep_passive),
	/* RFC 2640: internationalization */
	ROW("LANG", ALG_CMD_OTHER, 0, "RFC 2640", NULL, NULL),
	/* RFC 3659: extensions */
	ROW("MDTM", ALG_CMD_OTHER, 0, "RFC 3659", NULL, NULL),
	ROW("SIZE", ALG_CMD_OTHER, 0, "RFC 3659", NULL, NULL),
	ROW("MLST", ALG_CMD_OTHER, 0, "RFC 3659", NULL, NULL),
	ROW("MLSD", ALG_CMD_MLSD, F_T, "RFC 3659", NULL, NULL),
	/* RFC 7151: virtual hosts */
	ROW("HOST", ALG_CMD_OTHER, 0, "RFC 7151", NULL, NULL),
	/* Common extensions: client identification, timestamps, checksums,
	 * space (FileZilla, WinSCP, lftp, Serv-U, ProFTPD, IIS) */
	ROW("CLNT", ALG_CMD_OTHER, 0, "common", NULL, NULL),
	ROW("CSID", ALG_CMD_OTHER, 0, "common", NULL, NULL),
	ROW("AVBL", ALG_CMD_OTHER, 0, "draft-peterson-streamlined-ftp", NULL, NULL),
	ROW("DSIZ", ALG_CMD_OTHER, 0, "draft-peterson-streamlined-ftp", NULL, NULL),
	ROW("RMDA", ALG_CMD_OTHER, 0, "draft-peterson-streamlined-ftp", NULL, NULL),
	ROW("THMB", ALG_CMD_OTHER, 0, "draft-peterson-streamlined-ftp", NULL, NULL),
	ROW("MFMT", ALG_CMD_OTHER, 0, "draft-somers-ftp-mfxx", NULL, NULL),
	ROW("MFCT", ALG_CMD_OTHER, 0, "draft-somers-ftp-mfxx", NULL, NULL),
	ROW("MFF", ALG_CMD_OTHER, 0, "draft-somers-ftp-mfxx", NULL, NULL),
	ROW("HASH", ALG_CMD_OTHER, 0, "draft-bryan-ftpext-hash", NULL, NULL),
	ROW("RANG", ALG_CMD_OTHER, 0, "draft-bryan-ftp-range", NULL, NULL),
	ROW("XCRC", ALG_CMD_OTHER, 0, "common", NULL, NULL),
	ROW("XMD5", ALG_CMD_OTHER, 0, "common", NULL, NULL),
	ROW("XSHA", ALG_CMD_OTHER, 0, "common", NULL, NULL),
	ROW("XSHA1", ALG_CMD_OTHER, 0, "common", NULL, NULL),
	ROW("XSHA256", ALG_CMD_OTHER, 0, "common", NULL, NULL),
	ROW("XSHA512", ALG_CMD_OTHER, 0, "common", NULL, NULL),
};

#define ALG_NCMDS (sizeof(alg_cmds) / sizeof(alg_cmds[0]))
/* Longest verb in the table; longer tokens are not verbs. */
#define ALG_VERB_MAX 7

_Static_assert(ALG_NCMDS <= 255, "the command FIFO stores row indexes in a byte");

const struct alg_cmd_def *
alg_cmd_row(unsigned i)
{
	return &alg_cmds[i < ALG_NCMDS ? i : 0];
}

unsigned
alg_cmd_index(const struct alg_cmd_def *d)
{
	return (unsigned)(d - alg_cmds);
}

size_t
alg_cmd_count(void)
{
	return ALG_NCMDS - 1;
}

const struct alg_cmd_def *
alg_cmd_at(size_t i)
{
	return i + 1 < ALG_NCMDS ? &alg_cmds[i + 1] : NULL;
}

static char
alg_upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/*
 * Finds the row of a clean line's verb (case-insensitive).  The verb ends at
 * a space or at the end of the line; *verb_ok says whether it had the shape
 * of one (letters and digits, at most ALG_VERB_MAX, followed by a space or
 * nothing).  Unknown verbs give row 0.
 */
static const struct alg_cmd_def *
alg_cmd_find(const char *line, size_t len, const char **arg, size_t *arg_len, bool *verb_ok)
{
	char verb[ALG_VERB_MAX + 1];
	size_t vlen = 0, i;

	*arg = line + len;
	*arg_len = 0;
	*verb_ok = false;
	while (vlen < len && line[vlen] != ' ') {
		char c = line[vlen];

		if (vlen == ALG_VERB_MAX || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (vlen > 0 && c >= '0' && c <= '9')))
			return &alg_cmds[0];
		verb[vlen] = alg_upper(c);
		vlen++;
	}
	if (vlen < 3)
		return &alg_cmds[0];
	verb[vlen] = '\0';
	*verb_ok = true;
	for (size_t k = 1; k < ALG_NCMDS; k++) {
		if (strcmp(alg_cmds[k].verb, verb) == 0) {
			i = vlen;
			while (i < len && line[i] == ' ')
				i++;
			*arg = line + i;
			*arg_len = len - i;
			return &alg_cmds[k];
		}
	}
	return &alg_cmds[0];
}

const struct alg_cmd_def *
alg_cmd_lookup(const char *line, size_t len, const char **arg, size_t *arg_len)
{
	bool ok;
	const struct alg_cmd_def *d = alg_cmd_find(line, len, arg, arg_len, &ok);

	return d == &alg_cmds[0] ? NULL : d;
}

const struct alg_cmd_def *
alg_cmd_check(const char *line, size_t len, const char **arg, size_t *arg_len,
    const char **why)
{
	bool verb_ok;
	const struct alg_cmd_def *d = alg_cmd_find(line, len, arg, arg_len, &verb_ok);
	size_t i, alen;

	*why = NULL;
	if (len == 0)
		return &alg_cmds[0];	/* an empty line: the server says 500, nothing else */
	if (!verb_ok) {
		*why = "no command verb";
		return NULL;
	}
	if (d == &alg_cmds[0]) {
		*why = "unknown command";
		return NULL;
	}
	/* Controls have no place in a command; UTF-8 path names (RFC 2640) do. */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			*why = "control character in the command";
			return NULL;
		}
	}
	alen = *arg_len;
	while (alen > 0 && ((*arg)[alen - 1] == ' ' || (*arg)[alen - 1] == '\t'))
		alen--;
	if ((d->flags & ALG_CF_NOARG) && alen > 0) {
		*why = "argument to a command that takes none";
		return NULL;
	}
	return d;
}

enum alg_cmd
alg_cmd_parse(const char *line, size_t len, const char **arg, size_t *arg_len)
{
	const struct alg_cmd_def *d = alg_cmd_lookup(line, len, arg, arg_len);

	if (d == NULL || d->id == ALG_CMD_OTHER) {
		*arg = line + len;
		*arg_len = 0;
		return ALG_CMD_OTHER;
	}
	return (enum alg_cmd)d->id;
}

const char *
alg_cmd_name(enum alg_cmd c)
{
	for (size_t k = 1; k < ALG_NCMDS; k++)
		if (alg_cmds[k].id == c && c != ALG_CMD_OTHER)
			return alg_cmds[k].verb;
	return "OTHER";
}

unsigned
alg_cmd_flags(enum alg_cmd c)
{
	for (size_t k = 1; k < ALG_NCMDS; k++)
		if (alg_cmds[k].id == c && c != ALG_CMD_OTHER)
			return alg_cmds[k].flags;
	return 0;
}

bool
alg_cmd_is_transfer(enum alg_cmd c)
{
	return (alg_cmd_flags(c) & ALG_CF_TRANSFER) != 0;
}
