/*
 * test_metrics_rgw.c - vtld for its operators (docs/operations.md), with
 * real parts only: the real vtld with [metrics] listen on 127.0.0.1 and an
 * S3 store on Ceph's radosgw (started by main() with tests/s3/rgw.sh),
 * scraped every second by Debian's Prometheus server started here, while
 * a tape is written through a drive with libiscsi and uploaded. The test
 * asks Prometheus's HTTP API (/api/v1/query) for the series and checks
 * their values against what it wrote; promtool checks the exposition
 * vtld serves and the alert rules in contrib/prometheus; /healthz and
 * /readyz answer. systemd's notification protocol is checked on a unix
 * datagram socket the test owns, as NOTIFY_SOCKET names it under systemd.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <iscsi.h>

#include "tests/iscsi/harness.h"
#include "tests/iscsi/vtld_proc.h"
#include "tests/s3/rgw_fixture.h"
#include "tests/vtl/shelf_check.h"

#define BUCKET "vtl-metrics"
#define MIB    1048576.0

static struct vtld_proc vtl;
static pid_t prom_pid;
static char prom_dir[PATH_MAX];

static void stop(void)
{
	if (prom_pid > 0) {
		kill(prom_pid, SIGTERM);
		waitpid(prom_pid, NULL, 0);
		prom_pid = 0;
	}
	if (prom_dir[0]) {
		char cmd[PATH_MAX + 16];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", prom_dir);
		if (system(cmd)) {
		}
	}
	vp_stop(&vtl);
}

TestSuite(metrics, .fini = stop, .timeout = 150);

static const uint32_t sizes[] = {1, 512, 80000, 262144, 7, 4096, 100000};
static const struct th_records recs = {sizes, sizeof(sizes) / sizeof(sizes[0])};
static const struct shelf_suite suite = {&vtl, &recs, false};

/* ---- HTTP ------------------------------------------------------------------ */

struct body {
	char *p;
	size_t len;
};

static size_t grow(char *data, size_t sz, size_t n, void *arg)
{
	struct body *b = arg;
	char *p = realloc(b->p, b->len + sz * n + 1);
	if (!p)
		return 0;
	memcpy(p + b->len, data, sz * n);
	b->p = p;
	b->len += sz * n;
	p[b->len] = 0;
	return sz * n;
}

/* GET url; the body (malloc'd, or NULL) and the HTTP status. */
static char *http_get(const char *url, long *status)
{
	struct body b = {NULL, 0};
	CURL *c = curl_easy_init();
	cr_assert_not_null(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, grow);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	CURLcode rc = curl_easy_perform(c);
	*status = 0;
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		free(b.p);
		return NULL;
	}
	return b.p ? b.p : strdup("");
}

/* ---- vtld's metrics port, a free port, Prometheus -------------------------- */

static unsigned metrics_port(const struct vtld_proc *p)
{
	for (int waited = 0; waited < 10000; waited += 100) {
		FILE *f = fopen(p->log, "r");
		char line[1024];
		unsigned port = 0;
		while (f && fgets(line, sizeof(line), f)) {
			const char *s = strstr(line, "metrics listening on port ");
			if (s)
				sscanf(s, "metrics listening on port %u", &port);
		}
		if (f)
			fclose(f);
		if (port)
			return port;
		usleep(100000);
	}
	cr_assert_fail("vtld did not report its metrics port (log %s)", p->log);
	return 0;
}

static unsigned free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		  getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* Prometheus on 127.0.0.1:port scraping vtld's target every second, with
 * the project's alert rules loaded. */
static void prometheus_start(unsigned port, unsigned target)
{
	snprintf(prom_dir, sizeof(prom_dir), "/tmp/vtl-prom-XXXXXX");
	cr_assert_not_null(mkdtemp(prom_dir));
	char conf[PATH_MAX + 32], data[PATH_MAX + 32];
	snprintf(conf, sizeof(conf), "%s/prometheus.yml", prom_dir);
	snprintf(data, sizeof(data), "%s/data", prom_dir);
	FILE *f = fopen(conf, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
		"rule_files:\n  - %s/contrib/prometheus/vtl-alerts.yml\n"
		"scrape_configs:\n  - job_name: vtl\n    static_configs:\n"
		"      - targets: ['127.0.0.1:%u']\n",
		SRCDIR, target);
	fclose(f);
	char listen[64], log[PATH_MAX + 32];
	snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%u", port);
	snprintf(log, sizeof(log), "%s/prometheus.log", prom_dir);
	char cfgarg[PATH_MAX + 64], dataarg[PATH_MAX + 64];
	snprintf(cfgarg, sizeof(cfgarg), "--config.file=%s", conf);
	snprintf(dataarg, sizeof(dataarg), "--storage.tsdb.path=%s", data);
	prom_pid = fork();
	cr_assert(prom_pid >= 0);
	if (prom_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("prometheus", "prometheus", cfgarg, dataarg, listen, (char *)NULL);
		_exit(127);
	}
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/-/ready", port);
	for (int waited = 0; waited < 30000; waited += 200) {
		long st;
		char *b = http_get(url, &st);
		free(b);
		if (st == 200)
			return;
		int ws;
		cr_assert_neq(waitpid(prom_pid, &ws, WNOHANG), prom_pid,
			      "prometheus exited; is Debian's prometheus installed? (log %s)", log);
		usleep(200000);
	}
	cr_assert_fail("prometheus did not become ready (log %s)", log);
}

/* The value of PromQL `query` (a single sample), or -1 when it has none. */
static double prom_value(unsigned port, const char *query)
{
	char *esc = curl_easy_escape(NULL, query, 0);
	char url[2048];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/api/v1/query?query=%s", port, esc);
	curl_free(esc);
	long st;
	char *body = http_get(url, &st);
	cr_assert(body && st == 200, "query %s: HTTP %ld: %s", query, st, body ? body : "");
	json_error_t je;
	json_t *j = json_loads(body, 0, &je);
	cr_assert_not_null(j, "query %s: %s", query, body);
	json_t *res = json_object_get(json_object_get(j, "data"), "result");
	double v = -1;
	if (json_is_array(res) && json_array_size(res) == 1) {
		json_t *val = json_array_get(json_object_get(json_array_get(res, 0), "value"), 1);
		if (json_is_string(val))
			v = strtod(json_string_value(val), NULL);
	}
	json_decref(j);
	free(body);
	return v;
}

/* Poll until query is at least `least` (scrapes come each second), 30 s
 * at most; the last value. */
static double prom_until(unsigned port, const char *query, double least)
{
	double v = -1;
	for (int i = 0; i < 150; i++) {
		v = prom_value(port, query);
		if (v >= least)
			break;
		usleep(200000);
	}
	return v;
}

/* promtool check metrics < text: its exit status, its output in out. */
static int promtool_metrics(const char *text, char *out, size_t cap)
{
	char path[PATH_MAX + 32], cmd[2 * PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/scrape.txt", prom_dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s' 2>&1", path);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, cap - 1, p);
	out[n] = 0;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Each vtl_... name in file (a dashboard, rules) is in the exposition. */
static void dashboard_series_served(const char *file, const char *exposition)
{
	FILE *f = fopen(file, "r");
	cr_assert_not_null(f, "%s", file);
	static char buf[262144];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	int names = 0;
	for (const char *p = strstr(buf, "vtl_"); p; p = strstr(p, "vtl_")) {
		char name[96];
		size_t k = 0;
		while (k < sizeof(name) - 1 && (p[k] == '_' || (p[k] >= 'a' && p[k] <= 'z') ||
						(p[k] >= '0' && p[k] <= '9')))
			k++;
		memcpy(name, p, k);
		name[k] = 0;
		p += k;
		if (p - k > buf && (p[-(long)k - 1] == ':' || p[-(long)k - 1] == '-'))
			continue; /* a recording rule's vtl:..., a uid */
		/* A sample of it, or its family (a gauge with no sample now,
		 * like vtl_store_held while nothing is held). */
		char line[128], family[128];
		snprintf(line, sizeof(line), "\n%s", name);
		snprintf(family, sizeof(family), "# TYPE %s ", name);
		cr_assert(strstr(exposition, line) || strstr(exposition, family),
			  "%s asks for %s, which vtld does not serve", file, name);
		names++;
	}
	cr_assert_gt(names, 10, "%s names too few series", file);
}

/* The dashboard's queries parse as PromQL: promtool checks them as rules. */
Test(metrics, grafana_dashboard_queries_are_promql)
{
	char cmd[4 * PATH_MAX], out[8192];
	snprintf(prom_dir, sizeof(prom_dir), "/tmp/vtl-dash-XXXXXX");
	cr_assert_not_null(mkdtemp(prom_dir));
	snprintf(cmd, sizeof(cmd),
		 "jq -r '[.panels[] | .targets[]? | .expr] | to_entries[] | "
		 "\"      - record: dashboard:q\\(.key)\\n        expr: \\(.value | tojson)\"' "
		 "'%s/contrib/grafana/vtl-dashboard.json' | sed 's/\\$instance/.*/g' | "
		 "{ printf 'groups:\\n  - name: dashboard\\n    rules:\\n'; cat; } > '%s/q.yml' && "
		 "promtool check rules '%s/q.yml' 2>&1",
		 SRCDIR, prom_dir, prom_dir);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	int st = pclose(p);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", out);
	const char *ok = strstr(out, "SUCCESS: ");
	cr_assert(ok && atoi(ok + 9) >= 20, "too few queries checked: %s", out);
}

Test(metrics, prometheus_scrapes_vtld_during_a_write_and_an_upload_to_radosgw)
{
	char out[8192], config[1024];
	snprintf(config, sizeof(config),
		 "[metrics]\nlisten = 127.0.0.1:0\n"
		 "[store]\ntype = s3\nendpoint = %s\nbucket = %s\naddressing = path\n"
		 "region = us-east-1\naccess_key_id = %s\nsecret_access_key = %s\n"
		 "part_size = 5M\nidle_complete = 1\ncache_limit = 1G\n",
		 getenv("RGW_ENDPOINT"), BUCKET, getenv("RGW_ACCESS_KEY"),
		 getenv("RGW_SECRET_KEY"));
	rgw_require();
	vp_start(&vtl, config);
	unsigned mport = metrics_port(&vtl), pport = free_port();
	prometheus_start(pport, mport);
	cr_assert_eq(prom_until(pport, "up{job=\"vtl\"}", 1), 1.0, "prometheus never scraped vtld");

	vp_ctl_ok(&vtl, "tape create MET001L8", out, sizeof(out));
	cr_assert_eq(prom_until(pport, "vtl_tapes{state=\"AVAILABLE\"}", 1), 1.0);
	shelf_write_tape(&suite, "MET001L8", 91, 12); /* about 12.5 MiB: three 5 MiB parts */
	vp_wait_uploaded(&vtl, "MET001L8");

	/* What the drive took, as AWS's WriteBytes: every byte written, and
	 * the time the WRITEs took. */
	double wrote =
	    prom_until(pport, "vtl_drive_write_bytes_total{device=\"drive1\"}", 12 * MIB);
	cr_assert_geq(wrote, 12 * MIB, "drive1 wrote %.0f bytes", wrote);
	cr_assert_gt(prom_value(pport, "vtl_drive_write_seconds_total{device=\"drive1\"}"), 0);
	cr_assert_gt(
	    prom_value(pport, "vtl_scsi_commands_total{device=\"drive1\",class=\"write\"}"), 0);
	cr_assert_gt(prom_value(pport, "vtl_scsi_command_duration_seconds_count{class=\"write\"}"),
		     0);
	/* AWS's CloudBytesUploaded: the tape's bytes are in the bucket. */
	double up = prom_until(pport, "vtl_cloud_bytes_uploaded_total", wrote);
	cr_assert_geq(up, wrote, "uploaded %.0f of %.0f bytes", up, wrote);
	cr_assert_geq(prom_value(pport, "vtl_upload_parts_total"), 3);
	cr_assert_geq(prom_until(pport, "vtl_upload_objects_completed_total", 1), 1);
	cr_assert_geq(prom_value(pport, "vtl_iscsi_logins_total{result=\"ok\"}"), 1);
	cr_assert_gt(prom_value(pport, "vtl_catalog_write_seconds_count"), 0);
	/* Once uploaded, nothing is dirty and the upload buffer is empty. */
	cr_assert_eq(prom_until(pport, "vtl_cache_percent_dirty == 0", 0), 0.0);
	cr_assert_gt(prom_value(pport, "vtl_cache_percent_used"), 0);
	cr_assert_eq(prom_value(pport, "vtl_pool_tapes{state=\"AVAILABLE\"}"), 1.0);
	cr_assert_eq(prom_value(pport, "vtl_ready"), 1.0);
	/* A rate over the write, as a dashboard shows it. */
	cr_assert_gt(prom_value(pport, "sum(increase(vtl_cloud_bytes_uploaded_total[1m]))"), 0);
	/* The rules loaded and evaluated, and none fires on a healthy vtld. */
	cr_assert_eq(prom_value(pport, "count(ALERTS{alertstate=\"firing\"}) or vector(0)"), 0.0);

	/* A TEST UNIT READY on the empty drive 2 is a CHECK CONDITION with
	 * NOT READY (SPC-4, TEST UNIT READY); a login to a target that is not there is
	 * refused (RFC 7143 11.13.5, 0203). Both are counted. */
	struct iscsi_context *s = vp_login(&vtl, false);
	for (int i = 0; i < 2; i++) { /* UNIT ATTENTION first (a new nexus), then NOT READY */
		struct scsi_task *task = iscsi_testunitready_sync(s, 2);
		cr_assert(task && task->status == SCSI_STATUS_CHECK_CONDITION);
		scsi_free_scsi_task(task);
	}
	iscsi_logout_sync(s);
	iscsi_destroy_context(s);
	struct iscsi_context *bad = iscsi_create_context(VP_INITIATOR);
	cr_assert_not_null(bad);
	iscsi_set_targetname(bad, "iqn.2026-11.invalid:no-such-target");
	iscsi_set_session_type(bad, ISCSI_SESSION_NORMAL);
	cr_assert_neq(iscsi_full_connect_sync(bad, vtl.portal, 0), 0, "a login to no target");
	iscsi_destroy_context(bad);
	cr_assert_geq(
	    prom_until(pport,
		       "vtl_scsi_check_conditions_total{device=\"drive2\",sense_key=\"NOT_READY\"}",
		       1),
	    1);
	cr_assert_geq(prom_until(pport, "vtl_iscsi_logins_total{result=\"refused\"}", 1), 1);
	cr_assert_eq(prom_until(pport, "vtl_iscsi_sessions == 0", 0), 0.0,
		     "the sessions gauge is back to 0 after the logouts");

	/* The exposition itself passes promtool's lint. */
	char url[128];
	long st;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", mport);
	char *text = http_get(url, &st);
	cr_assert(text && st == 200);
	cr_assert_eq(promtool_metrics(text, out, sizeof(out)), 0, "promtool: %s", out);
	/* Every series the dashboard and the rules ask for is served. */
	dashboard_series_served(SRCDIR "/contrib/grafana/vtl-dashboard.json", text);
	dashboard_series_served(SRCDIR "/contrib/prometheus/vtl-alerts.yml", text);
	free(text);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/healthz", mport);
	text = http_get(url, &st);
	cr_assert(text && st == 200 && strcmp(text, "ok\n") == 0, "%ld %s", st, text);
	free(text);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/readyz", mport);
	text = http_get(url, &st);
	cr_assert(text && st == 200 && strcmp(text, "ready\n") == 0, "%ld %s", st, text);
	free(text);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/nothing", mport);
	text = http_get(url, &st);
	cr_assert_eq(st, 404);
	free(text);
}

Test(metrics, alert_rules_pass_promtool)
{
	char cmd[PATH_MAX + 64], out[4096];
	snprintf(cmd, sizeof(cmd),
		 "promtool check rules '%s/contrib/prometheus/vtl-alerts.yml' 2>&1", SRCDIR);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	int st = pclose(p);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", out);
	cr_assert(strstr(out, "SUCCESS"), "%s", out);
}

/* ---- systemd ---------------------------------------------------------------- */

/* The next datagram on fd within ms, or "" (NUL-terminated in buf). */
static const char *next_notify(int fd, char *buf, size_t cap, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssize_t n = recv(fd, buf, cap - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

Test(metrics, systemd_hears_ready_status_watchdog_and_stopping)
{
	/* The socket systemd would give a Type=notify service, and a 2 s
	 * WatchdogSec=. */
	char path[64];
	snprintf(path, sizeof(path), "/tmp/vtl-notify-%d", (int)getpid());
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0, "%s", strerror(errno));
	setenv("NOTIFY_SOCKET", path, 1);
	setenv("WATCHDOG_USEC", "2000000", 1);
	vp_start(&vtl, NULL);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");

	char buf[1024];
	bool ready = false, status = false;
	int watchdogs = 0;
	for (int i = 0; i < 20 && (!ready || watchdogs < 2); i++) {
		const char *m = next_notify(fd, buf, sizeof(buf), 3000);
		if (strstr(m, "READY=1")) {
			ready = true;
			status = strstr(m, "STATUS=0 iSCSI sessions") != NULL;
			cr_assert(status, "READY comes with a STATUS line: %s", m);
		}
		if (strstr(m, "WATCHDOG=1")) {
			cr_assert(ready, "a watchdog ping before READY=1");
			watchdogs++;
		}
	}
	cr_assert(ready, "no READY=1 from vtld");
	cr_assert_geq(watchdogs, 2, "WATCHDOG=1 comes once a second when WatchdogSec= is set");
	/* A session shows in the next STATUS= line. */
	struct iscsi_context *s = vp_login(&vtl, false);
	bool seen = false;
	for (int i = 0; i < 40 && !seen; i++)
		seen = strstr(next_notify(fd, buf, sizeof(buf), 3000), "STATUS=1 iSCSI session") !=
		       NULL;
	cr_assert(seen, "no STATUS= line with the session");
	iscsi_logout_sync(s);
	iscsi_destroy_context(s);
	kill(vtl.pid, SIGTERM);
	bool stopping = false;
	for (int i = 0; i < 20 && !stopping; i++)
		stopping = strstr(next_notify(fd, buf, sizeof(buf), 3000), "STOPPING=1") != NULL;
	cr_assert(stopping, "no STOPPING=1 at shutdown");
	close(fd);
	unlink(path);
}

/* The unit file as shipped, with ExecStart at the vtld built here, passes
 * `systemd-analyze verify` (no running systemd needed), and is of the
 * notify type the test above speaks. */
Test(metrics, systemd_unit_verifies_and_is_type_notify)
{
	char vtld[PATH_MAX], unit[PATH_MAX + 32], cmd[8 * PATH_MAX], out[4096];
	const char *env = getenv("VTLD");
	cr_assert_not_null(realpath(env ? env : "./vtld", vtld), "no vtld binary");
	snprintf(prom_dir, sizeof(prom_dir), "/tmp/vtl-unit-XXXXXX");
	cr_assert_not_null(mkdtemp(prom_dir));
	snprintf(unit, sizeof(unit), "%s/vtld.service", prom_dir);
	snprintf(cmd, sizeof(cmd),
		 "sed 's|/usr/local/bin/vtld|%s|' '%s/contrib/systemd/vtld.service' > '%s' && "
		 "grep -q '^Type=notify$' '%s' && grep -q '^WatchdogSec=' '%s' && "
		 "systemd-analyze verify '%s' 2>&1",
		 vtld, SRCDIR, unit, unit, unit, unit);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	int st = pclose(p);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the unit does not verify: %s", out);
}

int main(int argc, char *argv[])
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return rgw_main(argc, argv, BUCKET);
}
