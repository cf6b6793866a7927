/*
 * tcmu_ring.c - one TCMU device's command ring: the thread that takes SCSI
 * commands from the kernel, runs them through spc_dispatch and writes the
 * responses back (see tcmu_int.h; docs/tcmu.md). Which devices are served,
 * and when they come and go, is tcmu.c's business.
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
#include "config.h"

#include "tcmu_int.h"

#include <errno.h>
#include <poll.h>
/* linux/uio.h (pulled in by the TCMU header) defines struct iovec again,
 * unguarded; glibc's definition from sys/uio.h is the same layout. */
#define __LINUX_UIO_H
#include <linux/target_core_user.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scsi/sense.h"
#include "scsi/spc.h"
#include "util/metrics.h"

/* The one I_T nexus every TCMU command arrives on (see above). */
#define TCMU_NEXUS UINT64_C(0x74636d7500000001) /* "tcmu", 1 */

static uint32_t *mb_field(struct tcmu_dev *d, size_t off)
{
	return (uint32_t *)(void *)(d->map + off);
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
	if (iov_cnt > (elen - iov_off) / sizeof(struct iovec) || !tcmu_in_map(d, cdb_off, 1)) {
		tcmu_log(d->t, TCMU_LOG_ERROR,
			 "tcmu %s: malformed ring entry (%u iovecs); failing it", d->label,
			 iov_cnt);
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
		if (!tcmu_in_map(d, off, iov[i].iov_len) || iov[i].iov_len > UINT32_MAX) {
			tcmu_log(d->t, TCMU_LOG_ERROR,
				 "tcmu %s: iovec outside the data area; failing it", d->label);
			sense_set(&cmd, SK_HARDWARE_ERROR, ASC_INTERNAL_TARGET_FAILURE);
			goto respond;
		}
		total += iov[i].iov_len;
	}
	if (total > UINT32_MAX) {
		tcmu_log(d->t, TCMU_LOG_ERROR, "tcmu %s: transfer of %llu bytes; failing it",
			 d->label, (unsigned long long)total);
		sense_set(&cmd, SK_HARDWARE_ERROR, ASC_INTERNAL_TARGET_FAILURE);
		goto respond;
	}

	uint8_t len = spc_cdb_len(d->map[cdb_off]);
	if (!len)
		len = 16; /* variable length or vendor specific: what fits */
	if (!tcmu_in_map(d, cdb_off, len))
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
		tcmu_log(d->t, TCMU_LOG_ERROR, "tcmu %s: out of memory for %llu bytes", d->label,
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

	uint64_t t0 = met_now_ns();
	spc_dispatch(d->dev, &cmd);
	met_scsi_cmd(d->dev, &cmd, sense_key(cmd.sense, cmd.sense_len), met_now_ns() - t0);
	status = cmd.status;
	if (d->t->cfg.trace)
		tcmu_log(d->t, TCMU_LOG_DEBUG,
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
			tcmu_log(d->t, TCMU_LOG_ERROR,
				 "tcmu %s: ring tail %u out of range; giving up", d->label, tail);
			return false;
		}
		uint8_t *e = d->map + d->cmdr_off + tail;
		struct tcmu_cmd_entry_hdr hdr;
		memcpy(&hdr, e, sizeof(hdr));
		uint32_t len = tcmu_hdr_get_len(hdr.len_op);
		if (len < sizeof(hdr) || len > d->cmdr_size - tail) {
			tcmu_log(d->t, TCMU_LOG_ERROR,
				 "tcmu %s: ring entry of %u bytes at %u; giving up", d->label, len,
				 tail);
			return false;
		}
		switch (tcmu_hdr_get_op(hdr.len_op)) {
		case TCMU_OP_PAD: /* filler up to the ring's end */
			break;
		case TCMU_OP_CMD:
			if (len < sizeof(struct tcmu_cmd_entry)) {
				tcmu_log(d->t, TCMU_LOG_ERROR,
					 "tcmu %s: short command entry (%u bytes); giving up",
					 d->label, len);
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

void *tcmu_ring_thread(void *arg)
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
		tcmu_log(d->t, TCMU_LOG_INFO, "tcmu %s: device gone (%s); detached", d->label,
			 d->uio);
	atomic_store(&d->done, true);
	return NULL;
}
