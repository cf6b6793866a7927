/*
 * internal.h - the iSCSI target's private model, shared by server.c
 * (listener, targets, session table), admit.c (which connections the portal
 * keeps), login.c (login phase) and conn.c (I/O and the full feature phase).
 *
 * Threading (docs/iscsi.md):
 *   - one acceptor thread per server;
 *   - one receiver thread per connection: it reads every PDU, runs the
 *     login, answers NOP/Text/TMF/Logout, places Data-Out straight into the
 *     task's buffer and issues R2Ts;
 *   - one worker thread per (session, LUN), created on the LUN's first
 *     command: it runs that LUN's commands in order through spc_dispatch()
 *     and sends their Data-In and status. A slow tape command therefore
 *     blocks neither the changer nor another drive, in this session or any
 *     other. A target with a single LUN runs commands on the receiver
 *     thread instead (no hand-off), which is the per-device-target layout;
 *   - with several LUNs, a second connection thread, the standby: while
 *     it is free, the receiver runs a command whose LUN is idle itself
 *     (the fast path, no hand-off); a command that runs on past a tick
 *     (STANDBY_TICK_MS in conn.c) loses the receiver role to the standby,
 *     which goes on reading, so that other LUNs never wait behind it.
 *
 * Sessions have exactly one connection (MaxConnections=1), so the session
 * state lives in struct iscsi_conn.
 *
 * Locks: conn->send_lock serialises whole PDUs (and sequences of Data-In)
 * on the socket and owns StatSN; conn->lock guards tasks, LUN queues and
 * the CmdSN window. Order: send_lock before lock; srv->lock is never held
 * while taking either, except by iscsi_server_stop / reinstatement /
 * eviction, which only call shutdown() on sockets.
 */
#ifndef VTL_ISCSI_INTERNAL_H
#define VTL_ISCSI_INTERNAL_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "iscsi.h"
#include "pdu.h"
#include "text.h"

struct scsi_dev;

struct iscsi_target {
	struct iscsi_target_config cfg; /* luns and allow point at the copies below */
	struct iscsi_lun *luns;
	size_t n_luns;
	char **allow;
	size_t n_allow;
};

/* Which limit a connection counts against (srv->lock; admit.c). */
enum conn_budget {
	BUDGET_NONE,	/* evicted, refused or on its way out: only n_conns */
	BUDGET_LOGIN,	/* accepted, login not complete */
	BUDGET_SESSION, /* logged in, normal or discovery session */
};

enum conn_state {
	CONN_LOGIN,
	CONN_FFP,
	CONN_CLOSING,
};

enum task_state {
	TASK_RECEIVING, /* waiting for Data-Out */
	TASK_READY,	/* data complete, waiting its turn in the LUN queue */
	TASK_RUNNING,	/* in spc_dispatch on a worker */
};

#define MAX_R2T 16

struct r2t {
	uint32_t ttt, offset, len, datasn;
};

struct lun_slot;

struct task {
	struct task *next_all; /* conn->tasks */
	struct task *next_q;   /* lun_slot queue */
	enum task_state state;
	bool immediate;
	uint32_t itt, cmdsn;
	uint64_t lun;
	struct lun_slot *slot; /* NULL: LUN not mapped */
	uint8_t cdb[16];
	uint8_t flags; /* SCSI Command byte 1 */
	uint32_t edtl;
	uint32_t write_len; /* expected data-out: edtl when W, else 0 */
	uint32_t read_len;  /* expected data-in: edtl when R, else 0 */
	uint8_t *buf;	    /* data-out, write_len bytes */
	size_t buf_cap;
	uint32_t received; /* data-out bytes received, in order */
	bool unsol_done;   /* the unsolicited burst ended (F bit) */
	uint32_t unsol_datasn;
	uint32_t solicit_off; /* next offset to request with an R2T */
	struct r2t r2t[MAX_R2T];
	uint32_t n_r2t; /* outstanding, oldest first */
	uint32_t r2tsn;
	uint32_t datasn; /* Data-In and R2T numbering (ExpDataSN) */
};

/* A TMF whose response waits for the running task of a LUN. */
struct tmf_wait {
	bool pending;
	uint8_t function;
	uint32_t itt;
	uint8_t response;
	bool lun_reset; /* run spc_lun_reset before responding */
};

struct lun_slot {
	uint64_t lun;
	struct scsi_dev *dev;
	struct iscsi_conn *conn;
	pthread_t thread;
	bool started;
	pthread_cond_t cv;
	struct task *qhead, *qtail;
	struct task *running;
	struct tmf_wait tmf;
	bool tmf_answering; /* its response being sent (c->lock released) */
	uint8_t *inbuf;	    /* worker's data-in buffer */
	size_t inbuf_cap;
};

struct iscsi_conn {
	struct iscsi_conn *next, *prev; /* srv->conns */
	struct iscsi_server *srv;
	int fd;
	struct sockaddr_storage local;
	char portal[INET6_ADDRSTRLEN + 16]; /* "addr:port,tpgt" for SendTargets */
	bool portal_loopback;		    /* reached on a loopback address: no TargetAddress */
	char peer[INET6_ADDRSTRLEN + 8];

	/* Admission (srv->lock; admit.c). */
	enum conn_budget budget;
	struct in6_addr source; /* the peer: IPv4 as mapped, IPv6 cut to its /64 */
	uint64_t seq;		/* order of admission: lower is older */
	bool spoke;		/* a complete PDU header has arrived */
	/* Set before the receiver starts; then the receiver's. */
	uint64_t accepted_ms;
	/* During login no wait on the socket goes past this; 0: no bound. */
	uint64_t io_deadline_ms;

	/* Receive side (receiver thread only). */
	uint8_t *rbuf;
	size_t rpos, rlen;
	/* Full feature phase: the socket blocks (O_NONBLOCK off; every other
	 * read and send passes MSG_DONTWAIT) and the wait for a PDU header is
	 * the read itself, bounded by SO_RCVTIMEO, last set to rcvtimeo_ms
	 * (0: no bound). */
	bool rx_blocking;
	int rcvtimeo_ms;
	uint8_t ahs[1024];
	uint32_t ahs_len;
	uint64_t last_rx_ms;
	bool ping_out;
	uint64_t ping_deadline_ms;
	uint32_t ping_ttt;

	/* Send side. */
	pthread_mutex_t send_lock;
	uint32_t stat_sn;
	bool send_failed;

	enum conn_state state;
	bool discovery;
	const struct iscsi_target *tgt;
	char initiator[224];
	uint8_t isid[6];
	uint16_t tsih, cid;
	uint64_t nexus;		    /* hash of port_name and the TPGT, never 0 */
	char port_name[224 + 20];   /* SPC-4 7.6.4.6: "InitiatorName,i,0x<ISID>" */
	char target_port[224 + 12]; /* SPC-4 7.8.6.11: "TargetName,t,0x<TPGT>" */
	struct iscsi_params p;	    /* negotiated */
	struct iscsi_params ours;   /* our limits */
	bool hdigest, ddigest;	    /* in force (full feature phase) */
	bool inline_exec;

	/* The fast path (conn.c, "Commands run where they arrive"), under
	 * `lock`. Two threads share the connection: the one holding the
	 * receiver role reads the socket, the other waits as the standby. */
	bool fast_path;		  /* the standby thread exists */
	pthread_t standby_thread; /* the second thread; conn_thread joins it */
	pthread_cond_t standby_cv;
	bool standby_free;    /* the non-receiver thread waits in standby() */
	bool standby_asleep;  /* ... with no timeout: wake it at the next inline run */
	bool inline_busy;     /* a command runs on the fast path */
	uint64_t inline_seq;  /* fast-path commands started so far */
	bool inline_orphaned; /* the standby took the role from the command's thread */
	bool ffp_over;	      /* the full feature phase ended: both threads stop */

	/* Session state under `lock`. */
	pthread_mutex_t lock;
	pthread_cond_t idle_cv; /* a task finished */
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn; /* only ever increases (RFC 7143 4.2.2.1) */
	uint32_t in_flight; /* non-immediate commands not yet answered */
	uint32_t n_immediate;
	uint32_t depth;
	struct task *tasks;
	struct lun_slot *slots;
	size_t n_slots;
	bool dead; /* workers drop queued tasks */
	bool stop_workers;
	uint64_t buffered; /* data-out bytes allocated to live tasks */
	/* ABORT TASK that overtook its command (RFC 7143 11.5.1 b): the
	 * command is taken as received and dropped when it arrives. */
	struct {
		bool valid;
		uint32_t itt, cmdsn;
	} preabort[8];
	uint32_t next_ttt;

	/* Text Response continuation (RFC 7143 11.11). */
	char *text_rsp;
	size_t text_rsp_len, text_rsp_off;
	uint32_t text_itt, text_ttt;

	/* Receiver-side data-in buffer for transport-answered commands. */
	uint8_t *inbuf;
	size_t inbuf_cap;

	bool registered; /* in the session table (srv->lock) */
	bool reinstated; /* a newer login replaced this session */
	bool logged_out;
};

struct iscsi_server {
	struct iscsi_server_config cfg;
	pthread_mutex_t lock;
	pthread_cond_t cv; /* a connection went away */
	struct iscsi_target **targets;
	size_t n_targets;
	int listen_fd;
	int wake[2];
	uint16_t port;
	pthread_t acceptor;
	bool started, stopping;
	struct iscsi_conn *conns;
	size_t n_conns;
	uint16_t next_tsih;
	int spare_fd; /* given up to accept() and close a connection at EMFILE */

	/* Admission (under lock; admit.c). */
	size_t n_login, n_sessions; /* connections in each budget */
	uint64_t next_seq;
	struct iscsi_conn **by_source; /* max_login_conns entries, for sorting */
	struct {
		uint64_t evicted, refused, expired, no_fd;
		uint64_t next_report_ms;
	} shed; /* connections closed before a login, for the next log line */
};

/* server.c */
const struct iscsi_target *srv_find_target(struct iscsi_server *srv, const char *iqn);
bool srv_target_allows(const struct iscsi_target *t, const char *initiator);
/* The login succeeded: move c to the session budget (-EBUSY when
 * max_sessions are logged in, -ECONNRESET when c was evicted) and register
 * a normal session, ending an older session with the same initiator, ISID
 * and target first (RFC 7143 6.3.5 reinstatement). */
int srv_session_begin(struct iscsi_conn *c);
/* A logged-in normal session has c's initiator, ISID, target and TSIH. */
bool srv_session_live(struct iscsi_server *srv, const struct iscsi_conn *c);
void srv_cold_reset(struct iscsi_server *srv, const struct iscsi_target *tgt,
		    struct iscsi_conn *except);
uint64_t now_ms(void);
/* One line to the configured log, for what belongs to no connection. */
void srv_log(struct iscsi_server *srv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The connection thread is done: close, unlink and free c. */
void srv_conn_gone(struct iscsi_conn *c);

/* admit.c. The portal's budgets: connections still in login, per source
 * address and in all, apart from logged-in sessions. */
int admit_init(struct iscsi_server *srv);
void admit_fini(struct iscsi_server *srv);
/* Under srv->lock: count c, a new connection from peer, in the login
 * budget, evicting an idle connection to make room; -EBUSY: refuse c. */
int admit_conn(struct iscsi_server *srv, struct iscsi_conn *c, const struct sockaddr_storage *peer);
/* Under srv->lock: evict the oldest idle connection of the most crowded
 * source, if any is idle. */
bool admit_evict_idle(struct iscsi_server *srv);
/* Under srv->lock: the login succeeded (see srv_session_begin). */
int admit_session(struct iscsi_conn *c);
/* Under srv->lock: c leaves its budget. */
void admit_release(struct iscsi_conn *c);
/* c's first complete PDU header arrived: it is no longer idle.
 * -ECONNRESET when it was evicted already. */
int admit_spoke(struct iscsi_conn *c);
/* c sent no complete PDU header before its deadline. */
void admit_expired(struct iscsi_conn *c);
/* Log what was shed since the last line: at most every few seconds, or
 * now (force: the server stops). */
void admit_report(struct iscsi_server *srv, bool force);

/* login.c: run the login phase; 0 when the full feature phase begins. */
int iscsi_login(struct iscsi_conn *c);

/* conn.c */
void *conn_thread(void *arg);
int rx_pdu_header(struct iscsi_conn *c, uint8_t *bhs, int timeout_ms, bool digest);
int rx_data(struct iscsi_conn *c, uint8_t *dst, uint32_t len, bool digest);
int tx_pdu(struct iscsi_conn *c, uint8_t *bhs, const void *data, uint32_t len);
void conn_log(struct iscsi_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
