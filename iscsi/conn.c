/*
 * conn.c - one iSCSI connection: socket I/O with digests, and the full
 * feature phase (RFC 7143 sections 3, 4, 7 and 11).
 *
 * The thread holding the receiver role owns the socket's read side (with
 * several LUNs the role may pass to the standby thread while a command runs
 * on the fast path; see "Commands run where they arrive"). It reads a PDU header,
 * then the data segment straight into its final place: a write command's
 * data-out goes into the task buffer that spc_dispatch() hands to the
 * device (one copy, ARCHITECTURE.md), read ahead of the next header through
 * recvmsg() into a small staging buffer so that most PDUs cost one system
 * call; in the full feature phase the wait for a header is the (blocking)
 * read of it, not a poll() before it. Data-In is sent with sendmsg() from
 * the buffer the device filled, many PDUs per call, never copied.
 *
 * Ordering invariants:
 *   - per LUN, commands execute in the order they arrived (a tape is a
 *     sequence): each LUN keeps a queue in arrival order and only its head
 *     runs, once its data-out is complete;
 *   - StatSN is assigned under send_lock in the order PDUs hit the wire;
 *   - MaxCmdSN never decreases (4.2.2.1): it moves up by one when a
 *     non-immediate command completes, so the window is queue_depth
 *     commands in flight;
 *   - a task management response goes out after the response of any task
 *     it found running (the task runs to completion; 4.2.3.2 ordering).
 *
 * Error recovery level 0 (7.1.5): a header digest error, a data digest
 * error, a CmdSN gap or a PDU that breaks the data transfer rules ends the
 * connection (after a Reject where one makes sense); the session goes with
 * it and the initiator logs in again. Nothing a peer sends can make this
 * code allocate more than the negotiated limits allow.
 */
#include "config.h"

#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "scsi/crc32c.h"
#include "scsi/sense.h"
#include "scsi/spc.h"
#include "util/metrics.h"

#define RBUF_SIZE	    65536
#define IO_TIMEOUT_MS	    30000 /* a PDU stalled mid-way, or a peer not reading */
#define MIN_IN_CAP	    65536 /* room for a device to report an overflow */
#define MAX_IMMEDIATE_TASKS 16	  /* immediate commands beyond the window */
#define TEXT_LIMIT	    65536
#define BATCH_PDUS	    64
#define SESSION_BUFFER_MIN  (64u << 20)

void conn_log(struct iscsi_conn *c, const char *fmt, ...)
{
	const struct iscsi_server_config *cfg = &c->srv->cfg;
	if (!cfg->log)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	int n = snprintf(msg, sizeof(msg), "iscsi %s%s%s: ", c->peer, c->initiator[0] ? " " : "",
			 c->initiator);
	if (n < 0)
		n = 0;
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	cfg->log(cfg->log_arg, msg);
}

/* ---------------------------------------------------------------- I/O */

static int wait_fd(int fd, short ev, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = ev};
	for (;;) {
		int r = poll(&pfd, 1, timeout_ms);
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/*
 * Wait for ev on the socket for at most limit_ms (-1: no limit), and never
 * past the login deadline (c->io_deadline_ms): a peer that has not logged
 * in cannot stretch a PDU by sending it a byte at a time. -ETIMEDOUT once
 * the deadline has passed.
 */
static int wait_io(struct iscsi_conn *c, short ev, int limit_ms)
{
	if (c->io_deadline_ms) {
		uint64_t now = now_ms();
		if (now >= c->io_deadline_ms)
			return -ETIMEDOUT;
		uint64_t left = c->io_deadline_ms - now;
		if (limit_ms < 0 || (uint64_t)limit_ms > left)
			limit_ms = left > INT_MAX ? INT_MAX : (int)left;
	}
	return wait_fd(c->fd, ev, limit_ms);
}

/* Read len bytes into dst (NULL: discard), first from the staging buffer,
 * then from the socket with read-ahead into the staging buffer. */
static int rx_bytes(struct iscsi_conn *c, uint8_t *dst, size_t len)
{
	size_t have = c->rlen - c->rpos;
	size_t n = have < len ? have : len;
	if (dst && n)
		memcpy(dst, c->rbuf + c->rpos, n);
	c->rpos += n;
	if (dst)
		dst += n;
	len -= n;
	if (c->rpos == c->rlen)
		c->rpos = c->rlen = 0;

	/* Nothing of this piece here yet: the yield below may help. */
	bool may_yield = c->rx_blocking && n == 0;
	while (len > 0) {
		struct iovec iov[2];
		int niov = 0;
		ssize_t r;
		if (dst) {
			iov[niov++] = (struct iovec){dst, len};
			iov[niov++] = (struct iovec){c->rbuf, RBUF_SIZE};
		} else {
			iov[niov++] = (struct iovec){c->rbuf, RBUF_SIZE};
		}
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)niov};
		r = recvmsg(c->fd, &mh, MSG_DONTWAIT);
		if (r == 0)
			return -ECONNRESET;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			/*
			 * None of this piece of a PDU there yet: an initiator
			 * that sends header and data in two calls (libiscsi
			 * does) woke us on the header. Give the CPU up once
			 * before sleeping for the rest: when the sender shares
			 * this CPU it sends the data and sleeps, and the read
			 * finds it without a wait in poll() and a wake-up;
			 * otherwise it is one system call, and the data may
			 * have come meanwhile. Not when part of it came: the
			 * rest is streaming in. docs/benchmarks.md, "The split
			 * PDU: give the CPU up once".
			 */
			if (may_yield) {
				may_yield = false;
				sched_yield();
				continue;
			}
			int w = wait_io(c, POLLIN, IO_TIMEOUT_MS);
			if (w < 0)
				return w;
			continue;
		}
		size_t got = (size_t)r;
		may_yield = false;
		if (dst) {
			if (got <= len) {
				dst += got;
				len -= got;
			} else {
				c->rpos = 0;
				c->rlen = got - len;
				len = 0;
			}
		} else {
			size_t use = got < len ? got : len;
			len -= use;
			c->rpos = use;
			c->rlen = got;
			if (c->rpos == c->rlen)
				c->rpos = c->rlen = 0;
		}
	}
	return 0;
}

/*
 * The wait for the next PDU of the full feature phase is the read of it:
 * one blocking read into the (empty) staging buffer instead of a poll()
 * and a read. At queue depth 1 that is one of the four system calls of a
 * 4 KiB command, and on a virtual machine a system call costs microseconds
 * (docs/benchmarks.md, "4 KiB commands on one CPU"). The wait is bounded
 * by SO_RCVTIMEO, which is set only when the bound it holds is no longer
 * close to timeout_ms (-1: none): the caller asks for what is left of the
 * NOP-In interval, nearly the same at every PDU, so the option changes with
 * a ping, not with each command. A read that times out before timeout_ms
 * is over reads again for the rest; one that would end more than
 * RCVTIMEO_SLACK later is cut. 0 with data in the staging buffer;
 * -ETIMEDOUT, -ECONNRESET at the end of the stream, or -errno.
 */
static int set_rcvtimeo(struct iscsi_conn *c, int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	c->rcvtimeo_ms = ms;
	return 0;
}

#define RCVTIMEO_SLACK(ms) ((ms) / 16 + 1)

static int rx_wait_read(struct iscsi_conn *c, int timeout_ms)
{
	uint64_t deadline = timeout_ms < 0 ? 0 : now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		int want = 0; /* no bound */
		if (deadline) {
			uint64_t now = now_ms();
			if (now >= deadline)
				return -ETIMEDOUT;
			uint64_t left = deadline - now;
			want = left > INT_MAX ? INT_MAX : (int)left;
		}
		int have = c->rcvtimeo_ms;
		if (want ? !have || have > want + RCVTIMEO_SLACK(want) || have < want / 2
			 : have != 0) {
			int r = set_rcvtimeo(c, want);
			if (r < 0)
				return r;
		}
		ssize_t n = read(c->fd, c->rbuf, RBUF_SIZE);
		if (n > 0) {
			c->rpos = 0;
			c->rlen = (size_t)n;
			return 0;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
	}
}

/*
 * Read a Basic Header Segment and its AHS (kept in c->ahs), verifying the
 * header digest (RFC 7143 11.2.3). timeout_ms bounds the wait for the first
 * byte only (-ETIMEDOUT), the login deadline every wait; -EBADMSG on a
 * digest error; -EMSGSIZE when the data segment exceeds what we declared
 * (13.12; 8192 during login), and -EPROTO for anything but a plain Login
 * Request during login: both before reading further, with bhs filled for
 * a Reject.
 */
int rx_pdu_header(struct iscsi_conn *c, uint8_t *bhs, int timeout_ms, bool digest)
{
	if (c->rpos == c->rlen) {
		int w = c->rx_blocking && !c->io_deadline_ms ? rx_wait_read(c, timeout_ms)
							     : wait_io(c, POLLIN, timeout_ms);
		if (w < 0)
			return w;
	}
	int r = rx_bytes(c, bhs, ISCSI_BHS_LEN);
	if (r < 0)
		return r;
	/* Judge the lengths before reading anything they announce. */
	if (bhs_dsl(bhs) > c->p.max_recv_dsl)
		return -EMSGSIZE;
	if (c->state == CONN_LOGIN && (bhs_opcode(bhs) != OP_LOGIN_REQ || bhs[BHS_AHS_LEN]))
		return -EPROTO;
	c->ahs_len = (uint32_t)bhs[BHS_AHS_LEN] * 4;
	if (c->ahs_len) {
		r = rx_bytes(c, c->ahs, c->ahs_len);
		if (r < 0)
			return r;
	}
	if (digest) {
		uint8_t d[4];
		r = rx_bytes(c, d, 4);
		if (r < 0)
			return r;
		uint32_t crc = crc32c_update(crc32c(bhs, ISCSI_BHS_LEN), c->ahs, c->ahs_len);
		/* RFC 7143 13.1 / B.4: the digest goes on the wire least
		 * significant byte first. */
		if (get_le32(d) != crc)
			return -EBADMSG;
	}
	return 0;
}

/* Read a data segment of len bytes (+ padding + digest) into dst, or
 * discard it when dst is NULL. -EBADMSG on a data digest error. */
int rx_data(struct iscsi_conn *c, uint8_t *dst, uint32_t len, bool digest)
{
	uint8_t tail[8];
	uint32_t pad = pad4(len);
	int r = rx_bytes(c, dst, len);
	if (r < 0)
		return r;
	r = rx_bytes(c, tail, pad + (digest && len ? 4 : 0));
	if (r < 0)
		return r;
	if (digest && len && dst) {
		uint32_t crc = crc32c_update(crc32c(dst, len), tail, pad);
		if (get_le32(tail + pad) != crc)
			return -EBADMSG;
	}
	return 0;
}

static int tx_iov(struct iscsi_conn *c, struct iovec *iov, int n)
{
	if (c->send_failed)
		return -EPIPE;
	while (n > 0) {
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t r = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				int w = wait_io(c, POLLOUT, IO_TIMEOUT_MS);
				if (w < 0)
					goto fail;
				continue;
			}
			goto fail;
		}
		size_t done = (size_t)r;
		while (n > 0 && done >= iov->iov_len) {
			done -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + done;
			iov->iov_len -= done;
		}
	}
	return 0;
fail:
	/* A peer that stopped reading: end the connection, never block the
	 * other threads of this session behind it for ever. */
	c->send_failed = true;
	shutdown(c->fd, SHUT_RDWR);
	return -EPIPE;
}

/* Header (+ digest) and trailer (pad + data digest) of one outgoing PDU. */
struct txpdu {
	uint8_t hdr[ISCSI_BHS_LEN + ISCSI_DIGEST_LEN];
	uint8_t tail[8];
};

static int pdu_iov(struct iscsi_conn *c, struct txpdu *t, const void *data, uint32_t len,
		   struct iovec *iov)
{
	int n = 0;
	put_be24(t->hdr + BHS_DSL, len);
	size_t hlen = ISCSI_BHS_LEN;
	if (c->hdigest) {
		put_le32(t->hdr + ISCSI_BHS_LEN, crc32c(t->hdr, ISCSI_BHS_LEN));
		hlen += ISCSI_DIGEST_LEN;
	}
	iov[n++] = (struct iovec){t->hdr, hlen};
	if (len) {
		uint32_t pad = pad4(len);
		size_t tl = pad;
		iov[n++] = (struct iovec){(void *)data, len};
		memset(t->tail, 0, 4);
		if (c->ddigest) {
			uint32_t crc = crc32c_update(crc32c(data, len), t->tail, pad);
			put_le32(t->tail + pad, crc);
			tl += 4;
		}
		if (tl)
			iov[n++] = (struct iovec){t->tail, tl};
	}
	return n;
}

/* Send one PDU; the caller holds send_lock (or is still in login). */
int tx_pdu(struct iscsi_conn *c, uint8_t *bhs, const void *data, uint32_t len)
{
	struct txpdu t;
	struct iovec iov[3];
	memcpy(t.hdr, bhs, ISCSI_BHS_LEN);
	int n = pdu_iov(c, &t, data, len, iov);
	return tx_iov(c, iov, n);
}

/* ----------------------------------------------------- sequence numbers */

enum sn_mode {
	SN_PEEK,   /* StatSN field: the next StatSN, not consumed (R2T, NOP ping) */
	SN_STATUS, /* a status-bearing PDU: consume a StatSN */
	SN_NONE,   /* no StatSN (Data-In without status) */
};

/* Fill StatSN, ExpCmdSN and MaxCmdSN; caller holds send_lock. */
static void fill_sn(struct iscsi_conn *c, uint8_t *bhs, enum sn_mode mode)
{
	if (mode == SN_STATUS)
		put_be32(bhs + 24, c->stat_sn++);
	else if (mode == SN_PEEK)
		put_be32(bhs + 24, c->stat_sn);
	pthread_mutex_lock(&c->lock);
	put_be32(bhs + 28, c->exp_cmdsn);
	put_be32(bhs + 32, c->max_cmdsn);
	pthread_mutex_unlock(&c->lock);
}

/* Send a response PDU with its sequence numbers, under send_lock. */
static int send_status_pdu(struct iscsi_conn *c, uint8_t *bhs, const void *data, uint32_t len,
			   enum sn_mode mode)
{
	pthread_mutex_lock(&c->send_lock);
	fill_sn(c, bhs, mode);
	int r = tx_pdu(c, bhs, data, len);
	pthread_mutex_unlock(&c->send_lock);
	return r;
}

/* RFC 7143 11.17: Reject carries the offending header as its data. */
static int send_reject(struct iscsi_conn *c, uint8_t reason, const uint8_t *bad)
{
	uint8_t bhs[ISCSI_BHS_LEN] = {OP_REJECT, BHS_FINAL, reason};
	uint8_t copy[ISCSI_BHS_LEN];
	memcpy(copy, bad, ISCSI_BHS_LEN);
	put_be32(bhs + BHS_ITT, ISCSI_RSVD_TAG);
	conn_log(c, "reject opcode 0x%02x reason 0x%02x", bhs_opcode(bad), reason);
	return send_status_pdu(c, bhs, copy, ISCSI_BHS_LEN, SN_STATUS);
}

/*
 * CmdSN check for a non-immediate PDU (RFC 7143 4.2.2.1). Returns 1 when
 * the PDU is to be processed (ExpCmdSN advanced; `completes` also moves
 * MaxCmdSN because nothing stays in flight), 0 when it is outside the
 * window or a duplicate and is silently ignored, -EPROTO for a gap on our
 * only connection (a lost command: session failure at ERL 0).
 */
static int cmdsn_accept(struct iscsi_conn *c, const uint8_t *bhs, bool completes)
{
	if (bhs[0] & BHS_IMMEDIATE)
		return 1;
	uint32_t sn = get_be32(bhs + BHS_CMDSN);
	int r;
	pthread_mutex_lock(&c->lock);
	if (sn == c->exp_cmdsn) {
		c->exp_cmdsn++;
		if (completes)
			c->max_cmdsn++;
		r = 1;
	} else if (sn_cmp(sn, c->exp_cmdsn) > 0 && sn_cmp(sn, c->max_cmdsn) <= 0) {
		r = -EPROTO;
	} else {
		r = 0;
	}
	pthread_mutex_unlock(&c->lock);
	if (r == 0)
		conn_log(c, "CmdSN %u outside window, ignored", sn);
	if (r < 0)
		conn_log(c, "CmdSN gap at %u, ending the session", sn);
	return r;
}

/* ------------------------------------------------------------- tasks */

static struct task *task_find(struct iscsi_conn *c, uint32_t itt)
{
	for (struct task *t = c->tasks; t; t = t->next_all)
		if (t->itt == itt)
			return t;
	return NULL;
}

/* Unlink and free a task; caller holds c->lock. A non-immediate task
 * opens one slot of the CmdSN window as it goes. */
static void task_free_locked(struct iscsi_conn *c, struct task *t)
{
	for (struct task **pp = &c->tasks; *pp; pp = &(*pp)->next_all) {
		if (*pp == t) {
			*pp = t->next_all;
			break;
		}
	}
	if (!t->immediate) {
		c->max_cmdsn++;
		c->in_flight--;
	} else {
		c->n_immediate--;
	}
	c->buffered -= t->buf_cap;
	free(t->buf);
	free(t);
	pthread_cond_broadcast(&c->idle_cv);
}

static void slot_unlink(struct lun_slot *s, struct task *t)
{
	struct task *prev = NULL;
	for (struct task *q = s->qhead; q; prev = q, q = q->next_q) {
		if (q != t)
			continue;
		if (prev)
			prev->next_q = q->next_q;
		else
			s->qhead = q->next_q;
		if (s->qtail == q)
			s->qtail = prev;
		return;
	}
}

/* LUN field, peripheral (00b) or flat (01b) addressing in the first
 * level (SAM-5, "Peripheral device addressing method" and "Flat space
 * addressing method"). */
static bool lun_decode(const uint8_t *f, uint64_t *lun)
{
	for (int i = 2; i < 8; i++)
		if (f[i])
			return false;
	switch (f[0] >> 6) {
	case 0:
		if (f[0] & 0x3f)
			return false;
		*lun = f[1];
		return true;
	case 1:
		*lun = (uint64_t)(f[0] & 0x3f) << 8 | f[1];
		return true;
	default:
		return false;
	}
}

static void lun_encode(uint64_t lun, uint8_t *f)
{
	memset(f, 0, 8);
	if (lun < 256) {
		f[1] = (uint8_t)lun;
	} else {
		f[0] = (uint8_t)(0x40 | ((lun >> 8) & 0x3f));
		f[1] = (uint8_t)lun;
	}
}

static uint8_t *grow_buf(uint8_t **buf, size_t *cap, size_t need)
{
	if (*cap >= need)
		return *buf;
	uint8_t *b = malloc(need);
	if (!b)
		return NULL;
	free(*buf);
	*buf = b;
	*cap = need;
	return b;
}

/* ---------------------------------------------------------- responses */

/*
 * Send the outcome of a command: Data-In PDUs of at most the initiator's
 * MaxRecvDataSegmentLength, in sequences of at most MaxBurstLength (F bit
 * at each sequence end, 11.7.1), with the status in the last Data-In when
 * there is no sense data (11.7.4), otherwise a SCSI Response carrying the
 * sense data behind its 2-byte SenseLength (11.4.7). Residuals per 11.4.5.
 */
static void send_result(struct iscsi_conn *c, struct task *t, const uint8_t lunf[8],
			struct scsi_cmd *cmd)
{
	uint32_t xfer = 0, resid = 0;
	uint8_t rflags = 0;

	if (!(t->flags & SCMD_WRITE)) {
		uint32_t produced = cmd->in_len;
		xfer = produced < t->read_len ? produced : t->read_len;
		if (produced < t->read_len) {
			rflags = RSP_UNDERFLOW;
			resid = t->read_len - produced;
		} else if (produced > t->read_len) {
			rflags = RSP_OVERFLOW;
			resid = produced - t->read_len;
		}
	}
	bool piggy = xfer > 0 && cmd->sense_len == 0 && cmd->status != SAM_STAT_CHECK_CONDITION;

	pthread_mutex_lock(&c->send_lock);
	uint32_t seg = c->p.max_xmit_dsl;
	uint32_t burst = c->p.max_burst < c->ours.max_burst ? c->p.max_burst : c->ours.max_burst;
	if (seg > burst)
		seg = burst;
	uint32_t off = 0;
	while (off < xfer) {
		struct txpdu tp[BATCH_PDUS];
		struct iovec iov[BATCH_PDUS * 3];
		int niov = 0, np = 0;
		while (off < xfer && np < BATCH_PDUS) {
			uint64_t burst_end = ((uint64_t)off / burst + 1) * burst;
			uint32_t len = xfer - off;
			if (len > seg)
				len = seg;
			if (off + len > burst_end)
				len = (uint32_t)(burst_end - off);
			bool last = off + len == xfer;
			uint8_t *h = tp[np].hdr;
			memset(h, 0, ISCSI_BHS_LEN);
			h[0] = OP_DATA_IN;
			if (last || off + len == burst_end)
				h[1] = BHS_FINAL;
			memcpy(h + BHS_LUN, lunf, 8);
			put_be32(h + BHS_ITT, t->itt);
			put_be32(h + BHS_TTT, ISCSI_RSVD_TAG);
			put_be32(h + DATA_DATASN, t->datasn++);
			put_be32(h + DATA_OFFSET, off);
			if (last && piggy) {
				h[1] |= DATAIN_STATUS | rflags;
				h[3] = cmd->status;
				put_be32(h + RSP_RESIDUAL, resid);
				/* Completion first, so that this PDU already
				 * carries the MaxCmdSN it frees. */
				pthread_mutex_lock(&c->lock);
				task_free_locked(c, t);
				t = NULL;
				pthread_mutex_unlock(&c->lock);
				fill_sn(c, h, SN_STATUS);
			} else {
				fill_sn(c, h, SN_NONE);
			}
			niov += pdu_iov(c, &tp[np], cmd->in + off, len, iov + niov);
			np++;
			off += len;
		}
		if (tx_iov(c, iov, niov) < 0)
			break;
	}

	if (!piggy) {
		uint8_t h[ISCSI_BHS_LEN] = {OP_SCSI_RSP, BHS_FINAL, ISCSI_RESPONSE_COMPLETED};
		uint8_t sd[2 + SCSI_SENSE_MAX];
		uint32_t sdl = 0;
		h[1] |= rflags;
		h[3] = cmd->status;
		put_be32(h + BHS_ITT, t->itt);
		put_be32(h + RSP_EXPDATASN, t->datasn);
		put_be32(h + RSP_RESIDUAL, resid);
		if (cmd->sense_len) {
			put_be16(sd, cmd->sense_len);
			memcpy(sd + 2, cmd->sense, cmd->sense_len);
			sdl = 2u + cmd->sense_len;
		}
		pthread_mutex_lock(&c->lock);
		task_free_locked(c, t);
		t = NULL;
		pthread_mutex_unlock(&c->lock);
		fill_sn(c, h, SN_STATUS);
		tx_pdu(c, h, sd, sdl);
	}
	pthread_mutex_unlock(&c->send_lock);
	if (t) { /* the send failed before the status went out */
		pthread_mutex_lock(&c->lock);
		task_free_locked(c, t);
		pthread_mutex_unlock(&c->lock);
	}
}

/* Answer a command with a status and no data (the task is freed). */
static void respond_status(struct iscsi_conn *c, struct task *t, const uint8_t lunf[8],
			   uint8_t status, uint8_t key, uint16_t asc)
{
	struct scsi_cmd cmd;
	memset(&cmd, 0, sizeof(cmd));
	if (status == SAM_STAT_CHECK_CONDITION)
		sense_set(&cmd, key, asc);
	else
		cmd.status = status;
	send_result(c, t, lunf, &cmd);
}

/* --------------------------------------------- transport-owned commands */

/* SPC-4 6.33 REPORT LUNS, answered by the transport (ARCHITECTURE.md). */
static void report_luns(struct iscsi_conn *c, struct scsi_cmd *cmd)
{
	const struct iscsi_target *tgt = c->tgt;
	uint8_t sel = cmd->cdb[2];
	uint32_t alloc = get_be32(cmd->cdb + 6);

	if (sel != 0x00 && sel != 0x01 && sel != 0x02) {
		sense_invalid_cdb(cmd, 2, -1);
		return;
	}
	size_t n = sel == 0x01 ? 0 : tgt->n_luns; /* no well-known LUNs */
	size_t len = 8 + n * 8;
	uint8_t *buf = calloc(1, len);
	if (!buf) {
		sense_set(cmd, SK_HARDWARE_ERROR, ASC_SYSTEM_RESOURCE_FAILURE);
		return;
	}
	put_be32(buf, (uint32_t)(n * 8));
	for (size_t i = 0; i < n; i++)
		lun_encode(tgt->luns[i].lun, buf + 8 + i * 8);
	sense_clear(cmd);
	spc_respond(cmd, buf, (uint32_t)len, alloc);
	free(buf);
}

/* A LUN that is not mapped (SPC-4 6.6.2 peripheral qualifier 011b; SPC-4
 * 6.39 REQUEST SENSE; everything else LOGICAL UNIT NOT SUPPORTED). */
static void no_such_lun(struct scsi_cmd *cmd)
{
	uint8_t buf[36];
	switch (cmd->cdb[0]) {
	case INQUIRY:
		if (cmd->cdb[1] & 0x01)
			break;
		memset(buf, 0, sizeof(buf));
		buf[0] = 0x7f; /* PQ 011b, type 1Fh */
		buf[2] = 0x06;
		buf[3] = 0x02;
		buf[4] = sizeof(buf) - 5;
		sense_clear(cmd);
		spc_respond(cmd, buf, sizeof(buf), get_be16(cmd->cdb + 3));
		return;
	case REQUEST_SENSE: {
		struct scsi_cmd tmp;
		memset(&tmp, 0, sizeof(tmp));
		sense_set(&tmp, SK_ILLEGAL_REQUEST, ASC_LOGICAL_UNIT_NOT_SUPPORTED);
		sense_clear(cmd);
		spc_respond(cmd, tmp.sense, tmp.sense_len, cmd->cdb[4]);
		return;
	}
	}
	sense_set(cmd, SK_ILLEGAL_REQUEST, ASC_LOGICAL_UNIT_NOT_SUPPORTED);
}

/* Run a command whose data-out is complete and send its result. */
static void task_execute(struct iscsi_conn *c, struct task *t, uint8_t **inbuf, size_t *incap)
{
	struct scsi_cmd cmd;
	uint8_t lunf[8];
	lun_encode(t->lun, lunf);
	memset(&cmd, 0, sizeof(cmd));
	size_t need = t->read_len > MIN_IN_CAP ? t->read_len : MIN_IN_CAP;
	if (!grow_buf(inbuf, incap, need)) {
		respond_status(c, t, lunf, SAM_STAT_TASK_SET_FULL, 0, 0);
		return;
	}
	cmd.lun = t->lun;
	cmd.nexus = c->nexus;
	cmd.initiator_port = c->port_name;
	cmd.target_port = c->target_port;
	cmd.target_proto = SCSI_PROTO_ISCSI;
	memcpy(cmd.cdb, t->cdb, sizeof(cmd.cdb));
	cmd.cdb_len = sizeof(cmd.cdb);
	cmd.out = t->buf;
	cmd.out_len = t->received;
	cmd.out_size = t->buf_cap; /* lent: a WRITE may keep it (scsi.h) */
	cmd.in = *inbuf;
	cmd.in_cap = (uint32_t)need;
	cmd.in_size = *incap; /* lent: a READ may exchange it (scsi.h) */

	uint64_t t0 = met_now_ns();
	if (cmd.cdb[0] == REPORT_LUNS)
		report_luns(c, &cmd);
	else if (!t->slot)
		no_such_lun(&cmd);
	else
		spc_dispatch(t->slot->dev, &cmd);
	*inbuf = cmd.in;
	*incap = cmd.in_size;
	/* Freed with the task; buf_cap stays what c->buffered counted. */
	t->buf = (uint8_t *)cmd.out;
	met_scsi_cmd(t->slot ? t->slot->dev : NULL, &cmd, sense_key(cmd.sense, cmd.sense_len),
		     met_now_ns() - t0);
	send_result(c, t, lunf, &cmd);
}

/* ------------------------------------------------------ task management */

static void send_tmf_rsp(struct iscsi_conn *c, uint32_t itt, uint8_t response)
{
	uint8_t h[ISCSI_BHS_LEN] = {OP_TMF_RSP, BHS_FINAL, response};
	put_be32(h + BHS_ITT, itt);
	send_status_pdu(c, h, NULL, 0, SN_STATUS);
}

static void lun_reset(struct iscsi_conn *c, struct scsi_dev *dev)
{
	pthread_mutex_lock(&dev->lock);
	spc_lun_reset(dev, c->nexus);
	pthread_mutex_unlock(&dev->lock);
}

/* Worker side: answer a TMF that waited for the running task. */
static void slot_tmf_done(struct iscsi_conn *c, struct lun_slot *s)
{
	struct tmf_wait w = s->tmf;
	s->tmf.pending = false;
	s->tmf_answering = true;
	pthread_mutex_unlock(&c->lock);
	if (w.lun_reset)
		lun_reset(c, s->dev);
	send_tmf_rsp(c, w.itt, w.response);
	pthread_mutex_lock(&c->lock);
	/* A Logout waiting in quiesce() for this LUN to be idle: without
	 * this wake-up it waited for ever once the TMF was the last thing
	 * the LUN had (found by fuzz_iscsi: a LUN RESET that waited for a
	 * running command, then a Logout). */
	s->tmf_answering = false;
	pthread_cond_broadcast(&c->idle_cv);
}

/* Run ready tasks at the head of a LUN queue; caller holds c->lock. With
 * `wait` (a worker), also sleep for work until told to stop. */
static void slot_run(struct iscsi_conn *c, struct lun_slot *s, bool wait)
{
	for (;;) {
		if (s->tmf.pending && !s->running) {
			slot_tmf_done(c, s);
			continue;
		}
		struct task *t = s->qhead;
		if (t && c->dead && t->state == TASK_READY) {
			slot_unlink(s, t);
			task_free_locked(c, t);
			continue;
		}
		/* s->running is set by another thread when the head runs on
		 * the fast path: the next waits for it. */
		if (!t || t->state != TASK_READY || s->running) {
			if (!wait || (c->stop_workers && !t) || (c->stop_workers && c->dead))
				return;
			pthread_cond_wait(&s->cv, &c->lock);
			continue;
		}
		slot_unlink(s, t);
		t->state = TASK_RUNNING;
		s->running = t;
		pthread_mutex_unlock(&c->lock);
		task_execute(c, t, &s->inbuf, &s->inbuf_cap);
		pthread_mutex_lock(&c->lock);
		s->running = NULL;
		pthread_cond_broadcast(&c->idle_cv);
	}
}

static void *slot_worker(void *arg)
{
	struct lun_slot *s = arg;
	struct iscsi_conn *c = s->conn;
	pthread_mutex_lock(&c->lock);
	slot_run(c, s, true);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/*
 * Commands run where they arrive (the fast path). Handing every command
 * to its LUN's worker costs two thread wake-ups and context switches per
 * command, more than the command itself for a 4 KiB record. So when a
 * LUN is idle (nothing running, nothing queued, no TMF waiting) and the
 * standby thread is free, the receiver runs the command itself. Any
 * command may block for long (a LOCATE across a tape, an ERASE, a WRITE
 * held back by a full cache, a READ that fetches an evicted segment from
 * the object store), and no table can tell which will, so none is
 * guessed: the standby looks every STANDBY_TICK_MS while commands run
 * here, and when the same command has been running for a whole tick it
 * takes the receiver role and goes on reading the socket. The command's
 * thread finishes it and becomes the standby. Other LUNs of the session
 * therefore wait at most two ticks behind a long command, and commands of
 * the busy LUN queue behind it for its worker, in order, as before.
 *
 * The receiver role (the socket's read side and the fields marked
 * "receiver thread only") passes between the two threads under `lock`,
 * and only between PDUs: a thread that lost it is inside task_execute(),
 * which touches only the task, its slot's data-in buffer and the send
 * side, and it returns RX_HANDED_OVER up to ffp_loop() without touching
 * receive state again.
 */
#define STANDBY_TICK_MS 2
#define RX_HANDED_OVER	2 /* ffp_loop: this thread is no longer the receiver */

/* Caller holds c->lock; t is READY and alone in its LUN's queue. */
static bool fast_path_ok(const struct iscsi_conn *c, const struct lun_slot *s, const struct task *t)
{
	return c->fast_path && c->standby_free && !c->dead && s->qhead == t && s->qtail == t &&
	       !s->running && !s->tmf.pending;
}

/* Run t on this (the receiver's) thread; called with c->lock held, which
 * it releases. Returns 0, or RX_HANDED_OVER when the standby took the
 * receiver role meanwhile. */
static int fast_path_run(struct iscsi_conn *c, struct lun_slot *s, struct task *t)
{
	slot_unlink(s, t);
	t->state = TASK_RUNNING;
	s->running = t;
	c->inline_busy = true;
	c->inline_seq++;
	bool wake = c->standby_asleep;
	c->standby_asleep = false;
	pthread_mutex_unlock(&c->lock);
	if (wake)
		pthread_cond_signal(&c->standby_cv);

	task_execute(c, t, &s->inbuf, &s->inbuf_cap);

	pthread_mutex_lock(&c->lock);
	s->running = NULL;
	c->inline_busy = false;
	bool lost = c->inline_orphaned;
	c->inline_orphaned = false;
	pthread_cond_broadcast(&c->idle_cv);
	/* What arrived meanwhile (only after a hand-over: until then nothing
	 * read the socket): commands queued behind this one have a worker,
	 * started by task_ready(); a TMF that waited for this command is
	 * answered by the worker, or here when the LUN has none. */
	if (s->started && (s->qhead || s->tmf.pending))
		pthread_cond_signal(&s->cv);
	else if (s->tmf.pending)
		slot_tmf_done(c, s);
	pthread_mutex_unlock(&c->lock);
	return lost ? RX_HANDED_OVER : 0;
}

/* A task's data-out is complete: let its LUN run it. */
static int task_ready(struct iscsi_conn *c, struct task *t)
{
	struct lun_slot *s = t->slot;
	pthread_mutex_lock(&c->lock);
	t->state = TASK_READY;
	if (c->inline_exec) {
		slot_run(c, s, false);
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	if (fast_path_ok(c, s, t))
		return fast_path_run(c, s, t);
	if (!s->started) {
		if (pthread_create(&s->thread, NULL, slot_worker, s)) {
			pthread_mutex_unlock(&c->lock);
			conn_log(c, "cannot start a worker for LUN %" PRIu64, s->lun);
			return -ENOMEM;
		}
		s->started = true;
	}
	/* Wake the worker after letting go of the lock, so that it does not
	 * wake only to block on it again (two more futex calls and a context
	 * switch per command). The slot outlives this: only this (receiver)
	 * thread tears the connection down. */
	pthread_mutex_unlock(&c->lock);
	pthread_cond_signal(&s->cv);
	return 0;
}

/* Send R2Ts while the window of outstanding R2Ts allows (RFC 7143 11.8;
 * DataSequenceInOrder=Yes: in increasing offset order). */
static int issue_r2ts(struct iscsi_conn *c, struct task *t)
{
	uint32_t maxo = c->p.max_outstanding_r2t;
	if (maxo > c->ours.max_outstanding_r2t)
		maxo = c->ours.max_outstanding_r2t;
	uint32_t burst = c->p.max_burst < c->ours.max_burst ? c->p.max_burst : c->ours.max_burst;
	if (t->solicit_off < t->received)
		t->solicit_off = t->received;
	uint8_t lunf[8];
	lun_encode(t->lun, lunf);
	while (t->n_r2t < maxo && t->solicit_off < t->write_len) {
		struct r2t *r = &t->r2t[t->n_r2t];
		r->offset = t->solicit_off;
		r->len = t->write_len - r->offset;
		if (r->len > burst)
			r->len = burst;
		r->datasn = 0;
		r->ttt = c->next_ttt++;
		if (r->ttt == ISCSI_RSVD_TAG)
			r->ttt = c->next_ttt++;
		t->solicit_off += r->len;
		t->n_r2t++;

		uint8_t h[ISCSI_BHS_LEN] = {OP_R2T, BHS_FINAL};
		memcpy(h + BHS_LUN, lunf, 8);
		put_be32(h + BHS_ITT, t->itt);
		put_be32(h + BHS_TTT, r->ttt);
		put_be32(h + R2T_R2TSN, t->r2tsn++);
		t->datasn++;
		put_be32(h + R2T_OFFSET, r->offset);
		put_be32(h + R2T_LENGTH, r->len);
		if (send_status_pdu(c, h, NULL, 0, SN_PEEK) < 0)
			return -EPIPE;
	}
	return 0;
}

/* After data-out arrived (or the command itself): run it or solicit more. */
static int task_progress(struct iscsi_conn *c, struct task *t)
{
	if (t->received == t->write_len && t->n_r2t == 0)
		return task_ready(c, t);
	if (!t->unsol_done)
		return 0;
	return issue_r2ts(c, t);
}

/*
 * Abort a task that has not started (RFC 7143 11.5.1; SAM-5, "ABORT TASK"): it is
 * freed without a response. Data-Out still in flight for it finds no task
 * and is discarded. Caller holds c->lock and is the receiver thread (the
 * only thread that touches a task before it is READY).
 */
static void task_abort_locked(struct iscsi_conn *c, struct task *t)
{
	if (t->slot)
		slot_unlink(t->slot, t);
	task_free_locked(c, t);
}

/* ------------------------------------------------------------ handlers */

static int discard_data(struct iscsi_conn *c, const uint8_t *bhs)
{
	return rx_data(c, NULL, bhs_dsl(bhs), false);
}

static struct lun_slot *slot_for(struct iscsi_conn *c, uint64_t lun)
{
	for (size_t i = 0; i < c->n_slots; i++)
		if (c->slots[i].lun == lun)
			return &c->slots[i];
	return NULL;
}

/* RFC 7143 11.3: SCSI Command. */
static int handle_scsi_cmd(struct iscsi_conn *c, const uint8_t *bhs)
{
	uint32_t dsl = bhs_dsl(bhs);
	bool immediate = bhs[0] & BHS_IMMEDIATE;
	uint8_t flags = bhs[BHS_FLAGS];
	uint32_t edtl = get_be32(bhs + SCMD_EDTL);
	uint32_t itt = get_be32(bhs + BHS_ITT);

	if (c->discovery) {
		/* 4.3: a discovery session carries only Text and Logout. */
		if (discard_data(c, bhs) < 0)
			return -EIO;
		return send_reject(c, REJECT_PROTOCOL_ERROR, bhs) < 0 ? -EIO : 0;
	}

	/* Structural checks the data transfer rules depend on. */
	bool bad = false;
	if (dsl && !(flags & SCMD_WRITE))
		bad = true; /* immediate data on a non-write */
	if (dsl && !c->p.immediate_data)
		bad = true; /* 13.11 */
	if (dsl > c->p.first_burst || dsl > edtl)
		bad = true; /* 13.14 */
	if (!(flags & BHS_FINAL) && (!(flags & SCMD_WRITE) || c->p.initial_r2t))
		bad = true; /* unsolicited Data-Out needs InitialR2T=No */
	if (bad) {
		send_reject(c, REJECT_PROTOCOL_ERROR, bhs);
		return -EPROTO;
	}

	int acc = cmdsn_accept(c, bhs, false);
	if (acc < 0)
		return acc;
	if (acc == 0)
		return discard_data(c, bhs) < 0 ? -EIO : 0;

	pthread_mutex_lock(&c->lock);
	for (size_t k = 0; k < 8; k++) {
		if (c->preabort[k].valid && c->preabort[k].itt == itt &&
		    c->preabort[k].cmdsn == get_be32(bhs + BHS_CMDSN)) {
			/* Aborted before it arrived: received, never run. */
			c->preabort[k].valid = false;
			if (!immediate)
				c->max_cmdsn++;
			pthread_mutex_unlock(&c->lock);
			return discard_data(c, bhs) < 0 ? -EIO : 0;
		}
	}
	struct task *dup = task_find(c, itt);
	bool too_many = immediate && c->n_immediate >= MAX_IMMEDIATE_TASKS;
	pthread_mutex_unlock(&c->lock);
	if (dup || too_many) {
		if (!immediate) { /* considered received: reopen its window slot */
			pthread_mutex_lock(&c->lock);
			c->max_cmdsn++;
			pthread_mutex_unlock(&c->lock);
		}
		if (discard_data(c, bhs) < 0)
			return -EIO;
		return send_reject(c, dup ? REJECT_TASK_IN_PROGRESS : REJECT_IMMEDIATE_CMD, bhs) < 0
			   ? -EIO
			   : 0;
	}

	struct task *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->itt = itt;
	t->cmdsn = get_be32(bhs + BHS_CMDSN);
	t->immediate = immediate;
	t->flags = flags;
	t->edtl = edtl;
	memcpy(t->cdb, bhs + BHS_CDB, 16);
	uint8_t lunf[8];
	memcpy(lunf, bhs + BHS_LUN, 8);
	bool lun_ok = lun_decode(lunf, &t->lun);
	t->slot = lun_ok ? slot_for(c, t->lun) : NULL;
	t->unsol_done = flags & BHS_FINAL;
	t->state = TASK_RECEIVING;

	pthread_mutex_lock(&c->lock);
	t->next_all = c->tasks;
	c->tasks = t;
	if (immediate)
		c->n_immediate++;
	else
		c->in_flight++;
	pthread_mutex_unlock(&c->lock);

	/* What the transport refuses before any data moves. A bidirectional
	 * command, an extended CDB (AHS type 1) or a transfer beyond
	 * max_cmd_data gets CHECK CONDITION; unsolicited data for it is
	 * drained (Data-Out with an unknown ITT and TTT 0xffffffff is
	 * discarded). */
	bool bidi = (flags & SCMD_READ) && (flags & SCMD_WRITE);
	bool ext_cdb = c->ahs_len >= 4 && (c->ahs[2] & 0x3f) == 1;
	uint16_t refuse = 0;
	uint8_t refuse_status = SAM_STAT_CHECK_CONDITION;
	if (bidi || ext_cdb)
		refuse = ASC_INVALID_FIELD_IN_CDB;
	else if (edtl > c->srv->cfg.max_cmd_data)
		refuse = ASC_INVALID_FIELD_IN_CDB;
	if (!refuse && (flags & SCMD_WRITE)) {
		pthread_mutex_lock(&c->lock);
		/* Data-out held by one session is bounded, whatever the
		 * window: past the budget the command gets TASK SET FULL. */
		uint64_t budget = 4ull * c->srv->cfg.max_cmd_data;
		if (budget < SESSION_BUFFER_MIN)
			budget = SESSION_BUFFER_MIN;
		bool full = c->buffered + edtl > budget;
		if (!full)
			c->buffered += edtl;
		pthread_mutex_unlock(&c->lock);
		if (full) {
			refuse = 1;
			refuse_status = SAM_STAT_TASK_SET_FULL;
		} else {
			t->buf = malloc(edtl ? edtl : 1);
			t->buf_cap = edtl;
			if (!t->buf) {
				refuse = 1;
				refuse_status = SAM_STAT_TASK_SET_FULL;
			}
		}
	}
	if (refuse) {
		if (discard_data(c, bhs) < 0)
			return -EIO;
		respond_status(c, t, lunf, refuse_status, SK_ILLEGAL_REQUEST, refuse);
		return 0;
	}

	if (flags & SCMD_WRITE)
		t->write_len = edtl;
	if (flags & SCMD_READ)
		t->read_len = edtl;

	if (dsl) {
		int r = rx_data(c, t->buf, dsl, c->ddigest);
		if (r == -EBADMSG) {
			/* 7.8 at ERL 0: reject, and the session ends. */
			send_reject(c, REJECT_DATA_DIGEST, bhs);
			return -EBADMSG;
		}
		if (r < 0)
			return r;
		t->received = dsl;
	}

	/* Unmapped LUNs and REPORT LUNS are the transport's; they need no
	 * data-out, so answer now and let the rest of any burst drain. */
	if (!t->slot || t->cdb[0] == REPORT_LUNS) {
		uint8_t *ib = c->inbuf;
		size_t ic = c->inbuf_cap;
		task_execute(c, t, &ib, &ic);
		c->inbuf = ib;
		c->inbuf_cap = ic;
		return 0;
	}

	pthread_mutex_lock(&c->lock);
	struct lun_slot *s = t->slot;
	if (s->qtail)
		s->qtail->next_q = t;
	else
		s->qhead = t;
	s->qtail = t;
	pthread_mutex_unlock(&c->lock);
	return task_progress(c, t);
}

/* RFC 7143 11.7: SCSI Data-Out. */
static int handle_data_out(struct iscsi_conn *c, const uint8_t *bhs)
{
	uint32_t dsl = bhs_dsl(bhs);
	uint32_t itt = get_be32(bhs + BHS_ITT);
	uint32_t ttt = get_be32(bhs + BHS_TTT);
	uint32_t datasn = get_be32(bhs + DATA_DATASN);
	uint32_t off = get_be32(bhs + DATA_OFFSET);
	bool final = bhs[BHS_FLAGS] & BHS_FINAL;

	pthread_mutex_lock(&c->lock);
	struct task *t = task_find(c, itt);
	if (t && t->state != TASK_RECEIVING)
		t = NULL;
	pthread_mutex_unlock(&c->lock);

	if (!t) {
		/* Data of a command answered early or aborted: the initiator
		 * may still send what it had queued; it is dropped. */
		return discard_data(c, bhs) < 0 ? -EIO : 0;
	}

	/* DataPDUInOrder=Yes and DataSequenceInOrder=Yes (13.18, 13.19):
	 * data arrives at increasing offsets with no gaps. */
	bool ok = dsl > 0 && off == t->received && (uint64_t)off + dsl <= t->write_len;
	struct r2t *r = NULL;
	if (ok && ttt == ISCSI_RSVD_TAG) {
		ok = !t->unsol_done && (uint64_t)off + dsl <= c->p.first_burst &&
		     datasn == t->unsol_datasn;
		t->unsol_datasn++;
	} else if (ok) {
		r = t->n_r2t ? &t->r2t[0] : NULL;
		ok = r && r->ttt == ttt && off + dsl <= r->offset + r->len && datasn == r->datasn;
		if (r)
			r->datasn++;
	}
	if (!ok) {
		conn_log(c, "Data-Out out of order (itt 0x%x offset %u len %u datasn %u)", itt, off,
			 dsl, datasn);
		send_reject(c, REJECT_PROTOCOL_ERROR, bhs);
		return -EPROTO;
	}

	int rc = rx_data(c, t->buf + off, dsl, c->ddigest);
	if (rc == -EBADMSG) {
		send_reject(c, REJECT_DATA_DIGEST, bhs);
		return -EBADMSG;
	}
	if (rc < 0)
		return rc;
	t->received += dsl;
	if (!r && final)
		t->unsol_done = true;
	if (r && t->received == r->offset + r->len) {
		memmove(&t->r2t[0], &t->r2t[1], (t->n_r2t - 1) * sizeof(t->r2t[0]));
		t->n_r2t--;
	}
	return task_progress(c, t);
}

static void send_nop_in(struct iscsi_conn *c, const uint8_t lunf[8], uint32_t itt, uint32_t ttt,
			const void *data, uint32_t len)
{
	uint8_t h[ISCSI_BHS_LEN] = {OP_NOP_IN, BHS_FINAL};
	memcpy(h + BHS_LUN, lunf, 8);
	put_be32(h + BHS_ITT, itt);
	put_be32(h + BHS_TTT, ttt);
	/* 11.19: StatSN advances only for a reply to a ping that wanted one. */
	send_status_pdu(c, h, data, len, itt == ISCSI_RSVD_TAG ? SN_PEEK : SN_STATUS);
}

/* RFC 7143 11.18: NOP-Out. */
static int handle_nop_out(struct iscsi_conn *c, const uint8_t *bhs, uint8_t *scratch)
{
	uint32_t dsl = bhs_dsl(bhs);
	uint32_t itt = get_be32(bhs + BHS_ITT);
	int acc = cmdsn_accept(c, bhs, true);
	if (acc < 0)
		return acc;
	int r = rx_data(c, scratch, dsl, c->ddigest);
	if (r == -EBADMSG) {
		send_reject(c, REJECT_DATA_DIGEST, bhs);
		return -EBADMSG;
	}
	if (r < 0)
		return r;
	if (acc == 0 || itt == ISCSI_RSVD_TAG)
		return 0; /* an answer to our ping, or ignored */
	send_nop_in(c, bhs + BHS_LUN, itt, ISCSI_RSVD_TAG, scratch, dsl);
	return 0;
}

static bool tmf_lun_tasks(struct iscsi_conn *c, struct lun_slot *s)
{
	/* Caller holds c->lock. Abort every task that has not started;
	 * true when one is running (it completes, then the TMF answers). */
	for (struct task *t = s->qhead; t;) {
		struct task *next = t->next_q;
		task_abort_locked(c, t);
		t = next;
	}
	return s->running != NULL;
}

/* Receiver side of a TMF whose answer may wait for a running task. */
static void tmf_on_slot(struct iscsi_conn *c, struct lun_slot *s, uint32_t itt, uint8_t func,
			bool reset)
{
	pthread_mutex_lock(&c->lock);
	if (tmf_lun_tasks(c, s) && !s->tmf.pending) {
		s->tmf = (struct tmf_wait){true, func, itt, TMF_RSP_COMPLETE, reset};
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&c->lock);
		return;
	}
	pthread_mutex_unlock(&c->lock);
	if (reset)
		lun_reset(c, s->dev);
	send_tmf_rsp(c, itt, TMF_RSP_COMPLETE);
}

/* RFC 7143 11.5 / 11.6: Task Management Function. */
static int handle_tmf(struct iscsi_conn *c, const uint8_t *bhs)
{
	uint8_t func = bhs[BHS_FLAGS] & 0x7f;
	uint32_t itt = get_be32(bhs + BHS_ITT);
	uint32_t ref = get_be32(bhs + TMF_REFTASKTAG);
	uint32_t refsn = get_be32(bhs + TMF_REFCMDSN);
	uint32_t cmdsn = get_be32(bhs + BHS_CMDSN);
	uint64_t lun = 0;

	if (discard_data(c, bhs) < 0)
		return -EIO;
	if (c->discovery)
		return send_reject(c, REJECT_PROTOCOL_ERROR, bhs) < 0 ? -EIO : 0;
	int acc = cmdsn_accept(c, bhs, true);
	if (acc <= 0)
		return acc;
	bool lun_ok = lun_decode(bhs + BHS_LUN, &lun);
	struct lun_slot *s = lun_ok ? slot_for(c, lun) : NULL;

	switch (func) {
	case TMF_ABORT_TASK: {
		pthread_mutex_lock(&c->lock);
		struct task *t = task_find(c, ref);
		if (t && t->state != TASK_RUNNING) {
			task_abort_locked(c, t);
		} else if (t && t->state == TASK_RUNNING && !t->slot->tmf.pending) {
			/* It runs to completion; its response goes first. */
			t->slot->tmf = (struct tmf_wait){true, func, itt, TMF_RSP_COMPLETE, false};
			pthread_cond_signal(&t->slot->cv);
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
		uint8_t rsp = TMF_RSP_COMPLETE;
		if (!t) {
			/* 11.5.1 b/c: a tag we do not have, whose CmdSN is in
			 * the window and not after this TMF, is a command the
			 * TMF overtook (an immediate TMF may be sent before
			 * queued commands): it counts as received, and is
			 * dropped on arrival. Otherwise the task is gone. */
			bool immediate = bhs[0] & BHS_IMMEDIATE;
			bool overtaken =
			    sn_cmp(refsn, c->exp_cmdsn) >= 0 && sn_cmp(refsn, c->max_cmdsn) <= 0 &&
			    (sn_cmp(refsn, cmdsn) < 0 || (immediate && refsn == cmdsn));
			rsp = overtaken ? TMF_RSP_COMPLETE : TMF_RSP_NO_TASK;
			if (overtaken) {
				size_t k = 0;
				while (k < 7 && c->preabort[k].valid)
					k++;
				c->preabort[k].valid = true;
				c->preabort[k].itt = ref;
				c->preabort[k].cmdsn = refsn;
			}
		}
		pthread_mutex_unlock(&c->lock);
		send_tmf_rsp(c, itt, rsp);
		break;
	}
	case TMF_ABORT_TASK_SET:
	case TMF_CLEAR_TASK_SET:
	case TMF_LUN_RESET:
		if (!s) {
			send_tmf_rsp(c, itt, TMF_RSP_NO_LUN);
			break;
		}
		tmf_on_slot(c, s, itt, func, func == TMF_LUN_RESET);
		break;
	case TMF_TARGET_WARM_RESET:
	case TMF_TARGET_COLD_RESET:
		pthread_mutex_lock(&c->lock);
		for (size_t i = 0; i < c->n_slots; i++)
			tmf_lun_tasks(c, &c->slots[i]);
		for (;;) {
			bool busy = false;
			for (size_t i = 0; i < c->n_slots; i++)
				busy |= c->slots[i].running != NULL;
			if (!busy)
				break;
			pthread_cond_wait(&c->idle_cv, &c->lock);
		}
		pthread_mutex_unlock(&c->lock);
		for (size_t i = 0; i < c->n_slots; i++)
			lun_reset(c, c->slots[i].dev);
		send_tmf_rsp(c, itt, TMF_RSP_COMPLETE);
		if (func == TMF_TARGET_COLD_RESET) {
			/* 11.5.1: a cold reset ends every session of the
			 * target, this one included, after the response. */
			srv_cold_reset(c->srv, c->tgt, c);
			return -ECONNRESET;
		}
		break;
	case TMF_TASK_REASSIGN:
		send_tmf_rsp(c, itt, TMF_RSP_REASSIGN_UNSUPPORTED); /* ERL 0 */
		break;
	case TMF_CLEAR_ACA:
		send_tmf_rsp(c, itt, TMF_RSP_NOT_SUPPORTED); /* NACA is never set */
		break;
	default:
		send_tmf_rsp(c, itt, TMF_RSP_REJECTED);
		break;
	}
	return 0;
}

static void add_target_entry(struct iscsi_conn *c, struct kv_out *o, const struct iscsi_target *t)
{
	kv_add(o, "TargetName", "%s", t->cfg.iqn);
	if (!c->portal_loopback) /* see set_portal() */
		kv_add(o, "TargetAddress", "%s", c->portal);
}

/* RFC 7143 11.10 / 11.11: Text Request, SendTargets (appendix C). */
static int handle_text(struct iscsi_conn *c, const uint8_t *bhs, uint8_t *scratch)
{
	uint32_t dsl = bhs_dsl(bhs);
	uint32_t itt = get_be32(bhs + BHS_ITT);
	uint32_t ttt = get_be32(bhs + BHS_TTT);

	int acc = cmdsn_accept(c, bhs, true);
	if (acc < 0)
		return acc;
	int r = rx_data(c, scratch, dsl, c->ddigest);
	if (r == -EBADMSG) {
		send_reject(c, REJECT_DATA_DIGEST, bhs);
		return -EBADMSG;
	}
	if (r < 0)
		return r;
	if (acc == 0)
		return 0;
	if (bhs[BHS_FLAGS] & TEXT_CONTINUE)
		return send_reject(c, REJECT_CMD_NOT_SUPPORTED, bhs) < 0 ? -EIO : 0;

	if (ttt != ISCSI_RSVD_TAG) {
		if (!c->text_rsp || ttt != c->text_ttt || itt != c->text_itt)
			return send_reject(c, REJECT_INVALID_PDU_FIELD, bhs) < 0 ? -EIO : 0;
	} else {
		free(c->text_rsp);
		c->text_rsp = NULL;
		struct kv_pair pairs[KV_MAX_PAIRS];
		int n = kv_parse((char *)scratch, dsl, pairs, KV_MAX_PAIRS);
		if (n < 0)
			return send_reject(c, REJECT_PROTOCOL_ERROR, bhs) < 0 ? -EIO : 0;
		struct kv_out o;
		kv_out_init(&o, TEXT_LIMIT);
		for (int i = 0; i < n; i++) {
			const char *k = pairs[i].key, *v = pairs[i].val;
			if (strcmp(k, "SendTargets")) {
				kv_add(&o, k, "NotUnderstood");
				continue;
			}
			struct iscsi_server *srv = c->srv;
			pthread_mutex_lock(&srv->lock);
			for (size_t j = 0; j < srv->n_targets; j++) {
				const struct iscsi_target *t = srv->targets[j];
				bool want;
				if (c->discovery)
					want = !strcmp(v, "All") || !strcasecmp(v, t->cfg.iqn);
				else
					want = t == c->tgt && (!*v || !strcasecmp(v, t->cfg.iqn));
				if (want && srv_target_allows(t, c->initiator))
					add_target_entry(c, &o, t);
			}
			pthread_mutex_unlock(&srv->lock);
			if (!c->discovery && !strcmp(v, "All"))
				kv_add(&o, k, "Reject");
		}
		if (o.overflow) {
			kv_out_free(&o);
			return send_reject(c, REJECT_LONG_OP, bhs) < 0 ? -EIO : 0;
		}
		c->text_rsp = o.buf;
		c->text_rsp_len = o.len;
		c->text_rsp_off = 0;
		c->text_itt = itt;
	}

	/* 11.11: a response longer than the initiator's MRDSL goes in pieces,
	 * F=0/C=1 with a TTT the initiator echoes to get the next one. */
	uint32_t left = (uint32_t)(c->text_rsp_len - c->text_rsp_off);
	uint32_t len = left < c->p.max_xmit_dsl ? left : c->p.max_xmit_dsl;
	bool last = len == left;
	uint8_t h[ISCSI_BHS_LEN] = {OP_TEXT_RSP, (uint8_t)(last ? BHS_FINAL : TEXT_CONTINUE)};
	put_be32(h + BHS_ITT, itt);
	if (last) {
		put_be32(h + BHS_TTT, ISCSI_RSVD_TAG);
	} else {
		c->text_ttt = c->next_ttt++;
		if (c->text_ttt == ISCSI_RSVD_TAG)
			c->text_ttt = c->next_ttt++;
		put_be32(h + BHS_TTT, c->text_ttt);
	}
	const char *data = c->text_rsp ? c->text_rsp + c->text_rsp_off : "";
	r = send_status_pdu(c, h, data, len, SN_STATUS);
	c->text_rsp_off += len;
	if (last) {
		free(c->text_rsp);
		c->text_rsp = NULL;
	}
	return r < 0 ? -EIO : 0;
}

/* Wait until no task of this connection is queued or running. Tasks
 * still waiting for data are abandoned (the initiator is logging out),
 * and so is anything queued behind them. */
static void quiesce(struct iscsi_conn *c)
{
	pthread_mutex_lock(&c->lock);
	for (struct task *t = c->tasks, *next; t; t = next) {
		next = t->next_all;
		if (t->state == TASK_RECEIVING) {
			for (struct task *q = t, *qn; q; q = qn) {
				qn = q->next_q;
				task_abort_locked(c, q);
			}
			next = c->tasks; /* the list changed */
		}
	}
	for (;;) {
		bool busy = false;
		for (size_t i = 0; i < c->n_slots; i++) {
			struct lun_slot *s = &c->slots[i];
			busy |= s->qhead != NULL || s->running != NULL || s->tmf.pending ||
				s->tmf_answering;
		}
		if (!busy)
			break;
		pthread_cond_wait(&c->idle_cv, &c->lock);
	}
	pthread_mutex_unlock(&c->lock);
}

/* RFC 7143 11.14 / 11.15: Logout. Returns 1 when the connection ends. */
static int handle_logout(struct iscsi_conn *c, const uint8_t *bhs)
{
	uint8_t reason = bhs[BHS_FLAGS] & 0x7f;
	uint16_t cid = get_be16(bhs + LOGOUT_CID);
	if (discard_data(c, bhs) < 0)
		return -EIO;
	int acc = cmdsn_accept(c, bhs, true);
	if (acc <= 0)
		return acc;

	uint8_t rsp = LOGOUT_RSP_OK;
	if (reason == LOGOUT_REMOVE_FOR_RECOVERY)
		rsp = LOGOUT_RSP_RECOVERY_UNSUPPORTED;
	else if (reason == LOGOUT_CLOSE_CONNECTION && cid != c->cid)
		rsp = LOGOUT_RSP_CID_NOT_FOUND;
	else if (reason != LOGOUT_CLOSE_SESSION && reason != LOGOUT_CLOSE_CONNECTION)
		return send_reject(c, REJECT_INVALID_PDU_FIELD, bhs) < 0 ? -EIO : 0;

	if (rsp == LOGOUT_RSP_OK)
		quiesce(c); /* earlier commands finish and answer first */
	uint8_t h[ISCSI_BHS_LEN] = {OP_LOGOUT_RSP, BHS_FINAL, rsp};
	put_be32(h + BHS_ITT, get_be32(bhs + BHS_ITT));
	put_be16(h + LOGOUT_TIME2WAIT, (uint16_t)c->p.time2wait);
	put_be16(h + LOGOUT_TIME2RETAIN, (uint16_t)c->p.time2retain);
	send_status_pdu(c, h, NULL, 0, SN_STATUS);
	if (rsp != LOGOUT_RSP_OK)
		return 0;
	c->logged_out = true;
	return 1;
}

static void send_async_drop(struct iscsi_conn *c)
{
	/* 11.9.1 AsyncEvent 3: the target will drop all connections of the
	 * session; Parameter2/3 are Time2Wait and Time2Retain. */
	uint8_t h[ISCSI_BHS_LEN] = {OP_ASYNC_MSG, BHS_FINAL};
	put_be32(h + BHS_ITT, ISCSI_RSVD_TAG);
	h[ASYNC_EVENT] = ASYNC_DROP_ALL_CONNECTIONS;
	put_be16(h + ASYNC_PARAM2, (uint16_t)c->p.time2wait);
	put_be16(h + ASYNC_PARAM3, (uint16_t)c->p.time2retain);
	send_status_pdu(c, h, NULL, 0, SN_STATUS);
}

/* The full feature phase: one PDU at a time until logout or failure.
 * Returns RX_HANDED_OVER when the standby took the receiver role (the
 * phase goes on in the other thread), 0 when the phase ended. */
static int ffp_loop(struct iscsi_conn *c)
{
	const struct iscsi_server_config *cfg = &c->srv->cfg;
	uint8_t bhs[ISCSI_BHS_LEN];
	uint8_t *scratch = malloc(c->p.max_recv_dsl + 4);
	if (!scratch)
		return 0;
	int ret = 0;

	for (;;) {
		int timeout = -1;
		if (cfg->nop_interval_s) {
			uint64_t now = now_ms();
			uint64_t due = c->ping_out ? c->ping_deadline_ms
						   : c->last_rx_ms + cfg->nop_interval_s * 1000ull;
			uint64_t left = due > now ? due - now : 0;
			timeout = left > INT32_MAX ? INT32_MAX : (int)left;
		}
		int r = rx_pdu_header(c, bhs, timeout, c->hdigest);
		if (r == -ETIMEDOUT) {
			if (c->ping_out) {
				conn_log(c,
					 "no answer to NOP-In within %us, dropping the connection",
					 cfg->nop_timeout_s);
				break;
			}
			/* 11.19: a ping with a TTT asks the initiator for a
			 * NOP-Out carrying it back. */
			c->ping_ttt = c->next_ttt++;
			if (c->ping_ttt == ISCSI_RSVD_TAG)
				c->ping_ttt = c->next_ttt++;
			c->ping_out = true;
			c->ping_deadline_ms =
			    now_ms() + (cfg->nop_timeout_s ? cfg->nop_timeout_s : 1) * 1000ull;
			uint8_t zero[8] = {0};
			send_nop_in(c, zero, ISCSI_RSVD_TAG, c->ping_ttt, NULL, 0);
			continue;
		}
		if (r == -EBADMSG) {
			conn_log(c, "header digest error, ending the session");
			break;
		}
		if (r == -EMSGSIZE) {
			/* 13.12: never more than we declared. */
			conn_log(c, "data segment of %u bytes exceeds %u", bhs_dsl(bhs),
				 c->p.max_recv_dsl);
			send_reject(c, REJECT_PROTOCOL_ERROR, bhs);
			break;
		}
		if (r < 0) {
			/* Both are written under srv->lock by other threads. */
			pthread_mutex_lock(&c->srv->lock);
			bool stopping = c->srv->stopping && !c->reinstated;
			pthread_mutex_unlock(&c->srv->lock);
			if (stopping)
				send_async_drop(c);
			break;
		}
		c->last_rx_ms = now_ms();
		c->ping_out = false;

		switch (bhs_opcode(bhs)) {
		case OP_NOP_OUT:
			r = handle_nop_out(c, bhs, scratch);
			break;
		case OP_SCSI_CMD:
			r = handle_scsi_cmd(c, bhs);
			break;
		case OP_DATA_OUT:
			r = handle_data_out(c, bhs);
			break;
		case OP_TMF_REQ:
			r = handle_tmf(c, bhs);
			break;
		case OP_TEXT_REQ:
			r = handle_text(c, bhs, scratch);
			break;
		case OP_LOGOUT_REQ:
			r = handle_logout(c, bhs);
			break;
		case OP_SNACK_REQ: /* ERL 0 has no SNACK (7.1.5) */
		case OP_LOGIN_REQ: /* no login in the full feature phase */
			r = discard_data(c, bhs);
			if (r == 0)
				r = send_reject(c, REJECT_PROTOCOL_ERROR, bhs);
			break;
		default:
			r = discard_data(c, bhs);
			if (r == 0)
				r = send_reject(c, REJECT_CMD_NOT_SUPPORTED, bhs);
			break;
		}
		if (r == RX_HANDED_OVER) {
			ret = RX_HANDED_OVER;
			break;
		}
		if (r != 0) {
			if (r < 0 && r != -ECONNRESET)
				conn_log(c, "ending the session: %s", strerror(-r));
			break;
		}
	}
	free(scratch);
	return ret;
}

/* ------------------------------------------------ the standby thread */

static void timespec_add_ms(struct timespec *ts, long ms)
{
	ts->tv_nsec += ms * 1000000L;
	while (ts->tv_nsec >= 1000000000L) {
		ts->tv_nsec -= 1000000000L;
		ts->tv_sec++;
	}
}

/*
 * The thread that does not hold the receiver role waits here. While
 * commands run on the fast path it looks every STANDBY_TICK_MS; when the
 * same command is still running at two looks in a row (it ran at least
 * one whole tick), it takes the receiver role and returns true. After a
 * tick in which no command ran on the fast path it sleeps until the next
 * one starts (fast_path_run wakes it), so a connection with nothing to do
 * costs nothing and a stream of short commands one wake-up per tick.
 * Returns false when the full feature phase is over.
 */
static bool standby(struct iscsi_conn *c)
{
	pthread_mutex_lock(&c->lock);
	c->standby_free = true;
	uint64_t seq = c->inline_seq;
	bool busy = c->inline_busy;
	bool sleep_now = !busy;
	struct timespec due;
	bool took = false;
	for (;;) {
		if (c->ffp_over)
			break;
		if (sleep_now) {
			c->standby_asleep = true;
			while (c->standby_asleep && !c->ffp_over)
				pthread_cond_wait(&c->standby_cv, &c->lock);
			sleep_now = false;
			seq = c->inline_seq;
			busy = c->inline_busy;
			clock_gettime(CLOCK_MONOTONIC, &due);
			timespec_add_ms(&due, STANDBY_TICK_MS);
			continue;
		}
		int w = pthread_cond_timedwait(&c->standby_cv, &c->lock, &due);
		if (w != ETIMEDOUT)
			continue; /* ffp_end(), or spurious */
		if (c->inline_busy && busy && c->inline_seq == seq) {
			c->inline_orphaned = true;
			took = true;
			break;
		}
		/* Sleep only after a whole tick with nothing on the fast path:
		 * deciding at every wake-up would cost one per command. */
		sleep_now = !c->inline_busy && c->inline_seq == seq;
		seq = c->inline_seq;
		busy = c->inline_busy;
		clock_gettime(CLOCK_MONOTONIC, &due);
		timespec_add_ms(&due, STANDBY_TICK_MS);
	}
	c->standby_free = false;
	c->standby_asleep = false;
	pthread_mutex_unlock(&c->lock);
	return took;
}

/* The full feature phase ends: the other thread leaves standby. */
static void ffp_end(struct iscsi_conn *c)
{
	pthread_mutex_lock(&c->lock);
	c->ffp_over = true;
	pthread_cond_broadcast(&c->standby_cv);
	pthread_mutex_unlock(&c->lock);
}

static void *standby_thread(void *arg)
{
	struct iscsi_conn *c = arg;
	while (standby(c)) {
		if (ffp_loop(c) != RX_HANDED_OVER) {
			ffp_end(c);
			break;
		}
	}
	return NULL;
}

/* Run the full feature phase on conn_thread (and the standby thread). */
static void ffp_run(struct iscsi_conn *c)
{
	c->last_rx_ms = now_ms();
	/* Reads of a PDU header block from here on (rx_wait_read); every
	 * other read and send passes MSG_DONTWAIT and waits in poll() with
	 * its own limit, as before. Left non-blocking if fcntl fails. */
	int fl = fcntl(c->fd, F_GETFL);
	if (fl >= 0 && fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK) == 0)
		c->rx_blocking = true;
	if (c->fast_path && pthread_create(&c->standby_thread, NULL, standby_thread, c) != 0) {
		conn_log(c, "cannot start a standby thread: commands go to the LUN workers");
		c->fast_path = false;
	}
	while (ffp_loop(c) == RX_HANDED_OVER)
		if (!standby(c))
			break;
	ffp_end(c);
	if (c->fast_path) {
		/* The standby may be finishing a long command of its own;
		 * teardown waits for it as it waits for the workers. A send
		 * stuck on a peer that went away fails at once. */
		shutdown(c->fd, SHUT_RDWR);
		pthread_join(c->standby_thread, NULL);
	}
}

static void conn_teardown(struct iscsi_conn *c)
{
	pthread_mutex_lock(&c->lock);
	c->dead = true;
	c->stop_workers = true;
	for (size_t i = 0; i < c->n_slots; i++)
		pthread_cond_broadcast(&c->slots[i].cv);
	pthread_mutex_unlock(&c->lock);
	/* Unblock a worker stuck sending to a peer that went away. */
	shutdown(c->fd, SHUT_RDWR);
	for (size_t i = 0; i < c->n_slots; i++)
		if (c->slots[i].started)
			pthread_join(c->slots[i].thread, NULL);

	pthread_mutex_lock(&c->lock);
	while (c->tasks) {
		struct task *t = c->tasks;
		if (t->slot)
			slot_unlink(t->slot, t);
		task_free_locked(c, t);
	}
	pthread_mutex_unlock(&c->lock);

	/* SAM-5 6.3.4: the I_T nexus is gone for every LU it reached. */
	if (c->state == CONN_FFP && !c->discovery) {
		for (size_t i = 0; i < c->n_slots; i++) {
			struct scsi_dev *dev = c->slots[i].dev;
			pthread_mutex_lock(&dev->lock);
			spc_nexus_gone(dev, c->nexus);
			pthread_mutex_unlock(&dev->lock);
		}
	}
}

static int ffp_setup(struct iscsi_conn *c)
{
	/* Digests take effect after the final Login Response (13.1). */
	c->hdigest = c->p.header_digest;
	c->ddigest = c->p.data_digest;
	c->depth = c->srv->cfg.queue_depth;
	if (c->discovery)
		return 0;
	const struct iscsi_target *t = c->tgt;
	c->inline_exec = t->n_luns == 1;
	c->fast_path = t->n_luns > 1;
	c->slots = calloc(t->n_luns ? t->n_luns : 1, sizeof(*c->slots));
	if (!c->slots)
		return -ENOMEM;
	c->n_slots = t->n_luns;
	for (size_t i = 0; i < t->n_luns; i++) {
		struct lun_slot *s = &c->slots[i];
		s->lun = t->luns[i].lun;
		s->dev = t->luns[i].dev;
		s->conn = c;
		pthread_cond_init(&s->cv, NULL);
	}
	return 0;
}

void *conn_thread(void *arg)
{
	struct iscsi_conn *c = arg;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* standby()'s ticks */
	pthread_cond_init(&c->standby_cv, &ca);
	pthread_condattr_destroy(&ca);
	c->rbuf = malloc(RBUF_SIZE);
	if (c->rbuf && iscsi_login(c) == 0 && ffp_setup(c) == 0) {
		conn_log(c, "%s session started (TSIH %u)",
			 c->discovery ? "discovery" : c->tgt->cfg.iqn, c->tsih);
		ffp_run(c);
		conn_log(c, "session ended%s", c->logged_out ? " by logout" : "");
	}
	conn_teardown(c);
	for (size_t i = 0; i < c->n_slots; i++) {
		pthread_cond_destroy(&c->slots[i].cv);
		free(c->slots[i].inbuf);
	}
	free(c->slots);
	pthread_cond_destroy(&c->standby_cv);
	free(c->rbuf);
	free(c->inbuf);
	free(c->text_rsp);
	srv_conn_gone(c); /* closes fd, unlinks and frees c */
	return NULL;
}
