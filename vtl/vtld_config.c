/*
 * vtld_config.c - parse vtld's INI file with libinih (see vtld_config.h).
 *
 * Unknown sections and keys are errors, not warnings: a misspelt key that
 * is silently ignored is a configuration the operator believes is in force
 * and is not.
 */
#include "config.h"

#include "vtld_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>

#include "scsi/tape.h"

void vtl_config_defaults(struct vtl_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	lib_config_defaults(&cfg->lib);
	snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1:3260");
	cfg->log_level = VTL_LOG_INFO;
	snprintf(cfg->alias, sizeof(cfg->alias), "vtl");
	cfg->nop_interval = cfg->nop_timeout = -1;
	cfg->max_recv_data_segment = cfg->max_burst = cfg->first_burst = -1;
	cfg->max_sessions = cfg->max_login_connections = -1;
	cfg->max_login_connections_per_address = -1;
	cfg->first_pdu_timeout = cfg->login_timeout = -1;
	store_config_defaults(&cfg->store);
	snprintf(cfg->tcmu_library, sizeof(cfg->tcmu_library), "vtl");
}

const char *vtl_log_level_name(enum vtl_log_level l)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	return (unsigned)l < 4 ? names[l] : "?";
}

void vtl_default_iqn(char *buf, size_t cap)
{
	char host[256] = "localhost";
	if (gethostname(host, sizeof(host) - 1) || !host[0])
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = 0;
	/* RFC 3720 3.2.6.3.1: iqn.yyyy-mm.<reversed domain>[:id], lower case. */
	char rev[256] = "";
	size_t n = 0;
	char *end = host + strlen(host);
	while (end > host) {
		char *dot = end - 1;
		while (dot > host && *dot != '.')
			dot--;
		char *label = *dot == '.' ? dot + 1 : dot;
		int w = snprintf(rev + n, sizeof(rev) - n, "%s%.*s", n ? "." : "",
				 (int)(end - label), label);
		if (w < 0 || (size_t)w >= sizeof(rev) - n)
			break;
		n += (size_t)w;
		end = dot;
	}
	for (char *p = rev; *p; p++) {
		*p = (char)tolower((unsigned char)*p);
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
			*p = '-';
	}
	snprintf(buf, cap, "iqn.2026-11.%s:vtl", rev[0] ? rev : "localhost");
}

struct parse_ctx {
	struct vtl_config *cfg;
	char *err;
	size_t errlen;
	const char *path;
	int bad_line_set;
};

static int set_str(char *dst, size_t cap, const char *v)
{
	if (strlen(v) >= cap)
		return -1;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int set_num(const char *v, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 0);
	if (errno || end == v || *end || x < lo || x > hi)
		return -1;
	*out = x;
	return 0;
}

static int set_u16(const char *v, int64_t lo, int64_t hi, uint16_t *out)
{
	int64_t x;
	if (set_num(v, lo, hi, &x))
		return -1;
	*out = (uint16_t)x;
	return 0;
}

static int set_uint(const char *v, int64_t lo, int64_t hi, unsigned *out)
{
	int64_t x;
	if (set_num(v, lo, hi, &x))
		return -1;
	*out = (unsigned)x;
	return 0;
}

static int set_allow(struct vtl_config *cfg, const char *v)
{
	char tmp[4096];
	if (set_str(tmp, sizeof(tmp), v))
		return -1;
	cfg->n_allow = 0;
	for (char *save = NULL, *tok = strtok_r(tmp, ", \t", &save); tok;
	     tok = strtok_r(NULL, ", \t", &save)) {
		if (cfg->n_allow == VTL_MAX_ALLOW ||
		    set_str(cfg->allow[cfg->n_allow], sizeof(cfg->allow[0]), tok))
			return -1;
		cfg->n_allow++;
	}
	return 0;
}

/* A size with an optional K, M, G suffix (powers of 1024). */
static int set_size(const char *v, uint64_t lo, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || end == v || *v == '-')
		return -1;
	unsigned shift = 0;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	if (shift)
		end++;
	if (*end || x > (UINT64_MAX >> shift) || ((uint64_t)x << shift) < lo)
		return -1;
	*out = (uint64_t)x << shift;
	return 0;
}

/* [store] keys (vtl/uploader.h): 0 ok, 1 bad value (*why set), -1 unknown. */
static int store_key(struct store_config *s, const char *name, const char *v, const char **why)
{
	if (strcasecmp(name, "type") == 0) {
		*why = "use local or s3";
		return (strcmp(v, "local") && strcmp(v, "s3")) ||
		       set_str(s->type, sizeof(s->type), v);
	}
	if (strcasecmp(name, "path") == 0)
		return set_str(s->path, sizeof(s->path), v) ? 1 : 0;
	if (strcasecmp(name, "endpoint") == 0)
		return set_str(s->endpoint, sizeof(s->endpoint), v) ? 1 : 0;
	if (strcasecmp(name, "bucket") == 0)
		return set_str(s->bucket, sizeof(s->bucket), v) ? 1 : 0;
	if (strcasecmp(name, "region") == 0)
		return set_str(s->region, sizeof(s->region), v) ? 1 : 0;
	if (strcasecmp(name, "prefix") == 0)
		return set_str(s->prefix, sizeof(s->prefix), v) ? 1 : 0;
	if (strcasecmp(name, "ca_bundle") == 0)
		return set_str(s->ca_bundle, sizeof(s->ca_bundle), v) ? 1 : 0;
	if (strcasecmp(name, "profile") == 0)
		return set_str(s->profile, sizeof(s->profile), v) ? 1 : 0;
	if (strcasecmp(name, "access_key_id") == 0)
		return set_str(s->access_key, sizeof(s->access_key), v) ? 1 : 0;
	if (strcasecmp(name, "secret_access_key") == 0)
		return set_str(s->secret_key, sizeof(s->secret_key), v) ? 1 : 0;
	if (strcasecmp(name, "sse") == 0) {
		/* Amazon S3 API Reference, PutObject: x-amz-server-side-encryption. */
		*why = "use AES256 or aws:kms (for SSE-C set sse_customer_key_file instead)";
		if (!strcasecmp(v, "none") || !v[0])
			return set_str(s->sse, sizeof(s->sse), "") ? 1 : 0;
		if (!strcmp(v, "AES256") || !strcmp(v, "aws:kms"))
			return set_str(s->sse, sizeof(s->sse), v) ? 1 : 0;
		return 1;
	}
	if (strcasecmp(name, "sse_kms_key_id") == 0)
		return set_str(s->sse_kms_key_id, sizeof(s->sse_kms_key_id), v) ? 1 : 0;
	if (strcasecmp(name, "sse_customer_key_file") == 0) {
		*why = "the path of a file of mode 0600 holding a 32-byte key";
		return set_str(s->sse_customer_key_file, sizeof(s->sse_customer_key_file), v) ? 1
											      : 0;
	}
	if (strcasecmp(name, "addressing") == 0) {
		*why = "use auto, path or virtual";
		return (strcmp(v, "auto") && strcmp(v, "path") && strcmp(v, "virtual")) ||
		       set_str(s->addressing, sizeof(s->addressing), v);
	}
	if (strcasecmp(name, "part_size") == 0) {
		*why = "at least 5M (S3's smallest part), at most 5G";
		return set_size(v, STORE_PART_MIN, &s->part_size) || s->part_size > STORE_PART_MAX;
	}
	if (strcasecmp(name, "parallel_parts") == 0) {
		*why = "parts in flight at once, 1 to 64";
		return set_uint(v, 1, STORE_PARALLEL_MAX, &s->parallel_parts) ? 1 : 0;
	}
	if (strcasecmp(name, "upload_nice") == 0) {
		*why = "added to the uploader threads' nice value, 0 (none) to 19";
		return set_uint(v, 0, 19, &s->upload_nice) ? 1 : 0;
	}
	if (strcasecmp(name, "archive_storage_class") == 0) {
		*why = "an S3 storage class (GLACIER, DEEP_ARCHIVE, STANDARD_IA, ...)";
		return (v[0] && !store_class_valid(v)) ||
		       set_str(s->archive_class, sizeof(s->archive_class), v);
	}
	if (strcasecmp(name, "object_lock") == 0 || strcasecmp(name, "link_segments") == 0) {
		bool *b =
		    strcasecmp(name, "object_lock") == 0 ? &s->object_lock : &s->link_segments;
		*why = "use yes or no";
		if (strcasecmp(v, "yes") == 0 || strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0)
			*b = true;
		else if (strcasecmp(v, "no") == 0 || strcmp(v, "0") == 0 ||
			 strcasecmp(v, "false") == 0)
			*b = false;
		else
			return 1;
		return 0;
	}
	if (strcasecmp(name, "archive_bucket") == 0)
		return set_str(s->archive_bucket, sizeof(s->archive_bucket), v) ? 1 : 0;
	if (strcasecmp(name, "archive_path") == 0)
		return set_str(s->archive_path, sizeof(s->archive_path), v) ? 1 : 0;
	if (strcasecmp(name, "archive_prefix") == 0) {
		s->archive_prefix_set = true;
		return set_str(s->archive_prefix, sizeof(s->archive_prefix), v) ? 1 : 0;
	}
	if (strcasecmp(name, "restore_days") == 0) {
		*why = "days a restored copy of an archived object stays readable, 1 to 30000";
		return set_uint(v, 1, 30000, &s->restore_days) ? 1 : 0;
	}
	if (strcasecmp(name, "restore_tier") == 0) {
		/* S3 API Reference, RestoreObject: GlacierJobParameters Tier. */
		static const char *const tiers[] = {"Standard", "Bulk", "Expedited"};
		*why = "use Standard, Bulk or Expedited";
		for (size_t i = 0; i < sizeof(tiers) / sizeof(tiers[0]); i++)
			if (strcasecmp(v, tiers[i]) == 0)
				return set_str(s->restore_tier, sizeof(s->restore_tier), tiers[i])
					   ? 1
					   : 0;
		return 1;
	}
	if (strcasecmp(name, "cache_limit") == 0) {
		*why = "a size such as 100G, or 0 for none";
		return set_size(v, 0, &s->cache_limit) ? 1 : 0;
	}
	if (strcasecmp(name, "idle_complete") == 0) {
		*why = "seconds, 0 to 86400";
		return set_uint(v, 0, 86400, &s->idle_secs) ? 1 : 0;
	}
	return -1;
}

#define KEY(s, k) (strcasecmp(section, s) == 0 && strcasecmp(name, k) == 0)

static int handle(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *pc = user;
	struct vtl_config *c = pc->cfg;
	struct lib_config *l = &c->lib;
	const char *why = "invalid value";
	int bad = 0;

	if (KEY("vtld", "data_dir")) {
		bad = set_str(l->data_dir, sizeof(l->data_dir) - 64, value);
	} else if (KEY("vtld", "listen")) {
		bad = set_str(c->listen, sizeof(c->listen), value);
	} else if (KEY("vtld", "socket")) {
		bad = set_str(c->socket, sizeof(c->socket), value);
	} else if (KEY("vtld", "log_level")) {
		bad = 1;
		why = "use error, warn, info or debug";
		for (int i = 0; i < 4; i++)
			if (strcasecmp(value, vtl_log_level_name((enum vtl_log_level)i)) == 0) {
				c->log_level = (enum vtl_log_level)i;
				bad = 0;
			}
	} else if (KEY("library", "changer")) {
		const struct smc_personality *per = smc_personality_find(value);
		why = "use " SMC_PERSONALITY_NAMES;
		if (per)
			lib_config_set_changer(l, per);
		else
			bad = 1;
	} else if (KEY("library", "vendor")) {
		bad = set_str(l->vendor, sizeof(l->vendor), value);
		why = "at most 8 characters";
	} else if (KEY("library", "product")) {
		bad = set_str(l->product, sizeof(l->product), value);
		why = "at most 16 characters";
	} else if (KEY("library", "revision")) {
		bad = set_str(l->revision, sizeof(l->revision), value);
		why = "at most 4 characters";
	} else if (KEY("library", "serial")) {
		bad = set_str(l->serial, sizeof(l->serial), value);
		why = "at most 32 characters";
	} else if (KEY("library", "drives")) {
		bad = set_u16(value, 1, 64, &l->n_drives);
		why = "1 to 64";
	} else if (KEY("library", "slots")) {
		bad = set_u16(value, 1, 10000, &l->n_slots);
		why = "1 to 10000";
	} else if (KEY("library", "ie_slots")) {
		bad = set_u16(value, 1, 64, &l->n_ie);
		why = "1 to 64";
	} else if (KEY("library", "transport_address")) {
		bad = set_u16(value, 0, 65535, &l->transport_base);
		l->overrides |= LIB_SET_TRANSPORT;
	} else if (KEY("library", "ie_address")) {
		bad = set_u16(value, 0, 65535, &l->ie_base);
		l->overrides |= LIB_SET_IE;
	} else if (KEY("library", "drive_address")) {
		bad = set_u16(value, 0, 65535, &l->drive_base);
		l->overrides |= LIB_SET_DRIVE;
	} else if (KEY("library", "storage_address")) {
		bad = set_u16(value, 0, 65535, &l->storage_base);
		l->overrides |= LIB_SET_STORAGE;
	} else if (KEY("library", "drive_type")) {
		bad = tape_media_parse(value, &l->drive_media) != 0;
		why = "use LTO-5 .. LTO-9";
	} else if (KEY("library", "drive_vendor")) {
		why = "use IBM or HPE";
		if (strcasecmp(value, "IBM") == 0)
			l->drive_vendor = SSC_VENDOR_IBM;
		else if (strcasecmp(value, "HPE") == 0 || strcasecmp(value, "HP") == 0)
			l->drive_vendor = SSC_VENDOR_HPE;
		else
			bad = 1;
	} else if (KEY("library", "clean_interval")) {
		unsigned n = 0;
		bad = set_uint(value, 0, 1000000, &n);
		why = "0 (never) to 1000000 loads";
		l->clean_interval = n;
	} else if (KEY("library", "auto_unload")) {
		why = "use yes or no";
		if (strcasecmp(value, "yes") == 0 || strcmp(value, "1") == 0 ||
		    strcasecmp(value, "true") == 0)
			l->auto_unload = true;
		else if (strcasecmp(value, "no") == 0 || strcmp(value, "0") == 0 ||
			 strcasecmp(value, "false") == 0)
			l->auto_unload = false;
		else
			bad = 1;
	} else if (KEY("library", "governance_bypass")) {
		why = "use yes or no";
		if (strcasecmp(value, "yes") == 0 || strcmp(value, "1") == 0 ||
		    strcasecmp(value, "true") == 0)
			l->governance_bypass = true;
		else if (strcasecmp(value, "no") == 0 || strcmp(value, "0") == 0 ||
			 strcasecmp(value, "false") == 0)
			l->governance_bypass = false;
		else
			bad = 1;
	} else if (KEY("tapes", "default_type")) {
		bad = tape_media_parse(value, &l->default_media) != 0;
		why = "use LTO-5 .. LTO-9";
	} else if (KEY("iscsi", "iqn")) {
		bad = set_str(c->iqn, sizeof(c->iqn), value) || strncmp(value, "iqn.", 4);
		why = "an iqn. name of at most 223 characters";
	} else if (KEY("iscsi", "alias")) {
		bad = set_str(c->alias, sizeof(c->alias), value);
	} else if (KEY("iscsi", "chap_user")) {
		bad = set_str(c->chap_user, sizeof(c->chap_user), value);
	} else if (KEY("iscsi", "chap_secret")) {
		bad = set_str(c->chap_secret, sizeof(c->chap_secret), value);
	} else if (KEY("iscsi", "mutual_user")) {
		bad = set_str(c->mutual_user, sizeof(c->mutual_user), value);
	} else if (KEY("iscsi", "mutual_secret")) {
		bad = set_str(c->mutual_secret, sizeof(c->mutual_secret), value);
	} else if (KEY("iscsi", "allow")) {
		bad = set_allow(c, value);
		why = "a comma-separated list of at most 32 initiator IQNs";
	} else if (KEY("iscsi", "nop_interval")) {
		bad = set_num(value, 0, 3600, &c->nop_interval);
	} else if (KEY("iscsi", "nop_timeout")) {
		bad = set_num(value, 0, 3600, &c->nop_timeout);
	} else if (KEY("iscsi", "max_recv_data_segment")) {
		bad = set_num(value, 512, 16777215, &c->max_recv_data_segment);
		why = "512 to 16777215 (RFC 7143 13.12)";
	} else if (KEY("iscsi", "max_burst")) {
		bad = set_num(value, 512, 16777215, &c->max_burst);
		why = "512 to 16777215 (RFC 7143 13.13)";
	} else if (KEY("iscsi", "first_burst")) {
		bad = set_num(value, 512, 16777215, &c->first_burst);
		why = "512 to 16777215 (RFC 7143 13.14)";
	} else if (KEY("iscsi", "max_sessions")) {
		bad = set_num(value, 1, 65535, &c->max_sessions);
		why = "1 to 65535";
	} else if (KEY("iscsi", "max_login_connections")) {
		bad = set_num(value, 1, 65535, &c->max_login_connections);
		why = "1 to 65535";
	} else if (KEY("iscsi", "max_login_connections_per_address")) {
		bad = set_num(value, 1, 65535, &c->max_login_connections_per_address);
		why = "1 to 65535";
	} else if (KEY("iscsi", "first_pdu_timeout")) {
		bad = set_num(value, 1, 3600, &c->first_pdu_timeout);
		why = "1 to 3600 seconds";
	} else if (KEY("iscsi", "login_timeout")) {
		bad = set_num(value, 1, 3600, &c->login_timeout);
		why = "1 to 3600 seconds";
	} else if (KEY("tcmu", "enable")) {
		why = "use yes or no";
		if (strcasecmp(value, "yes") == 0 || strcmp(value, "1") == 0 ||
		    strcasecmp(value, "true") == 0)
			c->tcmu_enable = true;
		else if (strcasecmp(value, "no") == 0 || strcmp(value, "0") == 0 ||
			 strcasecmp(value, "false") == 0)
			c->tcmu_enable = false;
		else
			bad = 1;
	} else if (KEY("tcmu", "library")) {
		bad = set_str(c->tcmu_library, sizeof(c->tcmu_library), value) || !value[0] ||
		      strchr(value, '/') || strchr(value, ',');
		why = "a name of 1 to 63 characters without '/' or ','";
	} else if (KEY("metrics", "listen")) {
		/* The address is checked where it is bound (vtl/metrics_http.c). */
		bad = set_str(c->metrics_listen, sizeof(c->metrics_listen), value);
		why = "ADDR:PORT, e.g. 127.0.0.1:9810, at most 127 characters";
	} else if (KEY("encryption", "mode")) {
		why = "use none or library";
		bad = strcmp(value, "none") && strcmp(value, "library");
		c->enc.library = !strcmp(value, "library");
	} else if (KEY("encryption", "master_key_file")) {
		bad = set_str(c->enc.key_file, sizeof(c->enc.key_file), value);
	} else if (KEY("encryption", "key_command")) {
		bad = set_str(c->enc.key_command, sizeof(c->enc.key_command), value);
	} else if (KEY("encryption", "previous_key_file")) {
		bad = set_str(c->enc.previous_file, sizeof(c->enc.previous_file), value);
	} else if (KEY("encryption", "previous_key_command")) {
		bad = set_str(c->enc.previous_command, sizeof(c->enc.previous_command), value);
	} else if (KEY("encryption", "key_timeout")) {
		why = "seconds a key command may take, 1 to 600";
		bad = set_uint(value, 1, 600, &c->enc.key_timeout);
	} else if (strcasecmp(section, "store") == 0) {
		bad = store_key(&c->store, name, value, &why);
		if (bad < 0) {
			snprintf(pc->err, pc->errlen, "unknown key '%s' in section [%s]", name,
				 section);
			pc->bad_line_set = 1;
			return 0;
		}
	} else {
		snprintf(pc->err, pc->errlen, "unknown key '%s' in section [%s]", name, section);
		pc->bad_line_set = 1;
		return 0;
	}
	if (bad) {
		snprintf(pc->err, pc->errlen, "[%s] %s = %s: %s", section, name, value, why);
		pc->bad_line_set = 1;
		return 0;
	}
	return 1;
}

/* [encryption] as a whole: one source per key, and keys only with mode =
 * library, so that no one believes tapes are encrypted when they are not. */
static int enc_check(const struct enc_config *e, const char *path, char *err, size_t errlen)
{
	bool cur = e->key_file[0] || e->key_command[0];
	bool prev = e->previous_file[0] || e->previous_command[0];
	if (!e->library && (cur || prev)) {
		snprintf(err, errlen,
			 "%s: [encryption] names a master key but mode is not library; set mode = "
			 "library to encrypt cartridges at rest, or remove the key settings",
			 path);
		return -EINVAL;
	}
	if (e->library && !cur) {
		snprintf(err, errlen,
			 "%s: [encryption] mode = library needs a master key: set master_key_file "
			 "(a 0600 file of 32 bytes, e.g. `openssl rand 32 > FILE`) or key_command",
			 path);
		return -EINVAL;
	}
	if ((e->key_file[0] && e->key_command[0]) ||
	    (e->previous_file[0] && e->previous_command[0])) {
		snprintf(
		    err, errlen,
		    "%s: [encryption] sets both a key file and a key command for the same key; "
		    "keep one of them",
		    path);
		return -EINVAL;
	}
	return 0;
}

int vtl_config_load(const char *path, struct vtl_config *cfg, char *err, size_t errlen)
{
	char what[512] = "";
	struct parse_ctx pc = {cfg, what, sizeof(what), path, 0};
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "cannot read config file %s: %s", path, strerror(e));
		return -e;
	}
	int line = ini_parse_file(f, handle, &pc);
	fclose(f);
	if (line == 0)
		return enc_check(&cfg->enc, path, err, errlen);
	if (line < 0) {
		snprintf(err, errlen, "cannot parse config file %s", path);
		return -EIO;
	}
	snprintf(err, errlen, "%s:%d: %s", path, line, what[0] ? what : "syntax error");
	return -EINVAL;
}
