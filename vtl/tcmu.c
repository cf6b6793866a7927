/*
 * tcmu.c - the TCMU frontend's control side (see tcmu.h and docs/tcmu.md):
 * which LIO backstores this vtld serves, and their lifecycle. It scans the
 * UIO class, reads LIO's configfs, listens and answers on netlink, and
 * attaches a device (mapping its /dev/uioN and starting its thread) or lets
 * it go. What happens on a device's command ring, once attached, is
 * tcmu_ring.c's.
 *
 * Netlink (the generic family TCM-USER, group "config"): the kernel
 * announces every device it adds, removes or reconfigures, and, for a
 * device without nl_reply_supported=-1 once a handler has sent
 * SET_FEATURES, blocks the configfs write behind the announcement until an
 * answer with the device id and a status arrives. One monitor thread
 * listens, attaches, answers and rescans; it alone changes the device
 * list (under t->lock, for tcmu_attached()).
 */
#include "config.h"

#include "tcmu_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <sys/uio.h>
/* linux/uio.h (pulled in by the TCMU header) defines struct iovec again,
 * unguarded; glibc's definition from sys/uio.h is the same layout. */
#define __LINUX_UIO_H
#include <linux/target_core_user.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "scsi/scsi.h"

/* UIO device names are "tcm-user/<hba>/<device>/<config string>". */
#define TCMU_UIO_PREFIX "tcm-user/"

void tcmu_log(struct tcmu *t, enum tcmu_log_level level, const char *fmt, ...)
{
	if (!t->cfg.log)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	t->cfg.log(t->cfg.log_arg, level, msg);
}

/* ---- backstores: UIO names and configfs ---- */

/* Where LIO keeps its backstores: a TCMU one is user_<hba>/<device>/. */
#define TCMU_CONFIGFS "/sys/kernel/config/target/core"

static int read_sysfs(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, cap - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

/* A UIO name "tcm-user/<hba>/<device>/<config string>", taken apart. */
struct uio_name {
	char label[96];	    /* "<hba>/<device>", for log lines and configfs */
	const char *config; /* the config string, inside the name */
};

static bool parse_name(const char *name, struct uio_name *u)
{
	if (strncmp(name, TCMU_UIO_PREFIX, strlen(TCMU_UIO_PREFIX)) != 0)
		return false;
	const char *p = name + strlen(TCMU_UIO_PREFIX);
	const char *s1 = strchr(p, '/');
	const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
	if (!s2 || (size_t)(s2 - p) >= sizeof(u->label))
		return false;
	snprintf(u->label, sizeof(u->label), "%.*s", (int)(s2 - p), p);
	u->config = s2 + 1;
	return true;
}

enum owner {
	OWNER_OTHER,   /* another handler's (tcmu-runner's "file/", "rbd/") */
	OWNER_US,      /* "vtl/<our library>/" */
	OWNER_SIBLING, /* "vtl/<another library>/": another vtld's, or a typo */
};

static enum owner owner_of(const struct tcmu *t, const char *config)
{
	if (strncmp(config, t->prefix, strlen(t->prefix)) == 0)
		return OWNER_US;
	if (t->family_len && strncmp(config, t->prefix, t->family_len) == 0)
		return OWNER_SIBLING;
	return OWNER_OTHER;
}

static struct timespec now_plus(long ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* Milliseconds from now until ts (0 when past). */
static long ms_until(struct timespec ts)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long ms = (long)(ts.tv_sec - now.tv_sec) * 1000 + (ts.tv_nsec - now.tv_nsec) / 1000000L;
	return ms > 0 ? ms : 0;
}

/*
 * Reading configfs can block: a lookup under user_<hba>/ waits for that
 * directory's lock, which an rmdir of a backstore there holds while the
 * kernel waits for our REMOVED_DEVICE answer; a monitor thread blocked in
 * that lookup would never send it. So each read runs on a thread of its
 * own, and the monitor gives up after TCMU_CFS_TIMEOUT_MS (the read ends
 * by itself once the rmdir is through, and frees its job).
 */
#define TCMU_CFS_TIMEOUT_MS 2000

struct cfs_job {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char path[512];
	char val[32]; /* the attributes read here are numbers */
	int rc;
	bool done, abandoned;
};

static void cfs_job_free(struct cfs_job *j)
{
	pthread_cond_destroy(&j->cond);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

static void *cfs_worker(void *arg)
{
	struct cfs_job *j = arg;
	char val[sizeof(j->val)] = "";
	int rc = read_sysfs(j->path, val, sizeof(val));
	pthread_mutex_lock(&j->lock);
	bool abandoned = j->abandoned;
	j->rc = rc;
	memcpy(j->val, val, sizeof(val));
	j->done = true;
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
	if (abandoned)
		cfs_job_free(j);
	return NULL;
}

/* Attribute `attr` of the backstore "<hba>/<device>"; -ETIMEDOUT when
 * configfs did not answer in time. */
static int cfs_read(const char *label, const char *attr, char *buf, size_t cap)
{
	const char *slash = strchr(label, '/');
	if (!slash || slash - label > 16)
		return -EINVAL;
	struct cfs_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&j->lock, NULL);
	snprintf(j->path, sizeof(j->path), TCMU_CONFIGFS "/user_%.*s/%s/%s", (int)(slash - label),
		 label, slash + 1, attr);
	pthread_attr_t ta;
	pthread_attr_init(&ta);
	pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
	pthread_t th;
	int rc = pthread_create(&th, &ta, cfs_worker, j);
	pthread_attr_destroy(&ta);
	if (rc) {
		cfs_job_free(j);
		return -rc;
	}
	struct timespec due = now_plus(TCMU_CFS_TIMEOUT_MS);
	pthread_mutex_lock(&j->lock);
	while (!j->done && pthread_cond_timedwait(&j->cond, &j->lock, &due) != ETIMEDOUT)
		;
	bool done = j->done;
	if (done) {
		rc = j->rc;
		snprintf(buf, cap, "%s", j->val);
	} else {
		j->abandoned = true;
		rc = -ETIMEDOUT;
	}
	pthread_mutex_unlock(&j->lock);
	if (done)
		cfs_job_free(j);
	return rc;
}

/*
 * Whether the kernel waits for our answer to this backstore's events:
 * attrib/nl_reply_supported is 1 when it does, 0 or -1 when it does not.
 * When configfs cannot tell, answer: a needless answer costs one kernel
 * log line ("could not find device"), a missing one blocks the configfs
 * write behind the event for good (Linux 6.1 waits with no timeout, in
 * an uninterruptible sleep). Never called for REMOVED_DEVICE, whose
 * backstore configfs has dropped (and whose rmdir holds the lock).
 */
static bool cfs_waits(const char *label)
{
	char v[32];
	return cfs_read(label, "attrib/nl_reply_supported", v, sizeof(v)) || atoi(v) > 0;
}

/* ---- attaching devices ---- */

struct tcmu_refused {
	char name[256];
	bool seen; /* still in the UIO class at the last rescan */
};

static void dev_free(struct tcmu_dev *d)
{
	if (d->map && d->map != MAP_FAILED)
		munmap(d->map, d->map_len);
	if (d->fd >= 0)
		close(d->fd);
	free(d->buf);
	free(d->iov);
	free(d);
}

/* True when `name` was refused before (and marks it still present). */
static bool refused_before(struct tcmu *t, const char *name)
{
	for (size_t i = 0; i < t->n_refused; i++)
		if (strcmp(t->refused[i].name, name) == 0) {
			t->refused[i].seen = true;
			return true;
		}
	struct tcmu_refused *r = realloc(t->refused, (t->n_refused + 1) * sizeof(*r));
	if (r) {
		t->refused = r;
		snprintf(r[t->n_refused].name, sizeof(r->name), "%s", name);
		r[t->n_refused++].seen = true;
	}
	return false;
}

static int attach(struct tcmu *t, const char *uio, const char *name, const struct uio_name *u)
{
	const char *unit = u->config + strlen(t->prefix);
	struct scsi_dev *dev = t->cfg.resolve(t->cfg.arg, unit);
	if (!dev) {
		if (!refused_before(t, name))
			tcmu_log(t, TCMU_LOG_WARN,
				 "tcmu: backstore %s (%s) names '%s', which this library does not "
				 "have (use changer or drive1..driveN); not serving it",
				 u->label, uio, u->config);
		return -ENOENT;
	}

	struct tcmu_dev *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->t = t;
	d->fd = -1;
	d->dev = dev;
	d->waits = cfs_waits(u->label);
	snprintf(d->uio, sizeof(d->uio), "%.31s", uio);
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->label, sizeof(d->label), "%s", u->label);

	char path[1024], val[64];
	snprintf(path, sizeof(path), "%s/%s/maps/map0/size", t->uio_class, uio);
	int rc = read_sysfs(path, val, sizeof(val));
	if (rc) {
		tcmu_log(t, TCMU_LOG_ERROR, "tcmu %s: cannot read %s: %s", d->label, path,
			 strerror(-rc));
		goto fail;
	}
	d->map_len = (size_t)strtoull(val, NULL, 0);
	snprintf(path, sizeof(path), "/dev/%s", uio);
	d->fd = open(path, O_RDWR | O_CLOEXEC);
	if (d->fd < 0) {
		rc = -errno;
		tcmu_log(t, TCMU_LOG_ERROR, "tcmu %s: cannot open %s: %s", d->label, path,
			 strerror(errno));
		goto fail;
	}
	d->map = mmap(NULL, d->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd, 0);
	if (d->map == MAP_FAILED) {
		rc = -errno;
		tcmu_log(t, TCMU_LOG_ERROR, "tcmu %s: cannot map %s (%zu bytes): %s", d->label,
			 path, d->map_len, strerror(errno));
		goto fail;
	}
	const struct tcmu_mailbox *mb = (const struct tcmu_mailbox *)(void *)d->map;
	d->cmdr_off = mb->cmdr_off;
	d->cmdr_size = mb->cmdr_size;
	d->read_len_cap = (mb->flags & TCMU_MAILBOX_FLAG_CAP_READ_LEN) != 0;
	if (mb->version != TCMU_MAILBOX_VERSION || !d->cmdr_size ||
	    !tcmu_in_map(d, d->cmdr_off, d->cmdr_size)) {
		rc = -EPROTO;
		tcmu_log(
		    t, TCMU_LOG_ERROR,
		    "tcmu %s: mailbox version %u (ring %u+%u of %zu) is not the version %d this "
		    "frontend speaks",
		    d->label, mb->version, d->cmdr_off, d->cmdr_size, d->map_len,
		    TCMU_MAILBOX_VERSION);
		goto fail;
	}
	rc = pthread_create(&d->thread, NULL, tcmu_ring_thread, d);
	if (rc) {
		tcmu_log(t, TCMU_LOG_ERROR, "tcmu %s: cannot start its thread: %s", d->label,
			 strerror(rc));
		rc = -rc;
		goto fail;
	}
	d->next = t->devs;
	t->devs = d;
	tcmu_log(t, TCMU_LOG_INFO, "tcmu: serving backstore %s (%s, %s) as %s", d->label, uio,
		 u->config, unit);
	return 0;
fail:
	dev_free(d);
	return rc;
}

/* The live device on `uio`, or NULL. */
static struct tcmu_dev *dev_on(struct tcmu *t, const char *uio)
{
	for (struct tcmu_dev *d = t->devs; d; d = d->next)
		if (strcmp(d->uio, uio) == 0 && !atomic_load(&d->done))
			return d;
	return NULL;
}

/*
 * Serve the device on `uio` (UIO name `name`) if its config string is
 * ours. Returns 0 when it is served (already, or from now on), -ENOENT
 * when it names a unit this library does not have, another negative errno
 * when it could not be attached, and 1 when it is not ours. Runs on the
 * monitor thread (or in tcmu_start before it), with t->lock held.
 */
static int serve(struct tcmu *t, const char *uio, const char *name)
{
	struct uio_name u;
	if (!parse_name(name, &u) || owner_of(t, u.config) != OWNER_US)
		return 1;
	struct tcmu_dev *d = dev_on(t, uio);
	if (!d)
		return attach(t, uio, name, &u);
	if (strcmp(d->name, name) != 0) {
		/* A backstore created with nl_reply_supported=-1 changes its
		 * config string without asking; with answers we refuse that
		 * (nl_event). The ring is the same: keep serving it. */
		tcmu_log(
		    t, TCMU_LOG_WARN,
		    "tcmu %s: config string changed to '%s' (was %s); still serving the unit it "
		    "named before: remove and recreate the backstore to change that",
		    d->label, u.config, d->name);
		snprintf(d->name, sizeof(d->name), "%s", name);
	}
	return 0;
}

/* ---- the TCM-USER generic netlink family ---- */

/* The family's version (genlmsghdr.version) since Linux 4.17. */
#define TCMU_NL_VERSION 2
/* How long a backstore naming another library waits for that library's
 * vtld to accept it before this one refuses it. */
#define TCMU_SIBLING_GRACE_MS 3000

struct nl_msg {
	struct nlmsghdr n;
	struct genlmsghdr g;
	char attrs[256];
};

static void nl_init(struct nl_msg *m, uint16_t type, uint16_t flags, uint8_t cmd, uint32_t seq)
{
	memset(m, 0, sizeof(*m));
	m->n.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	m->n.nlmsg_type = type;
	m->n.nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	m->n.nlmsg_seq = seq;
	m->g.cmd = cmd;
	m->g.version = TCMU_NL_VERSION;
}

/* Append one attribute; every message here is far below the buffer. */
static void nl_put(struct nl_msg *m, uint16_t type, const void *data, size_t len)
{
	size_t at = NLMSG_ALIGN(m->n.nlmsg_len);
	if (at + NLA_HDRLEN + len > sizeof(*m))
		return;
	struct nlattr a = {.nla_len = (uint16_t)(NLA_HDRLEN + len), .nla_type = type};
	memcpy((char *)m + at, &a, sizeof(a));
	memcpy((char *)m + at + NLA_HDRLEN, data, len);
	m->n.nlmsg_len = (uint32_t)(at + NLA_ALIGN(a.nla_len));
}

static int nl_send(int fd, const struct nl_msg *m)
{
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	if (sendto(fd, m, m->n.nlmsg_len, 0, (const struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	return 0;
}

/* Index the attributes in [at, end) by type (up to max); malformed ones
 * end the walk. */
static void nl_parse(const char *at, const char *end, const struct nlattr **tb, unsigned max)
{
	memset(tb, 0, (max + 1) * sizeof(*tb));
	while (at + NLA_HDRLEN <= end) {
		const struct nlattr *a = (const struct nlattr *)(const void *)at;
		if (a->nla_len < NLA_HDRLEN || a->nla_len > end - at)
			return;
		unsigned type = a->nla_type & NLA_TYPE_MASK;
		if (type <= max)
			tb[type] = a;
		at += NLA_ALIGN(a->nla_len);
	}
}

static const void *nla_data(const struct nlattr *a)
{
	return (const char *)a + NLA_HDRLEN;
}

static size_t nla_len(const struct nlattr *a)
{
	return a->nla_len - NLA_HDRLEN;
}

static bool nla_u32(const struct nlattr *a, uint32_t *v)
{
	if (!a || nla_len(a) < sizeof(*v))
		return false;
	memcpy(v, nla_data(a), sizeof(*v));
	return true;
}

/* A string attribute into buf (cut to fit, trailing newlines dropped: a
 * config string written with echo keeps its newline). */
static bool nla_str(const struct nlattr *a, char *buf, size_t cap)
{
	if (!a)
		return false;
	size_t n = strnlen(nla_data(a), nla_len(a));
	if (n >= cap)
		n = cap - 1;
	memcpy(buf, nla_data(a), n);
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	return true;
}

/* Find TCM-USER's family id and its multicast group "config". */
static int nl_resolve(int fd, uint16_t *family, uint32_t *group)
{
	static const char name[] = "TCM-USER";
	struct nl_msg m;
	nl_init(&m, GENL_ID_CTRL, 0, CTRL_CMD_GETFAMILY, 1);
	m.g.version = 1;
	nl_put(&m, CTRL_ATTR_FAMILY_NAME, name, sizeof(name));
	int rc = nl_send(fd, &m);
	if (rc)
		return rc;
	union {
		struct nlmsghdr n;
		char buf[4096];
	} rsp;
	ssize_t n = recv(fd, &rsp, sizeof(rsp), 0);
	if (n < 0)
		return -errno;
	if (n < (ssize_t)NLMSG_LENGTH(GENL_HDRLEN) || rsp.n.nlmsg_type == NLMSG_ERROR ||
	    rsp.n.nlmsg_len > (size_t)n)
		return -ENOENT; /* target_core_user is not loaded */
	const struct nlattr *tb[CTRL_ATTR_MAX + 1];
	nl_parse(rsp.buf + NLMSG_LENGTH(GENL_HDRLEN), rsp.buf + rsp.n.nlmsg_len, tb, CTRL_ATTR_MAX);
	if (!tb[CTRL_ATTR_FAMILY_ID] || nla_len(tb[CTRL_ATTR_FAMILY_ID]) < 2 ||
	    !tb[CTRL_ATTR_MCAST_GROUPS])
		return -ENOENT;
	memcpy(family, nla_data(tb[CTRL_ATTR_FAMILY_ID]), 2);
	/* CTRL_ATTR_MCAST_GROUPS nests one attribute per group, each
	 * nesting the group's name and id. */
	const struct nlattr *grps = tb[CTRL_ATTR_MCAST_GROUPS];
	const char *g = nla_data(grps), *gend = g + nla_len(grps);
	while (g + NLA_HDRLEN <= gend) {
		const struct nlattr *grp = (const struct nlattr *)(const void *)g;
		if (grp->nla_len < NLA_HDRLEN || grp->nla_len > gend - g)
			break;
		const struct nlattr *ga[CTRL_ATTR_MCAST_GRP_MAX + 1];
		nl_parse(nla_data(grp), (const char *)nla_data(grp) + nla_len(grp), ga,
			 CTRL_ATTR_MCAST_GRP_MAX);
		char gname[16];
		if (nla_str(ga[CTRL_ATTR_MCAST_GRP_NAME], gname, sizeof(gname)) &&
		    strcmp(gname, "config") == 0 && nla_u32(ga[CTRL_ATTR_MCAST_GRP_ID], group))
			return 0;
		g += NLA_ALIGN(grp->nla_len);
	}
	return -ENOENT;
}

/*
 * Tell the kernel whether a handler answers device events
 * (TCMU_CMD_SET_FEATURES, TCMU_ATTR_SUPP_KERN_CMD_REPLY). The setting is
 * the module's, for every backstore enabled afterwards that was not created
 * with nl_reply_supported=-1. Returns 0 or the kernel's negative errno
 * (-EOPNOTSUPP or -EINVAL before Linux 4.17; -EPERM without CAP_NET_ADMIN).
 * Its own socket, so the acknowledgement is not queued among events.
 */
static int nl_set_features(struct tcmu *t, uint8_t answers)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0)
		return -errno;
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct nl_msg m;
	nl_init(&m, t->nl_family, NLM_F_ACK, TCMU_CMD_SET_FEATURES, ++t->nl_seq);
	nl_put(&m, TCMU_ATTR_SUPP_KERN_CMD_REPLY, &answers, sizeof(answers));
	int rc = nl_send(fd, &m);
	if (!rc) {
		union {
			struct nlmsghdr n;
			char buf[1024];
		} rsp;
		ssize_t n = recv(fd, &rsp, sizeof(rsp), 0);
		if (n < 0)
			rc = -errno;
		else if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) ||
			 rsp.n.nlmsg_type != NLMSG_ERROR)
			rc = -EPROTO;
		else {
			struct nlmsgerr err;
			memcpy(&err, NLMSG_DATA(&rsp.n), sizeof(err));
			rc = err.error;
		}
	}
	close(fd);
	return rc;
}

static const char *cmd_name(uint8_t cmd)
{
	switch (cmd) {
	case TCMU_CMD_ADDED_DEVICE:
	case TCMU_CMD_ADDED_DEVICE_DONE:
		return "ADDED_DEVICE";
	case TCMU_CMD_REMOVED_DEVICE:
	case TCMU_CMD_REMOVED_DEVICE_DONE:
		return "REMOVED_DEVICE";
	case TCMU_CMD_RECONFIG_DEVICE:
	case TCMU_CMD_RECONFIG_DEVICE_DONE:
		return "RECONFIG_DEVICE";
	default:
		return "?";
	}
}

/* Answer a device event: cmd is the *_DONE command, status 0 or a
 * negative errno, which the configfs write behind the event returns. */
static void nl_answer(struct tcmu *t, uint8_t cmd, uint32_t dev_id, int32_t status,
		      const char *label)
{
	struct nl_msg m;
	nl_init(&m, t->nl_family, 0, cmd, ++t->nl_seq);
	nl_put(&m, TCMU_ATTR_CMD_STATUS, &status, sizeof(status));
	nl_put(&m, TCMU_ATTR_DEVICE_ID, &dev_id, sizeof(dev_id));
	int rc = nl_send(t->nl_fd, &m);
	if (rc)
		tcmu_log(t, TCMU_LOG_ERROR, "tcmu %s: cannot answer %s (device id %u): %s", label,
			 cmd_name(cmd), dev_id, strerror(-rc));
	else
		tcmu_log(t, TCMU_LOG_INFO, "tcmu %s: answered %s (device id %u, #%u): %s", label,
			 cmd_name(cmd), dev_id, m.n.nlmsg_seq, status ? strerror(-status) : "ok");
}

/* ---- backstores naming another library ---- */

struct tcmu_deferred {
	uint32_t dev_id;
	char label[96];
	char config[256];
	struct timespec due;
};

/*
 * A backstore under "vtl/" that names another library waits for an
 * answer. It may be another vtld's (each vtld serves one library, and all
 * of them hear every event; the first answer is the one the kernel takes),
 * or a typo, which nobody would ever answer: the configfs write would
 * hang. So refuse it, but only after the other vtld had time to accept it.
 */
static void defer_refusal(struct tcmu *t, uint32_t dev_id, const struct uio_name *u)
{
	for (size_t i = 0; i < t->n_deferred; i++)
		if (t->deferred[i].dev_id == dev_id)
			return;
	struct tcmu_deferred *r = realloc(t->deferred, (t->n_deferred + 1) * sizeof(*r));
	if (!r)
		return;
	t->deferred = r;
	r += t->n_deferred++;
	r->dev_id = dev_id;
	snprintf(r->label, sizeof(r->label), "%s", u->label);
	snprintf(r->config, sizeof(r->config), "%s", u->config);
	r->due = now_plus(TCMU_SIBLING_GRACE_MS);
}

/* Refuse the deferred backstores whose grace is over and that nobody has
 * accepted (configfs `enable` still 0: the kernel still waits). Returns the
 * milliseconds until the next one is due, or -1. */
static long run_deferred(struct tcmu *t)
{
	long next = -1;
	for (size_t i = 0; i < t->n_deferred;) {
		struct tcmu_deferred *r = &t->deferred[i];
		long ms = ms_until(r->due);
		if (ms > 0) {
			next = next < 0 || ms < next ? ms : next;
			i++;
			continue;
		}
		char v[32];
		int rc = cfs_read(r->label, "enable", v, sizeof(v));
		if (rc == -ETIMEDOUT) { /* configfs busy (an rmdir): ask again */
			r->due = now_plus(1000);
			next = next < 0 || next > 1000 ? 1000 : next;
			i++;
			continue;
		}
		if (rc == 0 && strcmp(v, "0") == 0) {
			tcmu_log(
			    t, TCMU_LOG_WARN,
			    "tcmu: backstore %s names '%s', which is not this library's (%s) and "
			    "which no other vtld accepted; refusing it",
			    r->label, r->config, t->prefix);
			nl_answer(t, TCMU_CMD_ADDED_DEVICE_DONE, r->dev_id, -ENOENT, r->label);
		}
		*r = t->deferred[--t->n_deferred];
	}
	return next;
}

/* ---- scanning the UIO class ---- */

/*
 * A backstore whose UIO device exists while its configfs `enable` still
 * reads 0 is being enabled: the kernel announced it and may be waiting for
 * the answer. An announcement sent while no vtld listened is lost, so after
 * (re)joining the group the rescan answers those from configfs, where
 * statistics/scsi_dev/indx is the device id the kernel expects.
 */
static void answer_missed(struct tcmu *t, const char *name, int status)
{
	struct uio_name u;
	char v[32];
	if (!parse_name(name, &u))
		return;
	enum owner owner = owner_of(t, u.config);
	if (owner == OWNER_OTHER)
		return;
	int rc = cfs_read(u.label, "enable", v, sizeof(v));
	if (!rc && strcmp(v, "0") == 0)
		rc = cfs_read(u.label, "attrib/nl_reply_supported", v, sizeof(v));
	else if (!rc)
		return; /* enabled */
	if (!rc && atoi(v) > 0)
		rc = cfs_read(u.label, "statistics/scsi_dev/indx", v, sizeof(v));
	else if (!rc)
		return; /* waits for no answer */
	if (rc) {
		/* configfs busy (an rmdir in this HBA): look again at the next
		 * rescan; a vanished backstore waits for nothing. */
		if (rc == -ETIMEDOUT)
			t->answer_missed = true;
		return;
	}
	uint32_t id = (uint32_t)strtoul(v, NULL, 10);
	if (owner == OWNER_US)
		nl_answer(t, TCMU_CMD_ADDED_DEVICE_DONE, id, status, u.label);
	else
		defer_refusal(t, id, &u);
}

/* Reap the threads of devices that went away; serve new ones. */
static void rescan(struct tcmu *t)
{
	bool missed = t->answer_missed && t->nl_answer;
	t->answer_missed = false;
	pthread_mutex_lock(&t->lock);
	for (struct tcmu_dev **pp = &t->devs; *pp;) {
		struct tcmu_dev *d = *pp;
		if (atomic_load(&d->done)) {
			pthread_join(d->thread, NULL);
			*pp = d->next;
			dev_free(d);
		} else
			pp = &d->next;
	}
	for (size_t i = 0; i < t->n_refused; i++)
		t->refused[i].seen = false;
	DIR *dir = opendir(t->uio_class);
	if (dir) {
		struct dirent *de;
		while ((de = readdir(dir))) {
			if (strncmp(de->d_name, "uio", 3) != 0 || strlen(de->d_name) >= 32)
				continue;
			char path[1024], name[256];
			snprintf(path, sizeof(path), "%s/%s/name", t->uio_class, de->d_name);
			if (read_sysfs(path, name, sizeof(name)) ||
			    strncmp(name, TCMU_UIO_PREFIX, strlen(TCMU_UIO_PREFIX)) != 0)
				continue;
			int rc = serve(t, de->d_name, name);
			if (missed)
				answer_missed(t, name, rc);
		}
		closedir(dir);
	}
	/* Forget refusals of backstores that are gone: one made again
	 * under the same name is reported again. */
	for (size_t i = 0; i < t->n_refused;)
		if (t->refused[i].seen)
			i++;
		else
			t->refused[i] = t->refused[--t->n_refused];
	pthread_mutex_unlock(&t->lock);
}

/* ---- device events ---- */

/*
 * One event of the group "config": TCMU_ATTR_DEVICE (the UIO name),
 * TCMU_ATTR_MINOR (N of uioN), TCMU_ATTR_DEVICE_ID (what the answer must
 * carry), and for RECONFIG_DEVICE what changes (TCMU_ATTR_DEV_CFG,
 * TCMU_ATTR_DEV_SIZE or TCMU_ATTR_WRITECACHE). The kernel waits for an
 * answer only for devices with nl_reply_supported 1 (cfs_waits).
 */
static void nl_event(struct tcmu *t, uint8_t cmd, const char *at, const char *end)
{
	const struct nlattr *tb[TCMU_ATTR_MAX + 1];
	nl_parse(at, end, tb, TCMU_ATTR_MAX);
	char name[256], uio[32];
	uint32_t minor, id;
	struct uio_name u;
	if (!nla_str(tb[TCMU_ATTR_DEVICE], name, sizeof(name)) ||
	    !nla_u32(tb[TCMU_ATTR_MINOR], &minor) || !nla_u32(tb[TCMU_ATTR_DEVICE_ID], &id) ||
	    !parse_name(name, &u))
		return;
	snprintf(uio, sizeof(uio), "uio%u", minor);
	enum owner owner = owner_of(t, u.config);
	if (owner == OWNER_OTHER)
		return;

	int status = 0;
	bool waits = t->nl_answer && cmd != TCMU_CMD_REMOVED_DEVICE && cfs_waits(u.label);
	pthread_mutex_lock(&t->lock);
	struct tcmu_dev *d = dev_on(t, uio);
	switch (cmd) {
	case TCMU_CMD_ADDED_DEVICE:
		if (owner == OWNER_SIBLING) {
			if (waits)
				defer_refusal(t, id, &u);
			waits = false;
		} else
			status = serve(t, uio, name);
		break;
	case TCMU_CMD_REMOVED_DEVICE:
		/* What configfs said at attach time (or the last event)
		 * stands. A device that waits keeps its UIO node until the
		 * answer, so without a live device here nothing waits: a
		 * device with nl_reply_supported=-1 may well be gone (and
		 * its thread detached) before this event is read. */
		waits = owner == OWNER_US && d && t->nl_answer && d->waits;
		break;
	case TCMU_CMD_RECONFIG_DEVICE: {
		char cfg[256];
		if (owner == OWNER_SIBLING) {
			waits = false; /* its own vtld answers */
			break;
		}
		if (!d) {
			status = -ENODEV; /* ours, but not served: nothing to change */
			break;
		}
		d->waits = waits;
		if (nla_str(tb[TCMU_ATTR_DEV_CFG], cfg, sizeof(cfg)) &&
		    strcmp(cfg, u.config) != 0) {
			/* The ring stays the same, so a new config string
			 * would name another unit behind the same LUNs. */
			tcmu_log(t, TCMU_LOG_WARN,
				 "tcmu %s: refusing to change its config string from '%s' to '%s': "
				 "remove the backstore and create it again",
				 u.label, u.config, cfg);
			status = -EOPNOTSUPP;
		}
		/* dev_size and emulate_write_cache are LIO's own attributes;
		 * a passthrough tape device uses neither. */
		break;
	}
	default:
		waits = false;
		break;
	}
	pthread_mutex_unlock(&t->lock);
	if (waits)
		nl_answer(t, (uint8_t)(cmd + TCMU_CMD_ADDED_DEVICE_DONE - TCMU_CMD_ADDED_DEVICE),
			  id, status, u.label);
}

/* Read every queued message: events, and the kernel's errors for answers
 * it could not match (a device that did not wait after all). */
static void nl_drain(struct tcmu *t)
{
	union {
		struct nlmsghdr n;
		char buf[8192];
	} m;
	for (;;) {
		ssize_t n = recv(t->nl_fd, &m, sizeof(m), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == ENOBUFS) {
				/* Events were dropped: answer from configfs. */
				t->answer_missed = true;
				continue;
			}
			return;
		}
		if (n == 0)
			return;
		int len = (int)n;
		for (struct nlmsghdr *h = &m.n; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_ERROR &&
			    h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
				struct nlmsgerr err;
				memcpy(&err, NLMSG_DATA(h), sizeof(err));
				if (err.error)
					tcmu_log(t, TCMU_LOG_DEBUG,
						 "tcmu: the kernel did not take answer #%u: %s",
						 err.msg.nlmsg_seq, strerror(-err.error));
			} else if (h->nlmsg_type == t->nl_family &&
				   h->nlmsg_len >= NLMSG_LENGTH(GENL_HDRLEN)) {
				const struct genlmsghdr *g = NLMSG_DATA(h);
				nl_event(t, g->cmd, (const char *)h + NLMSG_LENGTH(GENL_HDRLEN),
					 (const char *)h + h->nlmsg_len);
			}
		}
	}
}

/*
 * Join the group "config" of TCM-USER, on which target_core_user
 * announces added, removed and reconfigured devices, and tell the kernel
 * that we answer them. Then answer what was announced before we listened
 * (answer_missed).
 */
static int nl_join(struct tcmu *t)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0)
		return -errno;
	uint32_t group;
	int rc = nl_resolve(fd, &t->nl_family, &group);
	if (!rc && setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)))
		rc = -errno;
	if (rc) {
		close(fd);
		return rc;
	}
	t->nl_fd = fd;
	rc = nl_set_features(t, 1);
	t->nl_answer = rc == 0;
	t->answer_missed = t->nl_answer;
	if (t->nl_answer)
		tcmu_log(t, TCMU_LOG_INFO,
			 "tcmu: listening to TCM-USER and answering device events");
	else
		tcmu_log(t, TCMU_LOG_INFO,
			 "tcmu: listening to TCM-USER; the kernel does not take answers (%s), so "
			 "backstores do not wait for them",
			 strerror(-rc));
	return 0;
}

static void *monitor_thread(void *arg)
{
	struct tcmu *t = arg;
	long period = (long)(t->cfg.rescan_seconds ? t->cfg.rescan_seconds : 2) * 1000;
	struct timespec next_scan = now_plus(period);
	for (;;) {
		if (t->nl_fd < 0 && nl_join(t) == 0)
			rescan(t);
		long wait = ms_until(next_scan);
		long due = run_deferred(t);
		if (due >= 0 && due < wait)
			wait = due;
		struct pollfd p[2] = {{.fd = t->stop_fd, .events = POLLIN},
				      {.fd = t->nl_fd, .events = POLLIN}};
		int n = poll(p, t->nl_fd >= 0 ? 2 : 1, (int)wait);
		if (n < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (t->nl_fd >= 0 && p[1].revents)
			nl_drain(t);
		if (t->answer_missed || ms_until(next_scan) == 0) {
			rescan(t);
			next_scan = now_plus(period);
		}
	}
	return NULL;
}

int tcmu_start(const struct tcmu_config *cfg, struct tcmu **out)
{
	if (!cfg->prefix || !cfg->resolve)
		return -EINVAL;
	struct tcmu *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->cfg = *cfg;
	snprintf(t->prefix, sizeof(t->prefix), "%s", cfg->prefix);
	const char *slash = strchr(t->prefix, '/');
	t->family_len = slash && slash[1] ? (size_t)(slash - t->prefix + 1) : 0;
	snprintf(t->uio_class, sizeof(t->uio_class), "%s",
		 cfg->uio_class ? cfg->uio_class : "/sys/class/uio");
	t->cfg.prefix = t->prefix;
	t->cfg.uio_class = t->uio_class;
	t->nl_fd = -1;
	pthread_mutex_init(&t->lock, NULL);
	t->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (t->stop_fd < 0) {
		int e = errno;
		free(t);
		return -e;
	}
	int rc = nl_join(t);
	if (rc)
		tcmu_log(t, TCMU_LOG_DEBUG,
			 "tcmu: no TCM-USER netlink family yet (%s); rescanning periodically",
			 strerror(-rc));
	rescan(t);
	rc = pthread_create(&t->monitor, NULL, monitor_thread, t);
	if (rc) {
		tcmu_stop(t);
		return -rc;
	}
	*out = t;
	return 0;
}

size_t tcmu_attached(struct tcmu *t)
{
	size_t n = 0;
	pthread_mutex_lock(&t->lock);
	for (struct tcmu_dev *d = t->devs; d; d = d->next)
		n += !atomic_load(&d->done);
	pthread_mutex_unlock(&t->lock);
	return n;
}

void tcmu_stop(struct tcmu *t)
{
	if (!t)
		return;
	uint64_t one = 1;
	if (write(t->stop_fd, &one, sizeof(one)) < 0)
		tcmu_log(t, TCMU_LOG_ERROR, "tcmu: cannot signal the threads to stop: %s",
			 strerror(errno));
	if (t->monitor)
		pthread_join(t->monitor, NULL);
	/*
	 * Nobody answers from now on: tell the kernel, so that a backstore
	 * enabled while vtld is down does not block its configfs write
	 * (the ring holds its commands until vtld is back, as with
	 * nl_reply_supported=-1). After a crash the setting stays, and the
	 * next start answers what is pending (answer_missed).
	 */
	if (t->nl_answer) {
		int rc = nl_set_features(t, 0);
		if (rc)
			tcmu_log(
			    t, TCMU_LOG_WARN,
			    "tcmu: cannot tell the kernel that nobody answers device events: %s",
			    strerror(-rc));
	}
	pthread_mutex_lock(&t->lock);
	while (t->devs) {
		struct tcmu_dev *d = t->devs;
		t->devs = d->next;
		pthread_join(d->thread, NULL);
		dev_free(d);
	}
	pthread_mutex_unlock(&t->lock);
	if (t->nl_fd >= 0)
		close(t->nl_fd);
	close(t->stop_fd);
	pthread_mutex_destroy(&t->lock);
	free(t->refused);
	free(t->deferred);
	free(t);
}
