/*
 * vtld.c - the daemon: load the configuration, open the library (catalog,
 * changer, drives), serve the control socket and the iSCSI target, and shut
 * down cleanly on SIGTERM or SIGINT. SIGHUP reads the [store] credentials
 * and ca_bundle again and retries held uploads (as `vtlctl store retry`).
 * With [tcmu] enable = yes it also serves
 * the LIO target_core_user backstores that name this library (vtl/tcmu.h).
 *
 * Threads: the main thread waits for signals and, once a second, runs the
 * automatic creation policies and tells systemd it is alive (vtl/ops.h);
 * the control socket, the iSCSI server, the TCMU frontend and the metrics
 * endpoint run their own threads. Signals are blocked before any
 * thread starts, so only sigwait() here sees them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "datadir.h"
#include "iscsi/iscsi.h"
#include "keys.h"
#include "library.h"
#include "ops.h"
#include "rebuild.h"
#include "tcmu.h"
#include "util/escape.h"
#include "vtld_config.h"

static enum vtl_log_level log_level = VTL_LOG_INFO;
static bool log_syslog;

static void vlog(enum vtl_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void vlog(enum vtl_log_level lvl, const char *fmt, ...)
{
	if (lvl > log_level)
		return;
	char raw[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* The one place every message passes, whoever wrote it and whatever
	 * peer text it quotes: escaped here, a message can never start a line
	 * of its own or reach a terminal as a control (util/escape.h). Four
	 * bytes out per byte in at most, so nothing is cut. */
	char msg[4 * sizeof(raw)];
	esc_str(msg, sizeof(msg), raw);
	if (log_syslog) {
		static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
		syslog(prio[lvl], "%s", msg);
		return;
	}
	struct timespec ts;
	struct tm tm;
	char when[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld vtld[%d] %s: %s\n", when, ts.tv_nsec / 1000000, (int)getpid(),
		vtl_log_level_name(lvl), msg);
}

static void ctl_log(int level, const char *msg)
{
	vlog(level >= 2 ? VTL_LOG_INFO : level == 1 ? VTL_LOG_WARN : VTL_LOG_ERROR, "%s", msg);
}

static void iscsi_log(void *arg, const char *msg)
{
	(void)arg;
	vlog(VTL_LOG_INFO, "iscsi: %s", msg);
}

static void tcmu_log(void *arg, enum tcmu_log_level level, const char *msg)
{
	(void)arg;
	vlog((enum vtl_log_level)level, "%s", msg);
}

/* The TCMU config string after "vtl/<library>/": "changer" or "driveN". */
static struct scsi_dev *tcmu_resolve(void *arg, const char *unit)
{
	struct lib *lib = arg;
	if (strcmp(unit, "changer") == 0)
		return lib_changer(lib);
	if (strncmp(unit, "drive", 5) == 0 && unit[5] >= '1' && unit[5] <= '9') {
		char *end;
		unsigned long n = strtoul(unit + 5, &end, 10);
		if (!*end && n >= 1 && n <= lib_n_drives(lib))
			return lib_drive(lib, n - 1);
	}
	return NULL;
}

static int start_tcmu(const struct vtl_config *cfg, struct lib *lib, struct tcmu **out)
{
	*out = NULL;
	if (!cfg->tcmu_enable)
		return 0;
	char prefix[80];
	snprintf(prefix, sizeof(prefix), "vtl/%s/", cfg->tcmu_library);
	struct tcmu_config tc = {
	    .prefix = prefix,
	    .resolve = tcmu_resolve,
	    .arg = lib,
	    .log = tcmu_log,
	    .trace = log_level >= VTL_LOG_DEBUG,
	};
	int rc = tcmu_start(&tc, out);
	if (rc) {
		vlog(VTL_LOG_ERROR, "cannot start the TCMU frontend: %s", strerror(-rc));
		return rc;
	}
	vlog(VTL_LOG_INFO,
	     "TCMU frontend: serving LIO user backstores configured as %schanger and "
	     "%sdrive1..%zu (%zu now)",
	     prefix, prefix, lib_n_drives(lib), tcmu_attached(*out));
	return 0;
}

static void upl_log(int level, const char *msg)
{
	vlog(level >= 3	  ? VTL_LOG_DEBUG
	     : level == 2 ? VTL_LOG_INFO
	     : level == 1 ? VTL_LOG_WARN
			  : VTL_LOG_ERROR,
	     "store: %s", msg);
}

static void lib_log(void *arg, int level, const char *msg)
{
	(void)arg;
	ctl_log(level, msg);
}

/* Before a new library is created over an empty catalog: does the store
 * hold tapes already (lib_config.store_holds_tapes)? */
static int store_holds_tapes(void *arg, char *found, size_t cap)
{
	const struct vtl_config *cfg = arg;
	struct store *st;
	int rc = store_config_open(&cfg->store, cfg->lib.data_dir, &st, found, cap);
	if (rc)
		return rc;
	rc = upl_store_holds_tapes(st, &cfg->store, cfg->lib.data_dir, found, cap);
	store_close(st);
	return rc;
}

/* The configuration file (-c), absolute, for reading [store] again. */
static char config_path[PATH_MAX];

/* [store] as the configuration file says now (upl_set_reload): `vtlctl
 * store retry` and SIGHUP take its credentials and ca_bundle. */
static int reload_store(void *arg, struct store_config *out, char *err, size_t errlen)
{
	(void)arg;
	struct vtl_config *cfg = malloc(sizeof(*cfg));
	if (!cfg)
		return -ENOMEM;
	vtl_config_defaults(cfg);
	int rc = config_path[0] ? vtl_config_load(config_path, cfg, err, errlen) : 0;
	if (!rc)
		*out = cfg->store;
	free(cfg);
	return rc;
}

/* The object store and its uploader (vtl/uploader.h); with
 * --rebuild-catalog, first the catalog is rebuilt from the local media
 * and the store. */
static int start_store(const struct vtl_config *cfg, struct lib *lib, bool rebuild,
		       struct upl **out)
{
	char err[1024] = "";
	struct store *st;
	int rc = store_config_open(&cfg->store, cfg->lib.data_dir, &st, err, sizeof(err));
	if (rc) {
		vlog(VTL_LOG_ERROR, "%s", err);
		return rc;
	}
	if (rebuild) {
		struct upl_rebuild r = {.keep_known = false};
		rc = upl_recover_from_store(lib, st, &cfg->store, upl_log, &r, err, sizeof(err));
		if (rc) {
			vlog(
			    VTL_LOG_ERROR,
			    "rebuilding the catalog from the media and the object store failed: %s",
			    err[0] ? err : strerror(-rc));
			store_close(st);
			return rc;
		}
		vlog(r.warning[0] ? VTL_LOG_WARN : VTL_LOG_INFO,
		     "rebuilt the catalog from the media and the object store: %zu recovered, "
		     "%zu skipped%s%s",
		     r.n[UPL_RECOVERED], r.n[UPL_SKIPPED], r.warning[0] ? "; but " : "", r.warning);
	}
	rc = upl_start(lib, st, &cfg->store, upl_log, out, err, sizeof(err));
	if (rc) {
		vlog(VTL_LOG_ERROR, "%s", err);
		store_close(st);
		return rc;
	}
	upl_set_reload(*out, reload_store, NULL);
	vlog(VTL_LOG_INFO, "object store: %s%s%s, prefix \"%s\"%s%s", store_backend(st),
	     cfg->store.bucket[0] ? " bucket " : "", cfg->store.bucket, cfg->store.prefix,
	     cfg->store.sse_customer_key_file[0] || cfg->store.sse[0] ? ", server-side encryption "
								      : "",
	     cfg->store.sse_customer_key_file[0] ? "SSE-C" : cfg->store.sse);
	return 0;
}

/* The master keys of [encryption] mode = library, kept for vtld's life
 * (lib_config.master, .previous) in locked memory core dumps leave out
 * (key_master_alloc); their bytes are never logged. */
static struct key_master *master_keys, *master_key, *previous_key;

static int load_one_key(const struct enc_config *e, bool prev, struct key_master *m)
{
	char err[1024] = "";
	const char *file = prev ? e->previous_file : e->key_file;
	const char *cmd = prev ? e->previous_command : e->key_command;
	int rc = file[0] ? key_master_from_file(file, m, err, sizeof(err))
			 : key_master_from_command(cmd, e->key_timeout, m, err, sizeof(err));
	if (rc)
		vlog(VTL_LOG_ERROR,
		     "%s%s; vtld does not start with [encryption] mode = library without its "
		     "key, so that nothing is written in clear: fix the %s and start again",
		     prev ? "the previous master key (previous_key_*): " : "",
		     err[0] ? err : strerror(-rc), file[0] ? "file" : "command");
	return rc;
}

/* [encryption]: the master key (and the previous one during a rotation)
 * loaded before the library opens, or vtld refuses to start. */
static int load_keys(struct vtl_config *cfg)
{
	const struct enc_config *e = &cfg->enc;
	if (!e->library)
		return 0;
	bool locked;
	master_keys = key_master_alloc(2, &locked);
	if (!master_keys) {
		vlog(VTL_LOG_ERROR, "[encryption] no memory for the master keys: %s",
		     strerror(errno));
		return -1;
	}
	master_key = &master_keys[0];
	previous_key = &master_keys[1];
	if (!locked)
		vlog(VTL_LOG_WARN,
		     "[encryption] the master keys' memory could not be locked (mlock: %s), so "
		     "the kernel may write it to swap; raise vtld's RLIMIT_MEMLOCK "
		     "(LimitMEMLOCK= in its systemd unit) or use encrypted swap",
		     strerror(errno));
	if (load_one_key(e, false, master_key))
		return -1;
	cfg->lib.master = master_key;
	bool prev = e->previous_file[0] || e->previous_command[0];
	if (prev && load_one_key(e, true, previous_key))
		return -1;
	if (prev && strcmp(previous_key->id, master_key->id) == 0)
		vlog(VTL_LOG_WARN,
		     "[encryption] the previous master key is the current one (id %s); a rotation "
		     "needs the new key as master_key_file and the old one as previous_key_file",
		     master_key->id);
	else if (prev)
		cfg->lib.previous = previous_key;
	vlog(VTL_LOG_INFO,
	     "encryption at rest: master key %s (from %s)%s%s; new tapes are encrypted",
	     master_key->id, e->key_file[0] ? "its file" : "key_command",
	     cfg->lib.previous ? ", previous master key " : "",
	     cfg->lib.previous ? previous_key->id : "");
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: vtld [-c FILE] [--data-dir DIR] [--listen ADDR:PORT] [--socket PATH]\n"
		   "            [--foreground] [--log-level LEVEL] [--rebuild-catalog]\n"
		   "\n"
		   "  -c, --config FILE     INI configuration (docs/library.md lists every key)\n"
		   "  -d, --data-dir DIR    catalog and cartridges (default /var/lib/vtl)\n"
		   "  -l, --listen ADDR:PORT  iSCSI portal (default 127.0.0.1:3260; port 0: any)\n"
		   "  -s, --socket PATH     control socket (default DIR/vtld.sock)\n"
		   "  -f, --foreground      stay in the foreground and log to stderr\n"
		   "      --log-level L     error, warn, info or debug\n"
		   "      --rebuild-catalog  before starting, rebuild a lost catalog from the\n"
		   "                        cartridges in DIR/tapes and the object store\n"
		   "                        (disaster recovery; --recover-from-store is the same;\n"
		   "                        docs/object-store.md); on a running vtld use\n"
		   "                        vtlctl catalog rebuild\n"
		   "  -h, --help            this text\n");
}

/* Every iSCSI connection holds a descriptor, and the connection limits
 * (docs/iscsi.md) exceed the usual soft limit of 1024. vtld waits with
 * poll(), never select(), so it may use all the hard limit allows. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
		return;
	rlim_t was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		vlog(VTL_LOG_DEBUG, "open files limit raised from %llu to %llu",
		     (unsigned long long)was, (unsigned long long)rl.rlim_cur);
}

static int start_iscsi(const struct vtl_config *cfg, struct lib *lib, struct iscsi_server **out)
{
	struct iscsi_server_config sc;
	iscsi_server_config_defaults(&sc);
	snprintf(sc.listen, sizeof(sc.listen), "%s", cfg->listen);
	sc.log = iscsi_log;
	if (cfg->nop_interval >= 0)
		sc.nop_interval_s = (uint32_t)cfg->nop_interval;
	if (cfg->nop_timeout >= 0)
		sc.nop_timeout_s = (uint32_t)cfg->nop_timeout;
	if (cfg->max_recv_data_segment >= 0)
		sc.max_recv_data_segment = (uint32_t)cfg->max_recv_data_segment;
	if (cfg->max_burst >= 0)
		sc.max_burst = (uint32_t)cfg->max_burst;
	if (cfg->first_burst >= 0)
		sc.first_burst = (uint32_t)cfg->first_burst;
	if (cfg->max_sessions >= 0)
		sc.max_sessions = (uint32_t)cfg->max_sessions;
	if (cfg->max_login_connections >= 0)
		sc.max_login_conns = (uint32_t)cfg->max_login_connections;
	if (cfg->max_login_connections_per_address >= 0)
		sc.max_login_conns_per_source = (uint32_t)cfg->max_login_connections_per_address;
	if (cfg->first_pdu_timeout >= 0)
		sc.first_pdu_timeout_s = (uint32_t)cfg->first_pdu_timeout;
	if (cfg->login_timeout >= 0)
		sc.login_timeout_s = (uint32_t)cfg->login_timeout;

	struct iscsi_server *srv;
	int rc = iscsi_server_create(&sc, &srv);
	if (rc) {
		vlog(VTL_LOG_ERROR, "cannot create the iSCSI server: %s", strerror(-rc));
		return rc;
	}
	size_t n = lib_n_drives(lib) + 1;
	struct iscsi_lun *luns = calloc(n, sizeof(*luns));
	const char **allow = calloc(cfg->n_allow ? cfg->n_allow : 1, sizeof(*allow));
	if (!luns || !allow) {
		free(luns);
		free(allow);
		iscsi_server_destroy(srv);
		return -ENOMEM;
	}
	/* LUN 0 the changer, LUN 1..N the drives (as most libraries and
	 * AWS Tape Gateway's single-target layout present them). */
	luns[0].lun = 0;
	luns[0].dev = lib_changer(lib);
	for (size_t i = 0; i < lib_n_drives(lib); i++) {
		luns[i + 1].lun = lib_drive_lun(lib, i);
		luns[i + 1].dev = lib_drive(lib, i);
	}
	for (size_t i = 0; i < cfg->n_allow; i++)
		allow[i] = cfg->allow[i];
	struct iscsi_target_config tc;
	memset(&tc, 0, sizeof(tc));
	if (cfg->iqn[0])
		snprintf(tc.iqn, sizeof(tc.iqn), "%s", cfg->iqn);
	else
		vtl_default_iqn(tc.iqn, sizeof(tc.iqn));
	snprintf(tc.alias, sizeof(tc.alias), "%s", cfg->alias);
	tc.luns = luns;
	tc.n_luns = n;
	snprintf(tc.chap.user, sizeof(tc.chap.user), "%s", cfg->chap_user);
	snprintf(tc.chap.secret, sizeof(tc.chap.secret), "%s", cfg->chap_secret);
	snprintf(tc.chap.mutual_user, sizeof(tc.chap.mutual_user), "%s", cfg->mutual_user);
	snprintf(tc.chap.mutual_secret, sizeof(tc.chap.mutual_secret), "%s", cfg->mutual_secret);
	tc.allow = allow;
	tc.n_allow = cfg->n_allow;
	rc = iscsi_server_add_target(srv, &tc);
	free(luns);
	free(allow);
	if (!rc)
		rc = iscsi_server_start(srv);
	if (rc) {
		vlog(VTL_LOG_ERROR, "cannot start the iSCSI target %s on %s: %s", tc.iqn,
		     cfg->listen, strerror(-rc));
		iscsi_server_destroy(srv);
		return rc;
	}
	vlog(VTL_LOG_INFO, "iSCSI target %s listening on port %u (LUN 0 changer, LUN 1-%zu drives)",
	     tc.iqn, iscsi_server_port(srv), n - 1);
	*out = srv;
	return 0;
}

static int absolutize(char *path, size_t cap)
{
	char cwd[PATH_MAX], tmp[PATH_MAX];
	if (path[0] == '/' || !path[0])
		return 0;
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	int n = snprintf(tmp, sizeof(tmp), "%s/%s", cwd, path);
	if (n < 0 || (size_t)n >= cap || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(path, tmp, (size_t)n + 1);
	return 0;
}

static int lock_data_dir(const char *dir)
{
	char path[PATH_MAX];
	if (datadir_lock(dir, path, sizeof(path)))
		return -ENAMETOOLONG;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int e = errno;
		close(fd);
		return e == EWOULDBLOCK ? -EBUSY : -e;
	}
	return fd; /* held until exit */
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"data-dir", required_argument, NULL, 'd'},
	    {"listen", required_argument, NULL, 'l'},
	    {"socket", required_argument, NULL, 's'},
	    {"foreground", no_argument, NULL, 'f'},
	    {"log-level", required_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},
	    {"rebuild-catalog", no_argument, NULL, 'R'},
	    /* The flag's first name, kept for scripts written for it. */
	    {"recover-from-store", no_argument, NULL, 'R'},
	    {NULL, 0, NULL, 0},
	};
	struct vtl_config cfg;
	const char *config = NULL, *data_dir = NULL, *listen = NULL, *sock = NULL, *level = NULL;
	bool foreground = false, rebuild_catalog = false;
	char err[1024] = "";
	int c;

	vtl_config_defaults(&cfg);
	while ((c = getopt_long(argc, argv, "c:d:l:s:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'd':
			data_dir = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'L':
			level = optarg;
			break;
		case 'R':
			rebuild_catalog = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vtld: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (config && vtl_config_load(config, &cfg, err, sizeof(err))) {
		fprintf(stderr, "vtld: %s\n", err);
		return 1;
	}
	if (config && !realpath(config, config_path)) {
		fprintf(stderr, "vtld: %s: %s\n", config, strerror(errno));
		return 1;
	}
	if (data_dir) {
		if (strlen(data_dir) >= sizeof(cfg.lib.data_dir) - 64) {
			fprintf(stderr, "vtld: --data-dir path is too long\n");
			return 2;
		}
		snprintf(cfg.lib.data_dir, sizeof(cfg.lib.data_dir), "%s", data_dir);
	}
	if (listen)
		snprintf(cfg.listen, sizeof(cfg.listen), "%s", listen);
	if (sock)
		snprintf(cfg.socket, sizeof(cfg.socket), "%s", sock);
	if (level) {
		int found = 0;
		for (int i = 0; i < 4; i++)
			if (strcmp(level, vtl_log_level_name((enum vtl_log_level)i)) == 0) {
				cfg.log_level = (enum vtl_log_level)i;
				found = 1;
			}
		if (!found) {
			fprintf(stderr, "vtld: --log-level: use error, warn, info or debug\n");
			return 2;
		}
	}
	log_level = cfg.log_level;
	if (!cfg.socket[0] && datadir_socket(cfg.lib.data_dir, cfg.socket, sizeof(cfg.socket))) {
		fprintf(stderr, "vtld: data directory path is too long\n");
		return 2;
	}

	/* daemon() moves to /: make relative paths absolute first. */
	if (absolutize(cfg.lib.data_dir, sizeof(cfg.lib.data_dir) - 64) ||
	    absolutize(cfg.socket, sizeof(cfg.socket))) {
		fprintf(stderr, "vtld: path too long\n");
		return 2;
	}
	if (!foreground) {
		if (daemon(0, 0)) {
			fprintf(stderr, "vtld: cannot daemonize: %s\n", strerror(errno));
			return 1;
		}
		openlog("vtld", LOG_PID, LOG_DAEMON);
		log_syslog = true;
	}

	/* Before any thread exists: signals go to sigwait() below only. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* A file-size limit (ulimit -f, systemd's LimitFSIZE=) makes a write
	 * fail with EFBIG, which the drive reports as a write error and the
	 * library keeps the tape for; the default action of SIGXFSZ would
	 * instead kill vtld in the middle of a write. */
	signal(SIGXFSZ, SIG_IGN);
	raise_fd_limit();

	if (mkdir(cfg.lib.data_dir, 0700) && errno != EEXIST) {
		vlog(VTL_LOG_ERROR, "cannot create data directory %s: %s", cfg.lib.data_dir,
		     strerror(errno));
		return 1;
	}
	int lockfd = lock_data_dir(cfg.lib.data_dir);
	if (lockfd < 0) {
		vlog(VTL_LOG_ERROR, "%s: %s", cfg.lib.data_dir,
		     lockfd == -EBUSY ? "another vtld uses this data directory; stop it first"
				      : strerror(-lockfd));
		return 1;
	}

	struct lib *lib;
	struct upl *upl = NULL;
	cfg.lib.log = lib_log;
	cfg.lib.rebuild = rebuild_catalog;
	cfg.lib.store_holds_tapes = store_holds_tapes;
	cfg.lib.store_arg = &cfg;
	if (load_keys(&cfg))
		return 1;
	int rc = lib_open(&cfg.lib, &lib, err, sizeof(err));
	if (rc) {
		vlog(VTL_LOG_ERROR, "%s", err[0] ? err : strerror(-rc));
		return 1;
	}
	ops_register_devices(lib);
	struct cat_library info;
	lib_info(lib, &info);
	vlog(VTL_LOG_INFO, "library %s %s serial %s in %s: %u drives (%s), %u slots, %u I/E",
	     info.vendor, info.product, info.serial, cfg.lib.data_dir, info.count[CAT_DRIVE],
	     info.drive_media, info.count[CAT_STORAGE], info.count[CAT_IE]);
	if (start_store(&cfg, lib, rebuild_catalog, &upl)) {
		lib_close(lib);
		return 1;
	}

	struct ctl_server *ctl;
	rc = ctl_server_start(lib, upl, cfg.socket, ctl_log, &ctl, err, sizeof(err));
	if (rc) {
		vlog(VTL_LOG_ERROR, "%s", err);
		upl_stop(upl);
		lib_close(lib);
		return 1;
	}
	vlog(VTL_LOG_INFO, "control socket %s", cfg.socket);

	struct iscsi_server *srv = NULL;
	if (start_iscsi(&cfg, lib, &srv)) {
		ctl_server_stop(ctl);
		upl_stop(upl);
		lib_close(lib);
		return 1;
	}
	struct tcmu *tcmu = NULL;
	if (start_tcmu(&cfg, lib, &tcmu)) {
		iscsi_server_stop(srv);
		iscsi_server_destroy(srv);
		ctl_server_stop(ctl);
		upl_stop(upl);
		lib_close(lib);
		return 1;
	}
	struct ops *ops = NULL;
	struct ops_config oc = {
	    .lib = lib, .upl = upl, .srv = srv, .listen = cfg.metrics_listen, .log = ctl_log};
	rc = ops_start(&oc, &ops, err, sizeof(err));
	if (rc) {
		vlog(VTL_LOG_ERROR, "%s", err);
		tcmu_stop(tcmu);
		iscsi_server_stop(srv);
		iscsi_server_destroy(srv);
		ctl_server_stop(ctl);
		upl_stop(upl);
		lib_close(lib);
		return 1;
	}
	vlog(VTL_LOG_INFO, "ready");
	ops_ready(ops);

	for (;;) {
		/* Between signals, once a second: the automatic creation
		 * policies (vtl/autocreate.c), then systemd's watchdog and
		 * status, which the policies' look at the library would
		 * keep from coming if the changer were stuck. */
		struct timespec second = {1, 0};
		int sig = sigtimedwait(&sigs, NULL, &second);
		if (sig < 0) {
			if (errno == EAGAIN) {
				lib_autocreate_tick(lib);
				ops_tick(ops);
			}
			continue;
		}
		if (sig == SIGHUP) {
			/* As `vtlctl store retry`: [store] credentials and
			 * ca_bundle read again, held uploads tried now. */
			struct upl_retry rt;
			upl_retry(upl, &rt);
			vlog(VTL_LOG_INFO,
			     "SIGHUP: held uploads are tried again%s%s; other configuration "
			     "takes a restart",
			     rt.note[0] ? "; " : "", rt.note);
			continue;
		}
		vlog(VTL_LOG_INFO, "%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	}
	ops_stop(ops);
	upl_release_writers(upl); /* writes held by a full cache go on */
	tcmu_stop(tcmu);
	iscsi_server_stop(srv);
	iscsi_server_destroy(srv);
	ctl_server_stop(ctl);
	upl_stop(upl);
	/* Flushes every drive's cartridge and closes the catalog. */
	lib_close(lib);
	close(lockfd);
	key_master_free(master_keys, 2);
	vlog(VTL_LOG_INFO, "stopped");
	return 0;
}
