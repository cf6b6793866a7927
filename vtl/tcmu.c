/*
 * tcmu.c - the TCMU frontend (see tcmu.h and docs/tcmu.md).
 *
 * Written against the kernel UAPI alone (linux/target_core_user.h): Debian
 * ships libtcmu without its header, and the ring has been stable since
 * Linux 4.x. Per device:
 *
 *   /dev/uioN, mmap'd whole (size from /sys/class/uio/uioN/maps/map0/size):
 *     [mailbox][command ring of cmdr_size bytes][data area]
 *   The kernel appends entries at mailbox->cmd_head and wakes the UIO fd;
 *   we consume them at mailbox->cmd_tail, in order, write the response into
 *   the same entry, publish the new cmd_tail and write 4 bytes to the fd,
 *   which makes the kernel collect the completions.
 *
 * Memory ordering: cmd_head is loaded with acquire semantics before the
 * entries it covers are read, and cmd_tail is stored with release semantics
 * after the response (status, sense, data in the data area) is written, so
 * the kernel never sees a tail that covers an unwritten response.
 *
 * Entries are processed strictly in ring order by one thread per device,
 * which is also what a tape drive needs (SSC commands are sequential), so
 * out-of-order completion (TCMU_MAILBOX_FLAG_CAP_OOOC) is never used. An
 * entry is consumed only after its command has completed; a command in
 * flight therefore keeps its slot, and the kernel cannot reuse it.
 *
 * What the ring does not carry, and what that means here:
 *   - the data direction: taken from the device's own command table (the
 *     row's OPF_DATA_OUT flag); an unknown opcode is rejected by dispatch
 *     and moves no data;
 *   - the I_T nexus: LIO keeps it to itself, so every command arrives on
 *     one nexus (TCMU_NEXUS). Reservations stay with LIO, which knows the
 *     initiators (docs/tcmu.md);
 *   - more than 96 bytes of sense (TCMU_SENSE_BUFFERSIZE): longer sense is
 *     cut there; every sense this project builds is shorter.
 */
#include "tcmu.h"

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
#include <unistd.h>

#include "scsi/scsi.h"
#include "scsi/sense.h"
#include "scsi/spc.h"

/* The one I_T nexus every TCMU command arrives on (see above). */
#define TCMU_NEXUS UINT64_C(0x74636d7500000001) /* "tcmu", 1 */

/* UIO device names are "tcm-user/<hba>/<device>/<config string>". */
#define TCMU_UIO_PREFIX "tcm-user/"

struct tcmu_dev {
	struct tcmu *t;
	struct tcmu_dev *next;
	char uio[32];	/* "uio3" */
	char name[256]; /* the UIO name */
	char label[96]; /* "<hba>/<device>" for log lines */
	int fd;
	uint8_t *map;
	size_t map_len;
	uint32_t cmdr_off, cmdr_size;
	bool read_len_cap;
	struct scsi_dev *dev;
	pthread_t thread;
	atomic_bool done; /* the thread has finished */
	uint8_t *buf;	  /* bounce buffer for scattered data */
	size_t buf_cap;
	struct iovec *iov; /* the request's iovecs, copied out of the ring */
	uint32_t iov_cap;
};

struct tcmu {
	struct tcmu_config cfg;
	char prefix[256];
	char uio_class[256];
	int stop_fd; /* eventfd, readable once tcmu_stop began */
	int nl_fd;   /* TCM-USER multicast listener, -1 without one */
	pthread_t monitor;
	pthread_mutex_t lock; /* the device list */
	struct tcmu_dev *devs;
	/* UIO names already refused, so the log says it once. */
	char (*refused)[256];
	size_t n_refused;
};

static void tlog(struct tcmu *t, enum tcmu_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void tlog(struct tcmu *t, enum tcmu_log_level level, const char *fmt, ...)
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

/* ---- the command ring ---- */

static uint32_t *mb_field(struct tcmu_dev *d, size_t off)
{
	return (uint32_t *)(void *)(d->map + off);
}

/* SAM-5 / SPC-4 4.2.5.1: the CDB length follows from the group code. */
static uint8_t cdb_length(uint8_t opcode)
{
	switch (opcode >> 5) {
	case 0:
		return 6;
	case 1:
	case 2:
		return 10;
	case 4:
		return 16;
	case 5:
		return 12;
	default:
		return 16; /* variable length or vendor specific: what fits */
	}
}

static bool in_map(const struct tcmu_dev *d, uint64_t off, uint64_t len)
{
	return off <= d->map_len && len <= d->map_len - off;
}

static uint8_t *bounce(struct tcmu_dev *d, size_t len)
{
	if (len > d->buf_cap) {
		uint8_t *b = realloc(d->buf, len);
		if (!b)
			return NULL;
		d->buf = b;
		d->buf_cap = len;
	}
	return d->buf;
}

/*
 * Run one TCMU_OP_CMD entry of elen bytes at e and write its response into
 * the entry. The response overlays the request (the union in the UAPI), so
 * everything is read out of the request before the first response byte is
 * written.
 */
static void run_cmd(struct tcmu_dev *d, uint8_t *e, uint32_t elen)
{
	struct tcmu_cmd_entry *ent = (struct tcmu_cmd_entry *)(void *)e;
	const size_t iov_off = offsetof(struct tcmu_cmd_entry, req.iov);
	uint32_t iov_cnt = ent->req.iov_cnt;
	uint64_t cdb_off = ent->req.cdb_off;
	struct scsi_cmd cmd;
	uint8_t status = SAM_STAT_CHECK_CONDITION;
	uint32_t read_len = 0;
	bool data_in = false;

	memset(&cmd, 0, sizeof(cmd));
	if (iov_cnt > (elen - iov_off) / sizeof(struct iovec) || !in_map(d, cdb_off, 1)) {
		tlog(d->t, TCMU_LOG_ERROR, "tcmu %s: malformed ring entry (%u iovecs); failing it",
		     d->label, iov_cnt);
		sense_set(&cmd, SK_HARDWARE_ERROR, ASC_INTERNAL_TARGET_FAILURE);
		goto respond;
	}
	if (iov_cnt > d->iov_cap) {
		struct iovec *v = realloc(d->iov, iov_cnt * sizeof(*v));
		if (!v) {
			status = SAM_STAT_TASK_SET_FULL;
			goto respond;
		}
		d->iov = v;
		d->iov_cap = iov_cnt;
	}
	struct iovec *iov = d->iov;
	memcpy(iov, e + iov_off, iov_cnt * sizeof(struct iovec));
	uint64_t total = 0;
	for (uint32_t i = 0; i < iov_cnt; i++) {
		uint64_t off = (uint64_t)(uintptr_t)iov[i].iov_base;
		if (!in_map(d, off, iov[i].iov_len) || iov[i].iov_len > UINT32_MAX) {
			tlog(d->t, TCMU_LOG_ERROR,
			     "tcmu %s: iovec outside the data area; failing it", d->label);
			sense_set(&cmd, SK_HARDWARE_ERROR, ASC_INTERNAL_TARGET_FAILURE);
			goto respond;
		}
		total += iov[i].iov_len;
	}
	if (total > UINT32_MAX) {
		tlog(d->t, TCMU_LOG_ERROR, "tcmu %s: transfer of %llu bytes; failing it", d->label,
		     (unsigned long long)total);
		sense_set(&cmd, SK_HARDWARE_ERROR, ASC_INTERNAL_TARGET_FAILURE);
		goto respond;
	}

	uint8_t len = cdb_length(d->map[cdb_off]);
	if (!in_map(d, cdb_off, len))
		len = (uint8_t)(d->map_len - cdb_off);
	memcpy(cmd.cdb, d->map + cdb_off, len);
	cmd.cdb_len = len;
	cmd.lun = 0;
	cmd.nexus = TCMU_NEXUS;
	cmd.initiator_port = NULL;

	const struct scsi_op *op = spc_find_op(d->dev->type, cmd.cdb[0], cmd.cdb[1] & 0x1f);
	bool data_out = op && (op->flags & OPF_DATA_OUT);
	data_in = !data_out && total > 0;

	/* One iovec: the data area itself is the buffer (no copy). */
	uint8_t *buf = NULL;
	if (iov_cnt == 1)
		buf = d->map + (uintptr_t)iov[0].iov_base;
	else if (total > 0 && !(buf = bounce(d, total))) {
		tlog(d->t, TCMU_LOG_ERROR, "tcmu %s: out of memory for %llu bytes", d->label,
		     (unsigned long long)total);
		status = SAM_STAT_TASK_SET_FULL;
		data_in = false;
		goto respond;
	}
	if (data_out) {
		if (iov_cnt > 1) {
			size_t at = 0;
			for (uint32_t i = 0; i < iov_cnt; i++) {
				memcpy(buf + at, d->map + (uintptr_t)iov[i].iov_base,
				       iov[i].iov_len);
				at += iov[i].iov_len;
			}
		}
		cmd.out = buf;
		cmd.out_len = (uint32_t)total;
	} else if (data_in) {
		cmd.in = buf;
		cmd.in_cap = (uint32_t)total;
	}

	spc_dispatch(d->dev, &cmd);
	status = cmd.status;
	if (d->t->cfg.trace)
		tlog(d->t, TCMU_LOG_DEBUG,
		     "tcmu %s: cdb %02x %02x %02x %02x %02x %02x, %u iovecs, %llu bytes %s, "
		     "status %02x, %u bytes in, sense %02x/%02x%02x",
		     d->label, cmd.cdb[0], cmd.cdb[1], cmd.cdb[2], cmd.cdb[3], cmd.cdb[4],
		     cmd.cdb[5], iov_cnt, (unsigned long long)total,
		     data_out  ? "out"
		     : data_in ? "in"
			       : "none",
		     status, cmd.in_len, cmd.sense_len > 2 ? cmd.sense[2] & 0xf : 0,
		     cmd.sense_len > 12 ? cmd.sense[12] : 0,
		     cmd.sense_len > 13 ? cmd.sense[13] : 0);

	if (data_in) {
		read_len = cmd.in_len < cmd.in_cap ? cmd.in_len : cmd.in_cap;
		if (iov_cnt > 1) {
			size_t at = 0;
			for (uint32_t i = 0; i < iov_cnt && at < read_len; i++) {
				size_t n = iov[i].iov_len;
				if (n > read_len - at)
					n = read_len - at;
				memcpy(d->map + (uintptr_t)iov[i].iov_base, buf + at, n);
				at += n;
			}
		}
	}

respond:
	/* From here on the request fields are overwritten. */
	ent->rsp.scsi_status = status;
	ent->rsp.read_len = 0;
	memset(ent->rsp.sense_buffer, 0, TCMU_SENSE_BUFFERSIZE);
	if (status == SAM_STAT_CHECK_CONDITION) {
		size_t n =
		    cmd.sense_len < TCMU_SENSE_BUFFERSIZE ? cmd.sense_len : TCMU_SENSE_BUFFERSIZE;
		memcpy(ent->rsp.sense_buffer, cmd.sense, n);
	}
	/*
	 * READ_LEN tells LIO how much data-in there is: a short transfer
	 * becomes an underflow residual, and with CHECK CONDITION the data
	 * is still delivered (a tape READ of a shorter record: data + ILI).
	 * Without it LIO would send all of the expected length, and nothing
	 * at all with CHECK CONDITION. A read_len of 0 means "not set" to the
	 * kernel, so an empty transfer cannot be reported.
	 */
	if (data_in && d->read_len_cap && read_len > 0 &&
	    (read_len < cmd.in_cap || status != SAM_STAT_GOOD)) {
		ent->hdr.uflags |= TCMU_UFLAG_READ_LEN;
		ent->rsp.read_len = read_len;
	}
}

/* Consume every entry between cmd_tail and cmd_head. Returns false when
 * the ring is unusable. */
static bool ring_run(struct tcmu_dev *d)
{
	uint32_t *headp = mb_field(d, offsetof(struct tcmu_mailbox, cmd_head));
	uint32_t *tailp = mb_field(d, offsetof(struct tcmu_mailbox, cmd_tail));
	uint32_t tail = __atomic_load_n(tailp, __ATOMIC_RELAXED); /* ours */
	uint32_t head = __atomic_load_n(headp, __ATOMIC_ACQUIRE);

	while (tail != head) {
		if (tail >= d->cmdr_size || tail % TCMU_OP_ALIGN_SIZE) {
			tlog(d->t, TCMU_LOG_ERROR, "tcmu %s: ring tail %u out of range; giving up",
			     d->label, tail);
			return false;
		}
		uint8_t *e = d->map + d->cmdr_off + tail;
		struct tcmu_cmd_entry_hdr hdr;
		memcpy(&hdr, e, sizeof(hdr));
		uint32_t len = tcmu_hdr_get_len(hdr.len_op);
		if (len < sizeof(hdr) || len > d->cmdr_size - tail) {
			tlog(d->t, TCMU_LOG_ERROR,
			     "tcmu %s: ring entry of %u bytes at %u; giving up", d->label, len,
			     tail);
			return false;
		}
		switch (tcmu_hdr_get_op(hdr.len_op)) {
		case TCMU_OP_PAD: /* filler up to the ring's end */
			break;
		case TCMU_OP_CMD:
			if (len < sizeof(struct tcmu_cmd_entry)) {
				tlog(d->t, TCMU_LOG_ERROR,
				     "tcmu %s: short command entry (%u bytes); giving up", d->label,
				     len);
				return false;
			}
			run_cmd(d, e, len);
			break;
		default: /* TMR notification (only if enabled in configfs) */
			break;
		}
		tail = (tail + len) % d->cmdr_size;
		__atomic_store_n(tailp, tail, __ATOMIC_RELEASE);
		/* Tell the kernel now, so a completed command is not held back
		 * by a long one behind it. */
		uint32_t one = 1;
		if (write(d->fd, &one, sizeof(one)) < 0 && errno == EIO)
			return false;
		if (tail == head)
			head = __atomic_load_n(headp, __ATOMIC_ACQUIRE);
	}
	return true;
}

static void *dev_thread(void *arg)
{
	struct tcmu_dev *d = arg;
	struct pollfd p[2] = {{.fd = d->fd, .events = POLLIN},
			      {.fd = d->t->stop_fd, .events = POLLIN}};

	/* Commands queued before we opened the device raise no event. */
	bool ok = ring_run(d);
	while (ok) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			ok = false;
			break;
		}
		uint32_t events;
		if (read(d->fd, &events, sizeof(events)) < 0 && errno != EINTR && errno != EAGAIN) {
			ok = false;
			break;
		}
		ok = ring_run(d);
	}
	if (!ok)
		tlog(d->t, TCMU_LOG_INFO, "tcmu %s: device gone (%s); detached", d->label, d->uio);
	atomic_store(&d->done, true);
	return NULL;
}

/* ---- attaching devices ---- */

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

static bool refused_before(struct tcmu *t, const char *name)
{
	for (size_t i = 0; i < t->n_refused; i++)
		if (strcmp(t->refused[i], name) == 0)
			return true;
	char(*r)[256] = realloc(t->refused, (t->n_refused + 1) * sizeof(*r));
	if (r) {
		t->refused = r;
		snprintf(t->refused[t->n_refused++], sizeof(*r), "%s", name);
	}
	return false;
}

static void attach(struct tcmu *t, const char *uio, const char *name)
{
	/* name: tcm-user/<hba>/<device>/<config string> */
	const char *p = name + strlen(TCMU_UIO_PREFIX);
	const char *s1 = strchr(p, '/');
	const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
	if (!s2 || strncmp(s2 + 1, t->prefix, strlen(t->prefix)) != 0)
		return; /* another handler's device (tcmu-runner's, say) */
	const char *unit = s2 + 1 + strlen(t->prefix);
	struct scsi_dev *dev = t->cfg.resolve(t->cfg.arg, unit);
	if (!dev) {
		if (!refused_before(t, name))
			tlog(t, TCMU_LOG_WARN,
			     "tcmu: backstore %.*s (%s) names '%s', which this library does not "
			     "have (use changer or drive1..driveN); not serving it",
			     (int)(s2 - p), p, uio, s2 + 1);
		return;
	}

	struct tcmu_dev *d = calloc(1, sizeof(*d));
	if (!d)
		return;
	d->t = t;
	d->fd = -1;
	d->dev = dev;
	snprintf(d->uio, sizeof(d->uio), "%.31s", uio);
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->label, sizeof(d->label), "%.*s", (int)(s2 - p), p);

	char path[1024], val[64];
	snprintf(path, sizeof(path), "%s/%s/maps/map0/size", t->uio_class, uio);
	int rc = read_sysfs(path, val, sizeof(val));
	if (rc) {
		tlog(t, TCMU_LOG_ERROR, "tcmu %s: cannot read %s: %s", d->label, path,
		     strerror(-rc));
		goto fail;
	}
	d->map_len = (size_t)strtoull(val, NULL, 0);
	snprintf(path, sizeof(path), "/dev/%s", uio);
	d->fd = open(path, O_RDWR | O_CLOEXEC);
	if (d->fd < 0) {
		tlog(t, TCMU_LOG_ERROR, "tcmu %s: cannot open %s: %s", d->label, path,
		     strerror(errno));
		goto fail;
	}
	d->map = mmap(NULL, d->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd, 0);
	if (d->map == MAP_FAILED) {
		tlog(t, TCMU_LOG_ERROR, "tcmu %s: cannot map %s (%zu bytes): %s", d->label, path,
		     d->map_len, strerror(errno));
		goto fail;
	}
	const struct tcmu_mailbox *mb = (const struct tcmu_mailbox *)(void *)d->map;
	d->cmdr_off = mb->cmdr_off;
	d->cmdr_size = mb->cmdr_size;
	d->read_len_cap = (mb->flags & TCMU_MAILBOX_FLAG_CAP_READ_LEN) != 0;
	if (mb->version != TCMU_MAILBOX_VERSION || !d->cmdr_size ||
	    !in_map(d, d->cmdr_off, d->cmdr_size)) {
		tlog(t, TCMU_LOG_ERROR,
		     "tcmu %s: mailbox version %u (ring %u+%u of %zu) is not the version %d this "
		     "frontend speaks",
		     d->label, mb->version, d->cmdr_off, d->cmdr_size, d->map_len,
		     TCMU_MAILBOX_VERSION);
		goto fail;
	}
	rc = pthread_create(&d->thread, NULL, dev_thread, d);
	if (rc) {
		tlog(t, TCMU_LOG_ERROR, "tcmu %s: cannot start its thread: %s", d->label,
		     strerror(rc));
		goto fail;
	}
	d->next = t->devs;
	t->devs = d;
	tlog(t, TCMU_LOG_INFO, "tcmu: serving backstore %s (%s, %s) as %s", d->label, uio, s2 + 1,
	     unit);
	return;
fail:
	dev_free(d);
}

/* Join the threads of devices that went away; attach new ones. */
static void rescan(struct tcmu *t)
{
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
			bool known = false;
			for (struct tcmu_dev *d = t->devs; d && !known; d = d->next)
				known =
				    strcmp(d->uio, de->d_name) == 0 && strcmp(d->name, name) == 0;
			if (!known)
				attach(t, de->d_name, name);
		}
		closedir(dir);
	}
	pthread_mutex_unlock(&t->lock);
}

/* ---- the TCM-USER netlink family: wake-ups for new devices ---- */

struct nl_req {
	struct nlmsghdr n;
	struct genlmsghdr g;
	char buf[64];
};

/*
 * Join the multicast group "config" of the generic netlink family
 * TCM-USER, on which target_core_user announces added, removed and
 * reconfigured devices. The announcements are only wake-ups here: with
 * nl_reply_supported=-1 in the device's control string the kernel waits for
 * no reply, and the UIO class is the state we act on.
 */
static int nl_join(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0)
		return -errno;
	struct nl_req req;
	memset(&req, 0, sizeof(req));
	const char family[] = "TCM-USER";
	struct nlattr *a = (struct nlattr *)(void *)req.buf;
	a->nla_type = CTRL_ATTR_FAMILY_NAME;
	a->nla_len = (uint16_t)(NLA_HDRLEN + sizeof(family));
	memcpy(req.buf + NLA_HDRLEN, family, sizeof(family));
	req.n.nlmsg_len = (uint32_t)(NLMSG_LENGTH(GENL_HDRLEN) + NLA_ALIGN(a->nla_len));
	req.n.nlmsg_type = GENL_ID_CTRL;
	req.n.nlmsg_flags = NLM_F_REQUEST;
	req.g.cmd = CTRL_CMD_GETFAMILY;
	req.g.version = 1;
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	if (sendto(fd, &req, req.n.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		goto fail;
	union {
		struct nlmsghdr n;
		char buf[4096];
	} rsp;
	ssize_t n = recv(fd, &rsp, sizeof(rsp), 0);
	if (n < (ssize_t)NLMSG_LENGTH(GENL_HDRLEN) || rsp.n.nlmsg_type == NLMSG_ERROR ||
	    rsp.n.nlmsg_len > (size_t)n) {
		errno = ENOENT; /* the module is not loaded */
		goto fail;
	}
	/* Walk the attributes for CTRL_ATTR_MCAST_GROUPS -> "config". */
	const char *at = rsp.buf + NLMSG_LENGTH(GENL_HDRLEN);
	const char *end = rsp.buf + rsp.n.nlmsg_len;
	uint32_t group = 0;
	while (at + NLA_HDRLEN <= end && !group) {
		const struct nlattr *na = (const struct nlattr *)(const void *)at;
		if (na->nla_len < NLA_HDRLEN || at + na->nla_len > end)
			break;
		if ((na->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_MCAST_GROUPS) {
			const char *g = at + NLA_HDRLEN, *gend = at + na->nla_len;
			while (g + NLA_HDRLEN <= gend && !group) {
				const struct nlattr *grp = (const struct nlattr *)(const void *)g;
				if (grp->nla_len < NLA_HDRLEN || g + grp->nla_len > gend)
					break;
				const char *f = g + NLA_HDRLEN, *fend = g + grp->nla_len;
				uint32_t id = 0;
				bool is_config = false;
				while (f + NLA_HDRLEN <= fend) {
					const struct nlattr *fa =
					    (const struct nlattr *)(const void *)f;
					if (fa->nla_len < NLA_HDRLEN || f + fa->nla_len > fend)
						break;
					if (fa->nla_type == CTRL_ATTR_MCAST_GRP_ID &&
					    fa->nla_len >= NLA_HDRLEN + 4)
						memcpy(&id, f + NLA_HDRLEN, 4);
					else if (fa->nla_type == CTRL_ATTR_MCAST_GRP_NAME)
						is_config = strncmp(f + NLA_HDRLEN, "config",
								    fa->nla_len - NLA_HDRLEN) == 0;
					f += NLA_ALIGN(fa->nla_len);
				}
				if (is_config)
					group = id;
				g += NLA_ALIGN(grp->nla_len);
			}
		}
		at += NLA_ALIGN(na->nla_len);
	}
	if (!group) {
		errno = ENOENT;
		goto fail;
	}
	if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)))
		goto fail;
	return fd;
fail:;
	int e = errno;
	close(fd);
	return -e;
}

static void *monitor_thread(void *arg)
{
	struct tcmu *t = arg;
	int timeout = (int)(t->cfg.rescan_seconds ? t->cfg.rescan_seconds : 2) * 1000;
	for (;;) {
		if (t->nl_fd < 0) {
			int fd = nl_join();
			if (fd >= 0) {
				t->nl_fd = fd;
				tlog(t, TCMU_LOG_DEBUG,
				     "tcmu: listening to the TCM-USER netlink family");
			}
		}
		struct pollfd p[2] = {{.fd = t->stop_fd, .events = POLLIN},
				      {.fd = t->nl_fd, .events = POLLIN}};
		int n = poll(p, t->nl_fd >= 0 ? 2 : 1, timeout);
		if (n < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (t->nl_fd >= 0 && p[1].revents) {
			char buf[8192];
			while (recv(t->nl_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
				;
		}
		rescan(t);
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
	int fd = nl_join();
	if (fd >= 0)
		t->nl_fd = fd;
	else
		tlog(t, TCMU_LOG_DEBUG,
		     "tcmu: no TCM-USER netlink family yet (%s); rescanning periodically",
		     strerror(-fd));
	rescan(t);
	int rc = pthread_create(&t->monitor, NULL, monitor_thread, t);
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
		tlog(t, TCMU_LOG_ERROR, "tcmu: cannot signal the threads to stop: %s",
		     strerror(errno));
	if (t->monitor)
		pthread_join(t->monitor, NULL);
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
	free(t);
}
